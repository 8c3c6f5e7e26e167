// Specification of the process-wide device cap: shards share it, devices on probation make room first (the one created first, in any shard), then the least recently seen.
import { describe, expect, it } from 'vitest'
import { DeviceBudget } from '../../../src/engine/budget.ts'
import { Engine } from '../../../src/engine/engine.ts'
import type { EngineOptions, WindowSink } from '../../../src/engine/engine.ts'
import type { Detector } from '../../../src/engine/detector.ts'
import { at, egress, MIN } from '../../helpers/events.ts'

const none: Detector<null> = { init: () => null, observeEgress: () => undefined, evaluate: () => null, snapshot: () => null, restore: () => null }

const options: EngineOptions = {
  windowMs: MIN, allowedLatenessMs: 30_000, idleFlushMs: 5 * MIN, deviceTtlMs: 600 * MIN, maxDevices: 1_000, quietWindows: 3, probationMs: 10 * MIN,
}

/** Engines sharing one budget of `max` devices, and the ids each evicted, in order. */
const shards = (count: number, max: number) => {
  const budget = new DeviceBudget(max)
  const evicted: string[] = []
  const sink: WindowSink = { onWindow: () => undefined, onQuiet: () => undefined, onEvict: (d) => void evicted.push(d.id) }
  const engines = Array.from({ length: count }, () => new Engine([{ id: 'none', detector: none }], { ...options, budget }, sink))
  return { budget, evicted, engines }
}

/** Two events 20 minutes apart, from minute `start`: past probation. (A shard's clock only moves on: later devices start later.) */
const learn = (engine: Engine, deviceId: string, start = 0): void => {
  engine.ingest(egress({ deviceId, ts: at(start) }))
  engine.ingest(egress({ deviceId, ts: at(start + 20) }))
}

describe('the device budget', () => {
  it('bounds the devices of every shard together, not of each', () => {
    const { budget, engines, evicted } = shards(2, 3)
    learn(engines[0]!, 'a')
    learn(engines[1]!, 'b')
    learn(engines[0]!, 'c', 20)
    learn(engines[1]!, 'd', 20)
    expect(budget.total).toBe(3)
    expect(engines[0]!.deviceCount + engines[1]!.deviceCount).toBe(3)
    // None is on probation: the shard that needed room gave its least recently seen.
    expect(evicted).toEqual(['b'])
    expect(engines[1]!.counters.evictedLearned).toBe(1)
  })

  it('lets a flood of new ids evict its own kind, never devices with learned state', () => {
    const { engines, evicted } = shards(2, 6)
    for (const id of ['a', 'b', 'c', 'd']) learn(engines[id < 'c' ? 0 : 1]!, id, id === 'b' || id === 'd' ? 20 : 0)
    for (let i = 0; i < 500; i++) engines[i % 2]!.ingest(egress({ deviceId: `flood-${i}`, ts: at(41) }))
    expect(evicted.filter((id) => !id.startsWith('flood-'))).toEqual([])
    expect(evicted).toHaveLength(498)
    const counters = engines.map((e) => e.counters)
    expect(counters.reduce((n, c) => n + c.evictedNew, 0)).toBe(498)
    expect(counters.reduce((n, c) => n + c.evictedLearned, 0)).toBe(0)
  })

  it('evicts the device on probation created first, whichever shard holds it', () => {
    const { engines, evicted } = shards(2, 3)
    engines[0]!.ingest(egress({ deviceId: 'old-new', ts: at(0) }))
    engines[1]!.ingest(egress({ deviceId: 'young-1', ts: at(1) }))
    engines[1]!.ingest(egress({ deviceId: 'young-2', ts: at(1) }))
    engines[1]!.ingest(egress({ deviceId: 'young-3', ts: at(1) }))
    expect(evicted).toEqual(['old-new'])
  })

  it('admits a device once seen over the probation time: it then goes only after every device on probation', () => {
    const { engines, evicted } = shards(1, 2)
    const e = engines[0]!
    e.ingest(egress({ deviceId: 'settled', ts: at(0) }))
    e.ingest(egress({ deviceId: 'settled', ts: at(10) }))
    e.ingest(egress({ deviceId: 'newcomer', ts: at(10) }))
    e.ingest(egress({ deviceId: 'another', ts: at(10) }))
    expect(evicted).toEqual(['newcomer'])
  })

  it('falls back to the least recently seen device when none is on probation', () => {
    const { engines, evicted } = shards(1, 2)
    learn(engines[0]!, 'a')
    learn(engines[0]!, 'b', 20)
    engines[0]!.ingest(egress({ deviceId: 'c', ts: at(41) }))
    expect(evicted).toEqual(['a'])
  })

  it('does not count what a dropped shard takes while it finishes its batch, nor let it evict', () => {
    const { budget, engines, evicted } = shards(2, 3)
    learn(engines[0]!, 'a')
    engines[1]!.release()
    for (let i = 0; i < 50; i++) engines[1]!.ingest(egress({ deviceId: `late-${i}`, ts: at(21) }))
    expect(budget.total).toBe(1)
    expect(evicted).toEqual([])
  })

  it('keeps no more than twice the devices on probation in its queue when a flood comes at one instant (no sweep)', () => {
    const { engines } = shards(1, 10)
    for (let i = 0; i < 100_000; i++) engines[0]!.ingest(egress({ deviceId: `flood-${i}`, ts: at(0) }))
    // The queue is private: its length is what holds evicted devices in memory.
    const queue = (engines[0] as unknown as { newDevices: unknown[] }).newDevices
    expect(engines[0]!.deviceCount).toBe(10)
    expect(queue.length).toBeLessThanOrEqual(2 * 1024 + 20)
  })

  it('gives back a dropped shard\'s devices', () => {
    const { budget, engines } = shards(2, 10)
    learn(engines[0]!, 'a')
    learn(engines[1]!, 'b')
    engines[1]!.release()
    expect(budget.total).toBe(1)
  })
})
