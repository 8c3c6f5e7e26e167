import { describe, expect, it } from 'vitest'
import { Engine } from '../../../src/engine/engine.ts'
import { FleetView, shardFleet } from '../../../src/engine/fleet.ts'
import type { EngineOptions, WindowSink } from '../../../src/engine/engine.ts'
import type { Detector } from '../../../src/engine/detector.ts'
import type { DeviceRecord } from '../../../src/engine/device.ts'
import type { Finding } from '../../../src/types.ts'
import { at, egress, MIN } from '../../helpers/events.ts'

/** Counts events per window and reports every window with events as a finding carrying the count. */
const counter: Detector<Map<number, number>> = {
  init: () => new Map(),
  observeEgress: (s, e) => void s.set(Math.floor(e.ts / MIN), (s.get(Math.floor(e.ts / MIN)) ?? 0) + 1),
  evaluate: (s, w): Finding | null =>
    s.has(w) ? { severity: 'low', score: 0.5, summary: '', evidence: { n: s.get(w)! }, destinations: [] } : null,
  snapshot: (s) => [...s],
  restore: (d) => new Map(d as [number, number][]),
}

const options: EngineOptions = {
  windowMs: MIN, allowedLatenessMs: 30_000, idleFlushMs: 5 * MIN, deviceTtlMs: 60 * MIN, maxDevices: 100, quietWindows: 3,
}

/** Records what the engine tells the alert stage, as readable strings. */
const recorder = () => {
  const log: string[] = []
  const sink: WindowSink = {
    onWindow: (d: DeviceRecord, _i, w, f) => void log.push(`${d.id} w${w - Math.floor(at(0) / MIN)} ${f === null ? '-' : f.evidence.n}`),
    onQuiet: (d, n) => void log.push(`${d.id} quiet ${n}`),
    onEvict: (d) => void log.push(`${d.id} evicted`),
  }
  return { log, sink }
}

describe('Engine', () => {
  it('evaluates a window once the device is past its end plus the allowed lateness', () => {
    const { log, sink } = recorder()
    const engine = new Engine([{ id: 'c', detector: counter }], options, sink)
    engine.ingest(egress({ ts: at(0.1) }))
    engine.ingest(egress({ ts: at(0.9) }))
    engine.ingest(egress({ ts: at(1.2) }))
    expect(log).toEqual([])
    engine.ingest(egress({ ts: at(1.6) }))
    expect(log).toEqual(['dev-1 w0 2'])
  })

  it('counts an event inside the lateness in its own window and drops one behind it', () => {
    const { log, sink } = recorder()
    const engine = new Engine([{ id: 'c', detector: counter }], options, sink)
    engine.ingest(egress({ ts: at(0.5) }))
    engine.ingest(egress({ ts: at(1.4) }))
    expect(engine.ingest(egress({ ts: at(0.95) }))).toBe(true)
    engine.ingest(egress({ ts: at(1.6) }))
    expect(engine.ingest(egress({ ts: at(0.99) }))).toBe(false)
    expect(engine.counters.late).toBe(1)
    expect(log).toEqual(['dev-1 w0 2'])
  })

  it('passes long silences in bulk as quiet windows after a few evaluated ones', () => {
    const { log, sink } = recorder()
    const engine = new Engine([{ id: 'c', detector: counter }], options, sink)
    engine.ingest(egress({ ts: at(0) }))
    engine.ingest(egress({ ts: at(20) }))
    // The quiet windows of the first epoch pass as its end closes every window before it (minute 10), the rest as the device's next event closes them.
    expect(log).toEqual(['dev-1 w0 1', 'dev-1 w1 -', 'dev-1 w2 -', 'dev-1 w3 -', 'dev-1 quiet 6', 'dev-1 quiet 9'])
  })

  it('closes the windows of a device that went silent when the fleet moves on', () => {
    const { log, sink } = recorder()
    const engine = new Engine([{ id: 'c', detector: counter }], options, sink)
    engine.ingest(egress({ deviceId: 'quiet', ts: at(0.5) }))
    for (let m = 1; m <= 7; m++) engine.ingest(egress({ deviceId: 'busy', ts: at(m) }))
    expect(log.filter((l) => l.startsWith('quiet'))).toEqual(['quiet w0 1'])
  })

  it('closes the windows of every quiet device, whatever busy devices stand before it in the device map', () => {
    const { log, sink } = recorder()
    const engine = new Engine([{ id: 'c', detector: counter }], { ...options, maxDevices: 1000 }, sink)
    // A crowd of devices makes the map big enough that the LRU touch leaves `first` and `busy` where they are.
    for (let i = 0; i < 100; i++) engine.ingest(egress({ deviceId: `crowd-${i}`, ts: at(0.4) }))
    engine.ingest(egress({ deviceId: 'first', ts: at(0.5) }))
    for (let m = 1; m <= 6; m++) {
      engine.ingest(egress({ deviceId: 'busy', ts: at(m) }))
      if (m === 3) engine.ingest(egress({ deviceId: 'second', ts: at(3.5) }))
    }
    expect(log.filter((l) => l.startsWith('first') || l.startsWith('second'))).toEqual(['first w0 1']) // idle 5 min: closed
    engine.ingest(egress({ deviceId: 'first', ts: at(6.2) })) // back from quiet, still first in the map
    for (let m = 7; m <= 9; m++) engine.ingest(egress({ deviceId: 'busy', ts: at(m) }))
    expect(log.filter((l) => l.startsWith('second'))).toEqual(['second w3 1'])
  })

  it('reports as changed every device whose state moved since the last takeChanges: its events, its windows closed by the fleet, its eviction', () => {
    const engine = new Engine([{ id: 'c', detector: counter }], { ...options, trackChanges: true }, recorder().sink)
    engine.ingest(egress({ deviceId: 'quiet', ts: at(0.5) }))
    engine.ingest(egress({ deviceId: 'busy', ts: at(1) }))
    expect(engine.takeChanges().devices.map((d) => d.id).sort()).toEqual(['busy', 'quiet'])
    for (let m = 2; m <= 7; m++) engine.ingest(egress({ deviceId: 'busy', ts: at(m) }))
    // quiet sent nothing, but the fleet's time closed its windows: its snapshot changed.
    const changes = engine.takeChanges()
    expect(changes.devices.map((d) => [d.id, d.pending])).toEqual([['busy', true], ['quiet', false]])
    expect(changes.evicted).toEqual([])
    engine.ingest(egress({ deviceId: 'busy', ts: at(70) })) // past the 60-minute TTL of quiet
    expect(engine.takeChanges()).toMatchObject({ devices: [{ id: 'busy' }], evicted: ['quiet'] })
    expect(engine.takeChanges()).toMatchObject({ devices: [], evicted: [] })
  })

  it('closes every open window at the end of input', () => {
    const { log, sink } = recorder()
    const engine = new Engine([{ id: 'c', detector: counter }], options, sink)
    engine.ingest(egress({ ts: at(0.5) }))
    engine.ingest(egress({ ts: at(2.5) }))
    engine.flush()
    expect(log).toEqual(['dev-1 w0 1', 'dev-1 w1 -', 'dev-1 w2 1'])
  })

  it('evicts devices silent longer than the TTL and beyond the device cap', () => {
    const { log, sink } = recorder()
    const engine = new Engine([{ id: 'c', detector: counter }], { ...options, maxDevices: 2 }, sink)
    engine.ingest(egress({ deviceId: 'a', ts: at(0) }))
    engine.ingest(egress({ deviceId: 'b', ts: at(0) }))
    engine.ingest(egress({ deviceId: 'c', ts: at(0) }))
    expect(engine.deviceCount).toBe(2)
    expect(engine.counters.evictedLearned).toBe(1)
    expect(log.at(-1)).toBe('a evicted')
    engine.ingest(egress({ deviceId: 'c', ts: at(61) }))
    // b silent past its TTL goes at the sweep; c, silent as long, is forgotten by its own event and starts afresh.
    expect(log).toContain('b evicted')
    expect(log).toContain('c evicted')
    expect(engine.counters.evictedTtl).toBe(2)
    expect(engine.deviceCount).toBe(1)
  })

  it('gives each evicted device\'s state to its detector\'s forget once, after its last windows, and never passes that state in again', () => {
    const calls: string[] = []
    let made = 0
    /** A state per device, numbered in the order made; every call says which state it was handed. */
    const tracked: Detector<number> = {
      init: () => ++made,
      observeEgress: (s) => void calls.push(`observe ${s}`),
      evaluate: (s) => (calls.push(`evaluate ${s}`), null),
      snapshot: (s) => s,
      restore: (d) => d as number,
      forget: (s) => void calls.push(`forget ${s}`),
    }
    const engine = new Engine([{ id: 't', detector: tracked }], { ...options, maxDevices: 2 }, recorder().sink)
    engine.ingest(egress({ deviceId: 'a', ts: at(0) }))
    engine.ingest(egress({ deviceId: 'b', ts: at(0) }))
    // Over the cap: a goes, its open window evaluated first.
    engine.ingest(egress({ deviceId: 'c', ts: at(0) }))
    expect(calls).toEqual(['observe 1', 'observe 2', 'evaluate 1', 'forget 1', 'observe 3'])
    calls.length = 0
    // Past the TTL: b at the sweep, c by its own event, which starts it afresh with a new state.
    engine.ingest(egress({ deviceId: 'c', ts: at(61) }))
    expect(calls.filter((c) => c.startsWith('forget')).sort()).toEqual(['forget 2', 'forget 3'])
    expect(calls.at(-1)).toBe('observe 4')
    const forgotten = new Set(calls.filter((c) => c.startsWith('forget')).map((c) => c.split(' ')[1]))
    const after = calls.slice(calls.findIndex((c) => c.startsWith('forget')) + 1)
    expect(after.filter((c) => !c.startsWith('forget') && forgotten.has(c.split(' ')[1]!))).toEqual([])
    engine.flush()
    expect(calls.at(-1)).toBe('evaluate 4')
  })

  it('takes model and firmware from events and records a firmware change', () => {
    const seen: string[] = []
    const probe: Detector<null> = {
      init: () => null,
      observeEgress: (_s, _e, d) => void seen.push(`${d.model}/${d.firmware}/${d.firmwareChangedAt === -Infinity ? '-' : d.firmwareChangedAt}`),
      evaluate: () => null,
      snapshot: () => null,
      restore: () => null,
    }
    const engine = new Engine([{ id: 'p', detector: probe }], options, recorder().sink)
    engine.ingest(egress({ ts: at(0), model: 'cam', firmware: '1.0' }))
    engine.ingest(egress({ ts: at(1), model: undefined, firmware: '2.0' }))
    expect(seen).toEqual(['cam/1.0/-', `cam/2.0/${at(1)}`])
  })

  it("closes every device's windows before an epoch once the shard's clock passes its end by the lateness: that epoch's events are late from then on, for any device", () => {
    const { log, sink } = recorder()
    const engine = new Engine([{ id: 'c', detector: counter }], options, sink)
    engine.ingest(egress({ deviceId: 'a', ts: at(9.2) }))
    engine.ingest(egress({ deviceId: 'b', ts: at(10.6) }))
    // b's event is 36 s past the end of epoch [0, 10 min): a's open window 9 closes, though a is quiet.
    expect(log).toEqual(['a w9 1'])
    expect(engine.closedThrough).toBe(Math.floor(at(0) / (10 * MIN)))
    expect(engine.ingest(egress({ deviceId: 'a', ts: at(9.9) }))).toBe(false)
    expect(engine.ingest(egress({ deviceId: 'new', ts: at(9.9) }))).toBe(false)
    expect(engine.counters.late).toBe(2)
    expect(engine.deviceCount).toBe(2)
  })

  it('in a view shared by two shards, waits for the other shard to close the epoch two before an event, and moves on once it has', () => {
    const view = new FleetView({ epochMs: 10 * MIN, windowsPerEpoch: 10, shards: 2, maxModels: 10 })
    const engines = [0, 1].map((i) => new Engine([{ id: 'c', detector: counter }], { ...options, fleet: shardFleet(view, i, (p) => view.publish(p)) }, recorder().sink))
    const [one, two] = engines as [Engine, Engine]
    // Neither has a device: each may move anywhere, so both reach the first event's time.
    for (const e of engines) e.advanceTo(at(0))
    expect(one.canIngest(at(5))).toBe(true)
    one.ingest(egress({ ts: at(5) }))
    // An event of epoch 2 is judged with the fleet's epoch 0, which shard two has not closed.
    expect(one.canIngest(at(25))).toBe(false)
    expect(() => one.ingest(egress({ ts: at(25) }))).toThrow(/before the fleet view reached its epoch/)
    // Shard one holds a device: it moves only as far as the view allows (two's clock closed the epoch before epoch 0 only).
    const e0 = Math.floor(at(0) / (10 * MIN))
    expect(view.complete).toBe(e0 - 2)
    expect(one.maxAdvance()).toBe(at(10) - 1)
    two.advanceTo(at(11))
    expect(view.complete).toBe(e0 - 1)
    one.advanceTo(one.maxAdvance())
    expect(view.complete).toBe(e0)
    expect(one.canIngest(at(25))).toBe(true)
    expect(one.ingest(egress({ ts: at(25) }))).toBe(true)
  })

  it('keeps a lone shard\'s fleet view in its checkpoint, except in run, whose view the models topic holds: there a checkpoint restores without touching the view', () => {
    const view = (): FleetView => new FleetView({ epochMs: 10 * MIN, windowsPerEpoch: 10, shards: 1, maxModels: 10 })
    const feed = (engine: Engine): void => {
      for (const m of [0.5, 12, 25.5, 31]) engine.ingest(egress({ ts: at(m) }))
    }
    const alone = new FleetView({ epochMs: 10 * MIN, windowsPerEpoch: 10, shards: 1, maxModels: 10 })
    const replayed = new Engine([{ id: 'c', detector: counter }], { ...options, fleet: shardFleet(alone, 0, (p) => alone.publish(p)) }, recorder().sink)
    feed(replayed)
    const withView = replayed.snapshot()
    expect(withView.view).toEqual(alone.toJSON())

    const member = view()
    const run = new Engine([{ id: 'c', detector: counter }], { ...options, fleet: shardFleet(member, 0, (p) => member.publish(p), { viewInCheckpoint: false }) }, recorder().sink)
    feed(run)
    const checkpoint = JSON.parse(JSON.stringify(run.snapshot())) as ReturnType<Engine['snapshot']>
    expect(checkpoint.view).toBeNull()
    expect(checkpoint.devices).toEqual(JSON.parse(JSON.stringify(withView.devices)))

    // The member's view as the models topic gave it; a checkpoint with a view in it (written before) leaves it as it is.
    const loaded = view()
    loaded.load(member.toJSON())
    const before = JSON.stringify(loaded.toJSON())
    const next = new Engine([{ id: 'c', detector: counter }], { ...options, fleet: shardFleet(loaded, 0, (p) => loaded.publish(p), { viewInCheckpoint: false }) }, recorder().sink)
    next.restore({ ...checkpoint, view: { ...withView.view!, complete: (withView.view!.complete ?? 0) + 5, closed: [99] } })
    expect(JSON.stringify(loaded.toJSON())).toBe(before)
    expect(next.closedThrough).toBe(run.closedThrough)
  })

  it('restores a checkpoint written before the fleet view (no open epoch, no view) and carries on', () => {
    const { log, sink } = recorder()
    const first = new Engine([{ id: 'c', detector: counter }], options, sink)
    first.ingest(egress({ ts: at(0.5) }))
    first.ingest(egress({ ts: at(25.5) }))
    const { openEpoch: _o, fleet: _f, view: _v, ...old } = first.snapshot()
    expect(log).toEqual(['dev-1 w0 1', 'dev-1 w1 -', 'dev-1 w2 -', 'dev-1 w3 -', 'dev-1 quiet 6', 'dev-1 quiet 5'])
    const after = recorder()
    const second = new Engine([{ id: 'c', detector: counter }], options, after.sink)
    second.restore(JSON.parse(JSON.stringify(old)) as ReturnType<Engine['snapshot']>)
    expect(second.closedThrough).toBe(first.closedThrough)
    expect(second.ingest(egress({ ts: at(26.2) }))).toBe(true)
    expect(second.ingest(egress({ ts: at(27) }))).toBe(true)
    expect(after.log).toEqual(['dev-1 w25 1'])
  })
})

