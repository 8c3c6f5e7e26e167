// Specification of the models topic: what shards write in their transactions rebuilds, for a member that follows it or one that reads it late, the view the shards themselves hold.
import { describe, expect, it } from 'vitest'
import { DETECTORS } from '../../../detectors/index.ts'
import { parseConfig } from '../../../src/config/load.ts'
import { Contribution, LAG_EPOCHS, shardFleet } from '../../../src/engine/fleet.ts'
import type { FleetView } from '../../../src/engine/fleet.ts'
import { ModelsFeed, ModelsOutbox, viewSignature } from '../../../src/kafka/models.ts'
import { partitionOf } from '../../../src/partition.ts'
import { createFleetView, createPipeline } from '../../../src/pipeline.ts'
import type { DetectionPipeline } from '../../../src/pipeline.ts'
import { loadFixture } from '../../helpers/fixtures.ts'

const config = parseConfig({}, DETECTORS)
const SHARDS = 3
/** The first five hours of the bundled fleet (of its history day): thirty epochs, five snapshots. */
const EVENTS = loadFixture('synthetic/fleet.ndjson.gz').filter((e) => e.ts < 1793577600000 - 24 * 3_600_000 + 5 * 3_600_000)

/** A view of `SHARDS` shards with the detectors' facets registered, its signature, and a feed into it. */
const member = (warnings: string[] = []) => {
  const view = createFleetView(config, SHARDS)
  createPipeline(config, DETECTORS, () => undefined, { fleet: shardFleet(view, 0, () => undefined) }).release()
  const sig = viewSignature(view)
  const feed = new ModelsFeed({ kafka: null as never, topic: 'models', groupPrefix: 'g', view, sig, onChange: () => undefined, onCrash: () => undefined, warn: (m) => warnings.push(m) })
  return { view, sig, feed }
}

/** The levels a view holds from `from` on, as JSON (what shards read), entries in a canonical order (the order shards' contributions were merged in is no part of a level). */
const levels = (view: FleetView, from: number): unknown => canonical(view.toJSON(true).levels.filter(([e]) => e === null || e >= from))

const canonical = (v: unknown): unknown => {
  if (!Array.isArray(v)) return v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, canonical(x)])) : v
  const items = v.map(canonical)
  return items.every(Array.isArray) ? items.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)) : items
}

/** The fleet's shards, publishing into their member's view at once (as a member's shards do) and into their outboxes. */
const shardsOf = (own: { readonly view: FleetView; readonly sig: string }): { outboxes: ModelsOutbox[]; shards: DetectionPipeline[] } => {
  const outboxes = Array.from({ length: SHARDS }, (_, i) => new ModelsOutbox(i, own.sig))
  const shards = outboxes.map((box, i) =>
    createPipeline(config, DETECTORS, () => undefined, {
      fleet: shardFleet(own.view, i, (p) => {
        own.view.publish(p)
        box.add(p)
      }),
    }),
  )
  return { outboxes, shards }
}

/** Moves every shard's clock towards `t` as far as the view lets it, committing each after every round, until none moves. */
const moveShards = (shards: readonly DetectionPipeline[], t: number, commit: (i: number) => void): void => {
  for (let moved = true; moved; ) {
    moved = false
    for (const s of shards) {
      const target = Math.min(t, s.maxAdvance())
      if (target > s.time()) {
        s.advanceTo(target)
        moved = true
      }
    }
    shards.forEach((_, i) => commit(i))
  }
}

/** Each event into its shard (moving every shard when it must wait for the view), then `after` with the events so far. */
const ingestAll = (shards: readonly DetectionPipeline[], moveAll: (t: number) => void, after: (n: number) => void): void => {
  let n = 0
  for (const event of EVENTS) {
    const shard = shards[partitionOf(event.deviceId, SHARDS)]!
    if (shard.ingest(event, event.ts) === 'wait') {
      moveAll(event.ts)
      expect(shard.ingest(event, event.ts)).not.toBe('wait')
    }
    after(++n)
  }
}

describe('models topic', () => {
  it('a member that follows the topic and one that reads it late (snapshot, then contributions) hold the shards\' own view', () => {
    const own = member()
    const follower = member()
    const { outboxes, shards } = shardsOf(own)
    // The topic: every record in order, and the latest value of each key (compaction's view of it).
    const log: [string, string | null][] = []
    // What each shard has committed: a snapshot is never ahead of it (a shard restores what it committed).
    const committedThrough = new Array<number>(SHARDS).fill(-Infinity)
    const commit = (i: number): void => {
      // The shards' member reads the topic too (into its own view, and the committed one it snapshots).
      for (const r of outboxes[i]!.take(shards[i]!.time(), null, own.feed)) {
        log.push([r.key!, r.value])
        if (r.key!.startsWith('p/')) committedThrough[i] = (JSON.parse(r.value!) as { closedThrough: number }).closedThrough
        if (r.key === 's') expect((JSON.parse(r.value!) as { complete: number }).complete).toBeLessThanOrEqual(Math.min(...committedThrough))
        for (const feed of [own.feed, follower.feed]) feed.applyRecord(r.key!, r.value === null ? null : Buffer.from(r.value))
      }
    }
    const moveAll = (t: number): void => moveShards(shards, t, (i) => commit(i))
    // Shard 0 (which snapshots) commits most often, the others less: its member's view runs ahead of the topic.
    ingestAll(shards, moveAll, (n) => shards.forEach((_, i) => n % (4000 * (1 + 2 * i)) === 0 && commit(i)))
    moveAll(EVENTS[EVENTS.length - 1]!.ts)

    expect(own.view.complete).toBeGreaterThanOrEqual(25)
    expect(follower.view.complete).toBe(own.view.complete)
    expect(levels(follower.view, -Infinity)).toEqual(levels(own.view, -Infinity))
    expect(levels(own.feed.committed, -Infinity)).toEqual(levels(own.view, -Infinity))

    // Each shard's next commit deletes its contributions the last snapshot covers.
    shards.forEach((_, i) => commit(i))
    const latest = new Map<string, Buffer | null>()
    for (const [key, value] of log) {
      if (value === null) latest.delete(key)
      else latest.set(key, Buffer.from(value))
    }
    // Snapshots were written and the contributions they cover deleted: the topic holds those after the last one only.
    const snapshot = JSON.parse(latest.get('s')!.toString()) as { complete: number }
    expect(snapshot.complete).toBeGreaterThanOrEqual(24)
    const contributions = [...latest.keys()].filter((k) => k.startsWith('c/'))
    for (const k of contributions) expect(Number(k.split('/')[2])).toBeGreaterThan(snapshot.complete)
    expect(log.filter(([k, v]) => k.startsWith('c/') && v !== null).length).toBeGreaterThanOrEqual(SHARDS * 25)

    const late = member()
    late.feed.loadRecords(latest)
    expect(late.view.complete).toBe(own.view.complete)
    // The levels shards can still read (the late view keeps no older ones): the same.
    expect(levels(late.view, own.view.complete - 1)).toEqual(levels(own.view, own.view.complete - 1))
  })

  it("a shard that publishes its closed epochs ahead of its state: every snapshot carries the levels its committed state reads, and its progress never goes back", () => {
    const own = member()
    const { outboxes, shards } = shardsOf(own)
    const log: [string, string | null][] = []
    /** The epochs each shard's committed state has closed. */
    const stateThrough = new Array<number>(SHARDS).fill(-Infinity)
    const latest = (): Map<string, Buffer | null> => {
      const out = new Map<string, Buffer | null>()
      for (const [key, value] of log) {
        if (value === null) out.delete(key)
        else out.set(key, Buffer.from(value))
      }
      return out
    }
    let snapshots = 0
    const commit = (i: number, withState: boolean): void => {
      const records = outboxes[i]!.take(shards[i]!.time(), null, own.feed, withState)
      if (withState) stateThrough[i] = shards[i]!.closedThrough()
      for (const r of records) {
        log.push([r.key!, r.value])
        own.feed.applyRecord(r.key!, r.value === null ? null : Buffer.from(r.value))
      }
      if (records.some((r) => r.key === 's')) {
        // A member starting from the topic now restores each shard at its committed state: it can read what that state reads.
        snapshots++
        const late = member()
        late.feed.loadRecords(latest())
        const reads = Math.min(...stateThrough) + 1 - LAG_EPOCHS
        expect(() => late.view.level(reads)).not.toThrow()
        expect(levels(late.view, reads)).toEqual(levels(own.feed.committed, reads))
      }
    }
    const moveAll = (t: number): void => moveShards(shards, t, (i) => commit(i, true))
    // Shard 1 publishes often and commits its state seldom (a member that others wait for, reading a backlog).
    ingestAll(shards, moveAll, (n) => {
      if (n % 1000 === 0) commit(1, n % 30_000 === 0)
      if (n % 4000 === 0) commit(0, true)
      if (n % 12_000 === 0) commit(2, true)
    })
    expect(snapshots).toBeGreaterThanOrEqual(3)
    expect(Math.min(...stateThrough)).toBeLessThan(own.feed.committed.complete)

    // Its next owner restores its committed state and says the epochs the topic has it closed through, not fewer.
    const before = own.feed.committed.closedBy(1)
    expect(before).toBeGreaterThan(stateThrough[1]!)
    const restored = new ModelsOutbox(1, own.sig)
    restored.publishedThrough(own.feed.committed.closedBy(1))
    restored.restoredThrough(stateThrough[1]!)
    // It closes its epochs again on its way: those the topic has from its previous owner are not written again.
    const again = new Contribution()
    again.active.set('frostbyte-fridge', 1)
    restored.add({ shard: 1, closedThrough: stateThrough[1]!, clock: 0, epochs: [[before, again]] })
    const taken = restored.take(0, null, own.feed)
    expect(taken.filter((r) => r.key!.startsWith('c/1/'))).toEqual([])
    log.push(...taken.map((r): [string, string | null] => [r.key!, r.value]))
    const progress = new Map<string, number[]>()
    for (const [key, value] of log) if (key.startsWith('p/') && value !== null) progress.set(key, [...(progress.get(key) ?? []), (JSON.parse(value) as { closedThrough: number }).closedThrough])
    for (const [key, closed] of progress) expect(closed, key).toEqual([...closed].sort((a, b) => a - b))
    const last = JSON.parse(log.filter(([k]) => k === 'p/1').at(-1)![1]!) as { closedThrough: number; stateThrough: number }
    expect([last.closedThrough, last.stateThrough]).toEqual([before, stateThrough[1]])
  })

  it('publishes ahead of its state only once the shard has a committed state, and at most twelve epochs ahead of it', () => {
    const { sig, feed } = member()
    const box = new ModelsOutbox(0, sig)
    expect(box.canPublishAhead).toBe(false)
    box.add({ shard: 0, closedThrough: 100, clock: 0, epochs: [] })
    box.take(0, null, feed, false)
    expect(box.canPublishAhead).toBe(false)
    box.take(0, null, feed)
    expect(box.canPublishAhead).toBe(true)
    box.add({ shard: 0, closedThrough: 112, clock: 0, epochs: [] })
    expect(box.canPublishAhead).toBe(true)
    box.add({ shard: 0, closedThrough: 113, clock: 0, epochs: [] })
    expect(box.canPublishAhead).toBe(false)
    // A shard restored from the changelog has the state it was committed with.
    const restored = new ModelsOutbox(0, sig)
    restored.restoredThrough(110)
    restored.add({ shard: 0, closedThrough: 110, clock: 0, epochs: [] })
    expect(restored.canPublishAhead).toBe(true)
  })

  it('leaves out records of another configuration\'s facets, saying so once', () => {
    const warnings: string[] = []
    const { view, feed } = member(warnings)
    const other = JSON.stringify({ sig: 'another', closedThrough: 5, clock: 1 })
    feed.loadRecords(new Map([['p/0', Buffer.from(other)], ['p/1', Buffer.from(other)], ['c/0/5', Buffer.from('{"sig":"another","c":{"active":[],"facets":[]}}')]]))
    expect(view.complete).toBe(-Infinity)
    expect(feed.maxClock).toBe(-Infinity)
    expect(warnings).toEqual([expect.stringMatching(/^the models topic holds records of another configuration \(another; this one is [0-9a-f]{16}\): they are left out$/)])
  })
})
