// The fleet view: levels folded from every shard's contributions, the same whatever the shards and the order they publish in.
import { describe, expect, it } from 'vitest'
import { Contribution, FleetView, LAG_EPOCHS, ownObservations, recordOwn, shardFleet } from '../../../src/engine/fleet.ts'
import type { ShardFleet } from '../../../src/engine/fleet.ts'

const MIN = 60_000
const EPOCH = 10 * MIN

/** A view of `shards` shards whose publications are held until `flush` sends them, in an order the test picks. */
const fleet = (shards: number, maxModels = 1024) => {
  const view = new FleetView({ epochMs: EPOCH, windowsPerEpoch: 10, shards, maxModels })
  const held: Parameters<FleetView['publish']>[0][] = []
  const parts: ShardFleet[] = []
  for (let i = 0; i < shards; i++) parts.push(shardFleet(view, i, (p) => held.push(p)))
  /** Every shard closes epochs up to `through`. */
  const close = (through: number): void => {
    for (const p of parts) p.publish({ shard: p.shard.index, closedThrough: through, clock: (through + 1) * EPOCH, epochs: p.shard.take(through) })
  }
  const flush = (order: (i: number) => number = (i) => i): void => {
    const out = held.splice(0)
    for (let i = 0; i < out.length; i++) view.publish(out[order(i) % out.length]!)
  }
  return { view, parts, close, flush }
}

/** At epoch 0: six fridges use api.example (hash 11), three of them also ads (hash 22); they send 1, 2, … 6 mails. */
const teach = (f: ReturnType<typeof fleet>): void => {
  for (let d = 0; d < 6; d++) {
    const part = f.parts[d % f.parts.length]!
    const access = part.access('det')
    const counts = access.counts('dest', 100)
    counts.add('fridge', 11, 1000 + d)
    if (d % 2 === 0) counts.add('fridge', 22, 2000 + d)
    access.histogram('mail').observe('fridge', d + 1, 3000)
    part.devices.active('fridge', 3000)
  }
}

/** What data of epoch `e` reads about the fridges, through shard 0. */
const readAt = (f: ReturnType<typeof fleet>, e: number) => {
  const access = f.parts[0]!.access('det')
  const ts = e * EPOCH
  return {
    api: access.counts('dest', 100).get('fridge', 11, ts),
    ads: access.counts('dest', 100).get('fridge', 22, ts),
    median: access.histogram('mail').quantile('fridge', 0.5, ts, -1),
    devices: access.devices('fridge', ts),
  }
}

describe('FleetView', () => {
  it(`judges data of epoch e with every contribution up to e - ${LAG_EPOCHS}, the same for 1, 2 or 3 shards and any publication order`, () => {
    const results = [1, 2, 3].flatMap((shards) =>
      [(i: number) => i, (i: number) => shards - 1 - i].map((order) => {
        const f = fleet(shards)
        teach(f)
        f.close(0)
        f.flush(order)
        return [readAt(f, 1), readAt(f, 2)]
      }),
    )
    for (const r of results) {
      // Epoch 1 still reads the level before epoch 0 (nothing); epoch 2 reads epoch 0's.
      expect(r).toEqual([{ api: 0, ads: 0, median: -1, devices: 0 }, { api: 6, ads: 3, median: 3, devices: 6 }])
    }
  })

  it('completes an epoch only once every shard has closed it, and refuses reads before', () => {
    const f = fleet(2)
    teach(f)
    f.parts[0]!.publish({ shard: 0, closedThrough: 0, clock: EPOCH, epochs: f.parts[0]!.shard.take(0) })
    f.flush()
    expect(f.view.complete).toBe(-Infinity)
    expect(() => readAt(f, 2)).toThrow(/before every shard closed it/)
    f.parts[1]!.publish({ shard: 1, closedThrough: 0, clock: EPOCH, epochs: f.parts[1]!.shard.take(0) })
    f.flush()
    expect(f.view.complete).toBe(0)
    expect(readAt(f, 2).api).toBe(6)
  })

  it('adds a closed epoch published again (a batch processed again) only once', () => {
    const f = fleet(1)
    teach(f)
    const epochs = f.parts[0]!.shard.take(0)
    f.view.publish({ shard: 0, closedThrough: 0, clock: EPOCH, epochs })
    f.view.publish({ shard: 0, closedThrough: 0, clock: EPOCH, epochs })
    expect(readAt(f, 2).api).toBe(6)
  })

  it('refuses keys past a model\'s cap in key order and models past the cap in name order, and counts them', () => {
    const view = new FleetView({ epochMs: EPOCH, windowsPerEpoch: 10, shards: 1, maxModels: 2 })
    const part = shardFleet(view, 0, (p) => view.publish(p))
    const counts = part.access('det').counts('dest', 3)
    for (const key of [50, 40, 30, 20, 10]) counts.add('cam', key, 0)
    for (const model of ['tv', 'lock', 'fridge']) counts.add(model, 1, 0)
    view.publish({ shard: 0, closedThrough: 0, clock: EPOCH, epochs: part.shard.take(0) })
    const ts = 2 * EPOCH
    expect([10, 20, 30, 40, 50].map((k) => counts.get('cam', k, ts))).toEqual([1, 1, 1, 0, 0])
    // 'cam' plus one new model fit: 'fridge' comes first by name.
    expect(['fridge', 'lock', 'tv'].map((m) => counts.get(m, 1, ts))).toEqual([1, 0, 0])
    expect(view.refused).toEqual({ models: 2, keys: 2 })
  })

  it('keeps a new host open to adopters until its horizon; then it is known if two devices took it up, forgotten if one did', () => {
    const f = fleet(1)
    const hosts = f.parts[0]!.access('shift').hosts('hosts', { horizonWindows: 25, maxNovel: 8 })
    hosts.learn('cam', 7, 0)
    hosts.adopt('cam', 100, 3, 0)
    hosts.adopt('cam', 100, 4, 0)
    hosts.adopt('cam', 200, 5, 0)
    f.close(0)
    f.close(2)
    f.flush()
    const at = (e: number) => hosts.read('cam', e * EPOCH)
    expect(at(2).known(7)).toBe(true)
    expect(at(2).novel(100)).toEqual({ first: 3, devices: 2 })
    // Read epoch 1 ends at window 20 (< 3 + 25); read epoch 2 ends at window 30: retired.
    expect(at(3).novel(100)).toEqual({ first: 3, devices: 2 })
    expect(at(4).novel(100)).toBeUndefined()
    expect(at(4).known(100)).toBe(true)
    expect(at(4).known(200)).toBe(false)
  })

  it('retires the oldest new hosts first when a model has more than maxNovel', () => {
    const f = fleet(1)
    const hosts = f.parts[0]!.access('shift').hosts('hosts', { horizonWindows: 1000, maxNovel: 2 })
    for (const [hash, first] of [[1, 9], [2, 3], [3, 5]] as const) {
      hosts.adopt('cam', hash, first, 0)
      hosts.adopt('cam', hash, first, 0)
    }
    f.close(0)
    f.flush()
    const r = hosts.read('cam', 2 * EPOCH)
    expect([r.novel(1)?.first, r.novel(2)?.first, r.novel(3)?.first]).toEqual([9, undefined, 5])
    expect(r.known(2)).toBe(true)
  })

  it('gives a distribution\'s median, mean, spread and share below a value', () => {
    const f = fleet(1)
    const h = f.parts[0]!.access('peers').histogram('bytes')
    for (const v of [1, 2, 2, 3, 10]) h.observe('tv', v, 0)
    f.close(0)
    f.flush()
    expect(h.stats('tv', 5, 2 * EPOCH)).toEqual({ median: 2, mean: 3.6, mad: 1, percentileBelow: 80, weight: 5 })
    expect(h.stats('fridge', 5, 2 * EPOCH)).toBeNull()
    expect(h.observations('tv', 2 * EPOCH)).toBe(5)
  })

  it('reads a model\'s moments without a device\'s own observations: those the level holds, decayed as it decayed them', () => {
    const f = fleet(1)
    const h = f.parts[0]!.access('ports').histogram('per-hour')
    const own = ownObservations()
    // Epochs 0, 3 and 6: three quiet devices observe 0, the device itself 10, then 4, then 7.
    ;[10, 4, 7].forEach((mine, i) => {
      for (let d = 0; d < 3; d++) h.observe('cam', 0, 3 * i * EPOCH)
      h.observe('cam', mine, 3 * i * EPOCH)
      recordOwn(own, mine, 3 * i)
    })
    f.close(6)
    f.flush()
    // Data of epoch 8 reads level 6, which holds all three: the others' zeros alone are left.
    expect(h.momentsWithout('cam', 8 * EPOCH, own)).toEqual({ mean: expect.closeTo(0, 12), variance: expect.closeTo(0, 12), weight: expect.closeTo(3 * (1 + 0.9 ** 3 + 0.9 ** 6), 9) })
    expect(h.moments('cam', 8 * EPOCH)!.mean).toBeGreaterThan(1)
    // Data of epoch 7 reads level 5, which does not hold its latest (7) yet: its 10 and 4 are left out.
    expect(h.momentsWithout('cam', 7 * EPOCH, own)).toEqual({ mean: expect.closeTo(0, 12), variance: expect.closeTo(0, 12), weight: expect.closeTo(3 * (1 + 0.9 ** 3), 9) })
    expect(h.momentsWithout('cam', 7 * EPOCH, null)).toEqual(h.moments('cam', 7 * EPOCH))
  })

  it('leaves a device\'s own observations out however long its epochs are (hourly observations, hour-long epochs)', () => {
    const view = new FleetView({ epochMs: 60 * MIN, windowsPerEpoch: 60, shards: 1, maxModels: 1024 })
    const part = shardFleet(view, 0, (p) => view.publish(p))
    const h = part.access('ports').histogram('per-hour')
    const own = ownObservations()
    for (let e = 0; e < 8; e++) {
      for (let d = 0; d < 3; d++) h.observe('cam', 0, e * 60 * MIN)
      h.observe('cam', 10, e * 60 * MIN)
      recordOwn(own, 10, e)
      part.publish({ shard: 0, closedThrough: e, clock: (e + 1) * 60 * MIN, epochs: part.shard.take(e) })
      // Data of epoch e (the hour it observed in) reads level e - 2, of epoch e + 1 level e - 1: the others' zeros of those epochs are left.
      for (const [data, level] of [[e, e - 2], [e + 1, e - 1]] as const) {
        const m = h.momentsWithout('cam', data * 60 * MIN, own)
        if (level < 0) expect(m).toBeNull()
        else expect(m).toEqual({ mean: expect.closeTo(0, 12), variance: expect.closeTo(0, 12), weight: expect.closeTo(3 * Array.from({ length: level + 1 }, (_, k) => 0.9 ** k).reduce((a, b) => a + b), 9) })
      }
    }
  })

  it('carries a contribution through JSON unchanged (checkpoints, the models topic)', () => {
    const f = fleet(1)
    teach(f)
    const hosts = f.parts[0]!.access('shift').hosts('hosts', { horizonWindows: 25, maxNovel: 8 })
    hosts.learn('cam', 7, 0)
    hosts.adopt('cam', 100, 3, 0)
    const [[, c]] = f.parts[0]!.shard.take(0) as [[number, Contribution]]
    const back = Contribution.fromJSON(JSON.parse(JSON.stringify(c.toJSON())), f.view.specs)
    expect(back.toJSON()).toEqual(c.toJSON())
  })
})
