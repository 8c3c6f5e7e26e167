import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { Rows } from '../../../src/engine/rows.ts'
import { MAX_LOOKAHEAD, RecentDistinct, SketchRing, WindowRing, hashNumber, hashString, rowOffset, tailAfter, tailShift, trailAfter, trailDropped, trailLatest, trailMark, trailShift } from '../../../src/engine/window.ts'

describe('WindowRing', () => {
  it('sums the windows of a horizon ending at a given window', () => {
    const ring = new WindowRing(10)
    ring.add(100, 1)
    ring.add(101, 2)
    ring.add(105, 4)
    expect(ring.sum(105, 10)).toBe(7)
    expect(ring.sum(105, 5)).toBe(6)
    expect(ring.sum(105, 4)).toBe(4)
    expect(ring.sum(101, 2)).toBe(3)
    expect(ring.active(105, 10)).toBe(3)
  })

  it('does not count windows after the end being evaluated', () => {
    const ring = new WindowRing(10)
    ring.add(100, 1)
    ring.add(102, 5)
    expect(ring.sum(100, 10)).toBe(1)
    expect(ring.sum(101, 10)).toBe(1)
  })

  it('forgets windows that fell out of the ring and clears skipped slots', () => {
    const ring = new WindowRing(4)
    ring.add(10, 1)
    ring.add(11, 1)
    ring.add(20, 3)
    expect(ring.sum(20, 4)).toBe(3)
    ring.add(10, 5) // older than the ring: dropped
    expect(ring.sum(20, 4)).toBe(3)
  })

  it('accepts a late value for a window still inside the ring', () => {
    const ring = new WindowRing(4)
    ring.add(10, 1)
    ring.add(12, 1)
    ring.add(11, 7)
    expect(ring.sum(12, 3)).toBe(9)
  })

  it('survives a JSON round trip', () => {
    const ring = new WindowRing(5)
    ring.add(7, 3)
    ring.add(9, 2)
    const copy = WindowRing.from(JSON.parse(JSON.stringify(ring.toJSON())))
    expect(copy.sum(9, 5)).toBe(5)
    expect(copy.head).toBe(9)
  })
})

describe('rowOffset', () => {
  it('finds a row by its first number only, rows of a stride each', () => {
    // Rows of three: [7, 9, 9], [9, 7, 7], [4, 0, 0].
    const rows = [7, 9, 9, 9, 7, 7, 4, 0, 0]
    expect([rowOffset(rows, 7, 3), rowOffset(rows, 9, 3), rowOffset(rows, 4, 3), rowOffset(rows, 0, 3), rowOffset([], 7, 3)]).toEqual([0, 3, 6, -1, -1])
  })
})

describe('RecentDistinct', () => {
  it('counts distinct keys seen within a horizon', () => {
    const set = new RecentDistinct(8)
    expect(set.add('a', 1)).toBe(true)
    expect(set.add('b', 2)).toBe(true)
    expect(set.add('a', 5)).toBe(false)
    expect(set.count(5, 3)).toBe(1)
    expect(set.count(5, 5)).toBe(2)
    expect(set.top(5, 10, 5)).toEqual(['a', 'b'])
  })

  it('replaces the key seen longest ago when full', () => {
    const set = new RecentDistinct(2)
    set.add('a', 1)
    set.add('b', 2)
    set.add('c', 3)
    expect(set.keys.slice().sort()).toEqual(['b', 'c'])
  })

  it('counts a key by its latest window up to the one evaluated, while later windows are already observed', () => {
    const set = new RecentDistinct(8)
    set.add('a', 100)
    set.add('b', 96)
    set.add('a', 104) // the lookahead: four windows past 100
    set.add('a', 102)
    set.add('b', 103)
    expect(set.count(100, 1)).toBe(1) // a in 100; b's latest up to 100 is 96
    expect(set.count(100, 5)).toBe(2)
    expect(set.count(99, 3)).toBe(0)
    expect(set.top(101, 10, 5)).toEqual(['a', 'b'])
    // Through a checkpoint.
    const copy = RecentDistinct.from(JSON.parse(JSON.stringify(set.toJSON())))
    expect([copy.count(100, 1), copy.count(100, 5), copy.count(102, 1)]).toEqual([1, 2, 1])
  })

  it('holds a dotted quad as a number and gives every address back as written, ties in the order of their text', () => {
    const set = new RecentDistinct(8)
    const addresses = ['9.0.0.1', '10.0.0.9', '255.255.255.255', '0.0.0.0', '2001:db8::25', '010.1.1.1', 'mx.example']
    for (const a of addresses) set.add(a, 7)
    expect(set.keys.filter((k) => typeof k === 'number')).toHaveLength(4)
    expect(set.add('255.255.255.255', 7)).toBe(false)
    expect(set.add('2001:db8::25', 7)).toBe(false)
    expect(set.top(7, 1, 8)).toEqual([...addresses].sort())
    expect(set.toJSON().keys).toEqual(addresses)
    const copy = RecentDistinct.from(JSON.parse(JSON.stringify(set.toJSON())))
    expect(copy.keys).toEqual(set.keys)
    expect(copy.top(7, 1, 3)).toEqual(['0.0.0.0', '010.1.1.1', '10.0.0.9'])
  })
})

describe('trails', () => {
  /** A key's windows as a trail would answer for them, the reference being the plain list. */
  const follow = (windows: readonly number[]) => {
    let last = windows[0]!
    let trail = 1
    let older = -1
    for (const w of windows.slice(1)) {
      if (w > last) {
        older = trailDropped(trail, last, w - last, older)
        trail = trailShift(trail, w - last)
        last = w
      } else trail = trailMark(trail, last - w)
    }
    return { last, trail, older }
  }

  it('answers the latest window up to any end, and the windows after it, as the list of windows does', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 200 }), { minLength: 1, maxLength: 40 }), fc.integer({ min: 0, max: MAX_LOOKAHEAD }), (raw, ahead) => {
        // Windows as the engine lets them arrive: none more than the lookahead behind the newest.
        const windows: number[] = []
        let newest = -1
        for (const w of raw) {
          if (w < newest - ahead) continue
          windows.push(w)
          newest = Math.max(newest, w)
        }
        const { last, trail, older } = follow(windows)
        for (let end = newest - ahead; end <= newest + 1; end++) {
          const upTo = windows.filter((w) => w <= end)
          expect(trailLatest(trail, last, older, end)).toBe(upTo.length === 0 ? -1 : Math.max(...upTo))
          expect(trailAfter(trail, last, end)).toBe(new Set(windows.filter((w) => w > end)).size)
        }
      }),
    )
  })

  it('keeps the amounts of the lookahead\'s windows apart from the rest', () => {
    const tail = [0, 0, 0, 0]
    tail[0] = 5 // window 10
    tailShift(tail, 2) // window 12 is the latest now
    tail[0]! += 7
    tail[1]! += 1 // window 11
    expect(tailAfter(tail, 12, 9)).toBe(13)
    expect(tailAfter(tail, 12, 10)).toBe(8)
    expect(tailAfter(tail, 12, 11)).toBe(7)
    expect(tailAfter(tail, 12, 12)).toBe(0)
  })

  it('keeps a tail inside a larger array (a row of several keys\' numbers) the same, its neighbours untouched', () => {
    // Two keys' rows of [hash, tail of 4]: the second key's tail is numbers 6 to 9.
    const row = [1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 99]
    row[6] = 5 // window 10
    tailShift(row, 2, 6, 4) // window 12 is the latest now
    row[6]! += 7
    row[7]! += 1 // window 11
    expect(row).toEqual([1, 0, 0, 0, 0, 2, 7, 1, 5, 0, 99])
    expect([9, 10, 11, 12].map((w) => tailAfter(row, 12, w, 6, 4))).toEqual([13, 8, 7, 0])
    // A shift past the tail's length empties it alone.
    tailShift(row, 5, 6, 4)
    expect(row).toEqual([1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 99])
  })
})

describe('SketchRing', () => {
  /** A ring's sketches in a row of their own (a detector's columns would follow). */
  const sketchOf = (ring: SketchRing): { rows: Rows; row: number } => {
    const rows = new Rows(ring.doubles, ring.words, 1)
    const row = rows.alloc()
    ring.init(rows, row)
    return { rows, row }
  }

  it('estimates distinct keys of one window within 10% up to 200 and 15% at 400, each map on its own', () => {
    for (const [n, tolerance] of [[10, 0.11], [50, 0.1], [200, 0.1], [400, 0.15]] as const) {
      const ring = new SketchRing(2, 2)
      const { rows, row } = sketchOf(ring)
      for (let i = 0; i < n; i++) {
        ring.add(rows, row, 0, hashString(`10.${i >> 8}.${i & 255}.1`), 7)
        ring.add(rows, row, 0, hashString(`10.${i >> 8}.${i & 255}.1`), 7)
        ring.add(rows, row, 1, hashNumber(i % 5), 7)
      }
      expect(Math.abs(ring.estimate(rows, row, 0, 7) - n) / n).toBeLessThan(tolerance)
      expect(ring.estimate(rows, row, 1, 7)).toBe(Math.min(n, 5))
      expect(ring.estimate(rows, row, 0, 8)).toBe(0)
    }
  })

  it('estimates consecutive ports as well as addresses (hashNumber spreads them)', () => {
    for (const n of [20, 90, 200]) {
      const ring = new SketchRing(1)
      const { rows, row } = sketchOf(ring)
      for (let port = 1; port <= n; port++) ring.add(rows, row, 0, hashNumber(port), 3)
      expect(Math.abs(ring.estimate(rows, row, 0, 3) - n) / n).toBeLessThan(0.1)
    }
  })

  it('keeps the window being evaluated while the next one fills, and reuses a slot two windows on', () => {
    const ring = new SketchRing(2)
    const { rows, row } = sketchOf(ring)
    for (let i = 0; i < 30; i++) ring.add(rows, row, 0, hashString(`k${i}`), 1)
    ring.add(rows, row, 0, hashString('x'), 2)
    const before = ring.estimate(rows, row, 0, 1)
    expect(Math.abs(before - 30)).toBeLessThanOrEqual(2)
    expect(ring.estimate(rows, row, 0, 2)).toBe(1)
    expect(ring.estimate(rows, row, 0, 1)).toBe(before)
    ring.add(rows, row, 0, hashString('y'), 3)
    expect(ring.estimate(rows, row, 0, 1)).toBe(0)
    expect(ring.estimate(rows, row, 0, 3)).toBe(1)
    expect(ring.windowAt(rows, row, 3 % 2)).toBe(3)
  })

  it('round-trips through JSON (windows, then the maps\' words), and loads nothing from data of another layout', () => {
    const ring = new SketchRing(2)
    const a = sketchOf(ring)
    for (let i = 0; i < 50; i++) ring.add(a.rows, a.row, 0, hashString(`k${i}`), 9)
    const json = JSON.parse(JSON.stringify(ring.toJSON(a.rows, a.row))) as number[]
    expect(json.slice(0, 2)).toEqual([-1, 9])
    const b = sketchOf(ring)
    ring.load(b.rows, b.row, json)
    expect(ring.estimate(b.rows, b.row, 0, 9)).toBe(ring.estimate(a.rows, a.row, 0, 9))
    expect(ring.toJSON(b.rows, b.row)).toEqual(json)
    const c = sketchOf(ring)
    ring.load(c.rows, c.row, json.slice(1))
    expect(ring.estimate(c.rows, c.row, 0, 9)).toBe(0)
  })
})

describe('SketchRing, small and full maps', () => {
  /** What the maps hold, computed apart: a 180-bit map per slot and dimension, as the snapshot writes them (30 bits a word). */
  const reference = (adds: readonly (readonly [number, number, number])[], slots: number, dims: number): number[] => {
    const windows = new Array<number>(slots).fill(-1)
    const maps = Array.from({ length: slots * dims }, () => new Array<number>(6).fill(0))
    for (const [dim, hash, window] of adds) {
      const slot = window % slots
      if (window < windows[slot]!) continue
      if (window > windows[slot]!) {
        windows[slot] = window
        for (let d = 0; d < dims; d++) maps[slot * dims + d]!.fill(0)
      }
      const bit = hash % 180
      maps[slot * dims + dim]![Math.floor(bit / 30)]! |= 1 << bit % 30
    }
    return [...windows, ...maps.flat()]
  }

  it('holds the same bits small as in full, whatever the keys, and estimates and writes them the same', () => {
    const ring = new SketchRing(2, 2)
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 10, max: 13 })), { maxLength: 40 }), (raw) => {
        // Windows only move on (the engine rejects what is older than a slot's window).
        const adds = raw.map(([d, h], k) => [d, h, 10 + Math.floor((k * 4) / Math.max(raw.length, 1))] as const)
        const rows = new Rows(ring.doubles, ring.words, 1)
        const row = rows.alloc()
        ring.init(rows, row)
        for (const [d, h, w] of adds) ring.add(rows, row, d, h, w)
        const written = ring.toJSON(rows, row)
        expect(written).toEqual(reference(adds, 2, 2))
        // Loaded into another row (small or full, as its bits need), it estimates the same.
        const again = new Rows(ring.doubles, ring.words, 1)
        const copy = again.alloc()
        ring.init(again, copy)
        ring.load(again, copy, written)
        expect(ring.toJSON(again, copy)).toEqual(written)
        for (let w = 10; w <= 14; w++) for (let d = 0; d < 2; d++) expect(ring.estimate(again, copy, d, w)).toBe(ring.estimate(rows, row, d, w))
      }),
    )
  })

  it('moves a device to full maps at a map\'s fifth distinct bit, and gives them back when released', () => {
    const ring = new SketchRing(2, 1)
    const rows = new Rows(ring.doubles, ring.words, 1)
    const row = rows.alloc()
    ring.init(rows, row)
    for (const bit of [1, 2, 3, 4]) ring.add(rows, row, 0, bit, 7)
    expect(ring.fullRows).toBe(0)
    expect(ring.estimate(rows, row, 0, 7)).toBe(4)
    expect(ring.add(rows, row, 0, 4, 7)).toBe(false)
    expect(ring.add(rows, row, 0, 184, 7)).toBe(false)
    expect(ring.add(rows, row, 0, 5, 7)).toBe(true)
    expect(ring.fullRows).toBe(1)
    expect(ring.estimate(rows, row, 0, 7)).toBe(5)
    // A new window in the slot empties it; the device keeps its full maps.
    ring.add(rows, row, 0, 9, 9)
    expect([ring.estimate(rows, row, 0, 9), ring.estimate(rows, row, 0, 7), ring.fullRows]).toEqual([1, 0, 1])
    ring.release(rows, row)
    expect(ring.fullRows).toBe(0)
  })
})

describe('Rows', () => {
  it('keeps every row\'s numbers as it grows, and gives a released row back zeroed to the next device', () => {
    const rows = new Rows(2, 3, 1)
    const made = Array.from({ length: 100 }, (_, n) => {
      const row = rows.alloc()
      rows.f[row * 2] = n + 0.5
      rows.f[row * 2 + 1] = Number.NaN
      rows.i[row * 3 + 2] = -n
      return row
    })
    expect(new Set(made).size).toBe(100)
    made.forEach((row, n) => {
      expect(rows.f[row * 2]).toBe(n + 0.5)
      expect(rows.f[row * 2 + 1]).toBeNaN()
      expect(rows.i[row * 3 + 2]).toBe(-n || 0)
    })
    rows.release(made[40]!)
    expect(rows.size).toBe(99)
    const again = rows.alloc()
    expect(again).toBe(made[40])
    expect([rows.f[again * 2], rows.f[again * 2 + 1], rows.i[again * 3], rows.i[again * 3 + 1], rows.i[again * 3 + 2]]).toEqual([0, 0, 0, 0, 0])
    expect(rows.size).toBe(100)
  })
})

