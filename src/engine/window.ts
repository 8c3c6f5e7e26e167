// Window math for detectors: rolling per-window sums, bounded recent-distinct sets and sketches.
// Plain number arrays, not typed arrays, where a device holds its own: for a few dozen slots V8
// stores them unboxed with far less per-object overhead. Sketches live in rows shared by every
// device (src/engine/rows.ts), which need no object per device at all.
import { addressBefore, addressText, compactAddress } from './net.ts'
import { Rows } from './rows.ts'

/** The index of the window holding `ts` (epoch ms) for windows of `windowMs`. */
export const windowOf = (ts: number, windowMs: number): number => Math.floor(ts / windowMs)

/**
 * Rolling per-window totals over the last `size` windows. Adding to a newer window clears the
 * slots it skips; values older than the ring are dropped (the engine's lateness bound keeps
 * out-of-order events inside the ring).
 */
export class WindowRing {
  head = -1
  readonly slots: number[]

  constructor(readonly size: number) {
    this.slots = new Array<number>(size).fill(0)
  }

  add(window: number, value: number): void {
    const { size, slots } = this
    if (window > this.head) {
      for (let w = Math.max(this.head + 1, window - size + 1); w <= window; w++) slots[w % size] = 0
      this.head = window
    } else if (window <= this.head - size) {
      return
    }
    slots[window % size]! += value
  }

  /** Total of the windows in (end - span, end]. */
  sum(end: number, span: number): number {
    let total = 0
    const from = Math.max(end - span + 1, this.head - this.size + 1)
    const to = Math.min(end, this.head)
    for (let w = from; w <= to; w++) total += this.slots[w % this.size]!
    return total
  }

  /** Number of windows in (end - span, end] with a non-zero total. */
  active(end: number, span: number): number {
    let n = 0
    const from = Math.max(end - span + 1, this.head - this.size + 1)
    const to = Math.min(end, this.head)
    for (let w = from; w <= to; w++) if (this.slots[w % this.size] !== 0) n++
    return n
  }

  toJSON(): { head: number; slots: number[] } {
    return { head: this.head, slots: this.slots.slice() }
  }

  static from(data: { head: number; slots: number[] }): WindowRing {
    const ring = new WindowRing(data.slots.length)
    ring.head = data.head
    for (let i = 0; i < data.slots.length; i++) ring.slots[i] = data.slots[i]!
    return ring
  }
}

/**
 * Which recent windows a key had data in, relative to its latest (`last`): bit k of a trail is set
 * when window `last - k` had data, for k < TRAIL_SPAN. Detectors keep one per key (a port, a
 * destination) to answer exactly for the window being evaluated while the engine's lookahead
 * (up to `MAX_LOOKAHEAD` windows) has already observed later ones.
 */
export const TRAIL_SPAN = 31
/** The most windows of lookahead a trail answers exactly for (the configuration caps lateness to it). */
export const MAX_LOOKAHEAD = 30

/** A key's trail after its latest window moves `d` (> 0) windows on, to a window with data. */
export const trailShift = (trail: number, d: number): number => (d >= TRAIL_SPAN ? 1 : ((trail << d) | 1) & 0x7fffffff)

/** A trail with data in window `last - k` (k ≥ 0) added. */
export const trailMark = (trail: number, k: number): number => (k < TRAIL_SPAN ? trail | (1 << k) : trail)

/**
 * The latest window with data that a move of `d` windows pushes out of a trail (its bits at the
 * far end), or `older`, the one it held before, when none.
 */
export const trailDropped = (trail: number, last: number, d: number, older: number): number => {
  const fallen = d >= TRAIL_SPAN ? trail : trail >>> (TRAIL_SPAN - d)
  if (fallen === 0) return older
  const low = 31 - Math.clz32(fallen & -fallen)
  return d >= TRAIL_SPAN ? last - low : last - (TRAIL_SPAN - d + low)
}

/** Windows with data after `w`, for a key whose latest is `last`. */
export const trailAfter = (trail: number, last: number, w: number): number => {
  if (last <= w) return 0
  const k = last - w
  return popcount(k >= TRAIL_SPAN ? trail : trail & ((1 << k) - 1))
}

/**
 * The key's latest window up to `end`: `last` itself, a window of its trail, or `older` (the
 * latest before the trail; -1 for none). Exact while `last - end` is at most `MAX_LOOKAHEAD`.
 */
export const trailLatest = (trail: number, last: number, older: number, end: number): number => {
  if (last <= end) return last
  const k = last - end
  if (k >= TRAIL_SPAN) return older
  const rest = trail >>> k
  if (rest === 0) return older
  return last - k - (31 - Math.clz32(rest & -rest))
}

/**
 * The offset of the row whose first number is `key` in `rows`, rows of `stride` numbers each (a
 * detector's per-key numbers in one array), or -1.
 */
export const rowOffset = (rows: readonly number[], key: number, stride: number): number => {
  for (let o = 0; o < rows.length; o += stride) if (rows[o] === key) return o
  return -1
}

/**
 * Amounts per window over a key's lookahead: `tail[k]` holds window `last - k`'s (k ≤ lookahead),
 * so that the amount after the evaluated window can be taken off the key's running total. A tail
 * may be the `length` numbers from `at` of a larger array (a row of several keys' numbers).
 */
export const tailShift = (tail: number[], d: number, at = 0, length = tail.length - at): void => {
  for (let k = length - 1; k >= 0; k--) tail[at + k] = k >= d ? tail[at + k - d]! : 0
}

/** The amount a key's tail holds for windows after `w` (its latest being `last`). */
export const tailAfter = (tail: readonly number[], last: number, w: number, at = 0, length = tail.length - at): number => {
  let sum = 0
  const n = Math.min(last - w, length)
  for (let k = 0; k < n; k++) sum += tail[at + k]!
  return sum
}

/**
 * The most recently seen distinct addresses (at most `capacity`), each with the last window it was
 * seen in. When full, the address seen longest ago makes room. Counts saturate at `capacity`,
 * so thresholds must stay below it. A dotted quad is held as a number (`compactAddress`): a
 * spambot's 128 mail servers would otherwise hold 128 strings of their own.
 */
export class RecentDistinct {
  // Each array exactly as long as the keys held (concat and slice; push leaves room for up to half as much again).
  keys: (number | string)[] = []
  /** The latest window each key was seen in. */
  seen: number[] = []
  /** Each key's trail of windows before its latest (see `trailShift`), for the window being evaluated while later ones are observed. */
  trail: number[] = []
  /** Each key's latest window before its trail, or -1. */
  older: number[] = []

  constructor(readonly capacity: number) {}

  /** Records `address` in `window`; returns true when it was not held before. */
  add(address: string, window: number): boolean {
    const key = compactAddress(address)
    const { keys, seen, trail, older } = this
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] === key) {
        const last = seen[i]!
        if (window > last) {
          const d = window - last
          older[i] = trailDropped(trail[i]!, last, d, older[i]!)
          trail[i] = trailShift(trail[i]!, d)
          seen[i] = window
        } else {
          trail[i] = trailMark(trail[i]!, last - window)
        }
        return false
      }
    }
    if (keys.length < this.capacity) {
      this.keys = keys.concat([key])
      this.seen = seen.concat([window])
      this.trail = trail.concat([1])
      this.older = older.concat([-1])
      return true
    }
    let oldest = 0
    for (let i = 1; i < seen.length; i++) if (seen[i]! < seen[oldest]!) oldest = i
    keys[oldest] = key
    seen[oldest] = window
    trail[oldest] = 1
    older[oldest] = -1
    return true
  }

  /** The key's latest window up to `end`, or -1. */
  private lastBy(i: number, end: number): number {
    return trailLatest(this.trail[i]!, this.seen[i]!, this.older[i]!, end)
  }

  /** Distinct keys seen in (end - span, end]. */
  count(end: number, span: number): number {
    let n = 0
    const from = end - span
    for (let i = 0; i < this.seen.length; i++) if (this.lastBy(i, end) > from) n++
    return n
  }

  toJSON(): { capacity: number; keys: string[]; seen: number[]; trail: number[]; older: number[] } {
    return { capacity: this.capacity, keys: this.keys.map(addressText), seen: this.seen.slice(), trail: this.trail.slice(), older: this.older.slice() }
  }

  static from(data: { capacity: number; keys: string[]; seen: number[]; trail?: number[]; older?: number[]; before?: number[] }): RecentDistinct {
    const set = new RecentDistinct(data.capacity)
    set.keys = data.keys.map(compactAddress)
    set.seen = data.seen.slice()
    if (data.trail !== undefined && data.older !== undefined) {
      set.trail = data.trail.slice()
      set.older = data.older.slice()
    } else {
      // A checkpoint from before trails kept the window before the latest.
      const before = (i: number): number => data.before?.[i] ?? -1
      set.trail = data.seen.map((w, i) => (before(i) >= 0 ? trailMark(1, w - before(i)) : 1))
      set.older = data.seen.map((w, i) => (before(i) >= 0 && w - before(i) >= TRAIL_SPAN ? before(i) : -1))
    }
    return set
  }

  /** Up to `limit` addresses seen in (end - span, end], most recent first, ties by their text. */
  top(end: number, span: number, limit: number): string[] {
    const from = end - span
    const { keys } = this
    // Insertion into a short best-first list: O(n * limit) with no sort of the whole set.
    const best: number[] = []
    const last: number[] = []
    const before = (a: number, wa: number, b: number, wb: number): boolean => wa > wb || (wa === wb && addressBefore(keys[a]!, keys[b]!))
    for (let i = 0; i < keys.length; i++) {
      const w = this.lastBy(i, end)
      if (w <= from) continue
      if (best.length === limit && !before(i, w, best[limit - 1]!, last[limit - 1]!)) continue
      let j = best.length < limit ? best.length : limit - 1
      while (j > 0 && before(i, w, best[j - 1]!, last[j - 1]!)) {
        best[j] = best[j - 1]!
        last[j] = last[j - 1]!
        j--
      }
      best[j] = i
      last[j] = w
    }
    return best.map((i) => addressText(keys[i]!))
  }
}

const SKETCH_WORDS = 6
const SKETCH_BITS = SKETCH_WORDS * 30

/** FNV-1a's start, one step per code unit, and the murmur3 finish: for hashing characters in place as `hashString` would. */
export const FNV_OFFSET = 0x811c9dc5
export const fnvStep = (h: number, code: number): number => Math.imul(h ^ code, 0x01000193)
export const fnvFinish = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * FNV-1a over a string's UTF-16 code units, finished with murmur3's mixer so that similar keys
 * (addresses differing in one digit) spread over the whole range: cheap and deterministic.
 */
export const hashString = (s: string): number => hashSeeded(s, FNV_OFFSET)

/** `hashString` from another start than FNV's offset basis: where keys must not collide by choice (the engine's device table, a random seed each). */
export const hashSeeded = (s: string, seed: number): number => {
  let h = seed
  for (let i = 0; i < s.length; i++) h = fnvStep(h, s.charCodeAt(i))
  return fnvFinish(h)
}

/** murmur3's 32-bit finaliser: spreads small integers (ports, consecutive ids) over the whole range. */
export const hashNumber = (n: number): number => {
  let h = Math.imul(n ^ 0x9e3779b9, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** Distinct bits a map holds in its small form: their numbers (plus one) as the bytes of one word. */
const SMALL_BITS = 4

/** Sets the bits a small map holds in a full map at `base` of `words` (30 bits a word). */
const setSmallBits = (small: number, words: Int32Array | number[], base: number): void => {
  for (let k = 0; k < SMALL_BITS; k++) {
    const b = (small >>> (8 * k)) & 0xff
    if (b === 0) return
    words[base + (((b - 1) / 30) | 0)]! |= 1 << (b - 1) % 30
  }
}

/**
 * Distinct counts per window by linear counting over 180-bit maps (30 bits per word): `dims`
 * independent maps (say addresses and ports) for each of the last `slots` windows, the one being
 * evaluated and those the engine's lookahead may already have started. Standard error 5 to 9% from
 * a few dozen to several hundred keys, the range fan-out thresholds live in (a few keys may collide
 * below that); saturates near 900.
 *
 * A device's sketches are the first columns of its row of a detector's `Rows` (src/engine/rows.ts):
 * the `doubles` first of its floats hold each slot's window (-1: none), the `words` first of its
 * integers the maps. A map of a few keys, as nearly every device's is, is held small: the numbers of
 * its set bits (up to four) in one word. A device one of whose maps needs a fifth moves to the full
 * maps, 180 bits each, in a row of the ring's own, until it is released. The two forms hold the
 * same bits: estimates, and what a snapshot writes (the full maps), do not depend on the form.
 */
export class SketchRing {
  /** Floats of a row the sketches take: each slot's window. */
  readonly doubles: number
  /** 32-bit words of a row the sketches take: a small map per slot and dimension, then the row of the full maps (-1: none). */
  readonly words: number
  /** The full maps of the devices that needed them. */
  private readonly full: Rows

  constructor(
    readonly slots: number,
    readonly dims = 1,
  ) {
    this.doubles = slots
    this.words = slots * dims + 1
    this.full = new Rows(0, slots * dims * SKETCH_WORDS, 16)
  }

  /** Makes a fresh row's sketches empty (no slot holds a window, every map small). */
  init(rows: Rows, row: number): void {
    const at = row * rows.doubles
    rows.f.fill(-1, at, at + this.slots)
    rows.i[row * rows.words + this.words - 1] = -1
  }

  /** Gives back the full maps of a row's device (the detector is forgetting it). */
  release(rows: Rows, row: number): void {
    const full = rows.i[row * rows.words + this.words - 1]!
    if (full >= 0) this.full.release(full)
  }

  /** Devices whose maps are held in full. */
  get fullRows(): number {
    return this.full.size
  }

  /**
   * Adds a key's hash to map `dim` of `window`, reusing the slot of a window `slots` older.
   * Returns true when the key set a new bit (it is very likely a key not seen in the window).
   */
  add(rows: Rows, row: number, dim: number, hash: number, window: number): boolean {
    const { slots, dims } = this
    const slot = window % slots
    const at = row * rows.words
    const held = rows.f[row * rows.doubles + slot]!
    if (window !== held) {
      // An event older than the slot's window cannot reach here: the engine closes and rejects it first.
      if (window < held) return false
      rows.i.fill(0, at + slot * dims, at + slot * dims + dims)
      const full = rows.i[at + this.words - 1]!
      if (full >= 0) {
        const base = full * this.full.words + slot * dims * SKETCH_WORDS
        this.full.i.fill(0, base, base + dims * SKETCH_WORDS)
      }
      rows.f[row * rows.doubles + slot] = window
    }
    const bit = hash % SKETCH_BITS
    const full = rows.i[at + this.words - 1]!
    if (full < 0) {
      const i = at + slot * dims + dim
      const small = rows.i[i]!
      for (let k = 0; k < SMALL_BITS; k++) {
        const b = (small >>> (8 * k)) & 0xff
        if (b === bit + 1) return false
        if (b === 0) {
          rows.i[i] = small | ((bit + 1) << (8 * k))
          return true
        }
      }
      this.toFull(rows, row)
      return this.add(rows, row, dim, hash, window)
    }
    const w = this.full.i
    const i = full * this.full.words + (slot * dims + dim) * SKETCH_WORDS + ((bit / 30) | 0)
    const mask = 1 << bit % 30
    const word = w[i]!
    if ((word & mask) !== 0) return false
    w[i] = word | mask
    return true
  }

  /** Moves a row's small maps to full ones. */
  private toFull(rows: Rows, row: number): void {
    const full = this.full.alloc()
    const at = row * rows.words
    const base = full * this.full.words
    for (let m = 0; m < this.slots * this.dims; m++) {
      setSmallBits(rows.i[at + m]!, this.full.i, base + m * SKETCH_WORDS)
      rows.i[at + m] = 0
    }
    rows.i[at + this.words - 1] = full
  }

  /** The window a slot holds (-1: none). */
  windowAt(rows: Rows, row: number, slot: number): number {
    return rows.f[row * rows.doubles + slot]!
  }

  /** Estimated distinct keys added to map `dim` in `window` (0 when no slot holds it). */
  estimate(rows: Rows, row: number, dim: number, window: number): number {
    const slot = window % this.slots
    if (rows.f[row * rows.doubles + slot] !== window) return 0
    const at = row * rows.words
    const full = rows.i[at + this.words - 1]!
    let zeros = SKETCH_BITS
    if (full < 0) {
      const small = rows.i[at + slot * this.dims + dim]!
      for (let k = 0; k < SMALL_BITS && ((small >>> (8 * k)) & 0xff) !== 0; k++) zeros--
    } else {
      const base = full * this.full.words + (slot * this.dims + dim) * SKETCH_WORDS
      const w = this.full.i
      for (let i = base; i < base + SKETCH_WORDS; i++) zeros -= popcount(w[i]!)
    }
    if (zeros === 0) return Math.round(SKETCH_BITS * Math.log(SKETCH_BITS))
    return Math.round(-SKETCH_BITS * Math.log(zeros / SKETCH_BITS))
  }

  /** A row's sketches as a snapshot writes them: each slot's window, then the full maps' words (30 bits each). */
  toJSON(rows: Rows, row: number): number[] {
    const out: number[] = []
    for (let k = 0; k < this.doubles; k++) out.push(rows.f[row * rows.doubles + k]!)
    const at = row * rows.words
    const full = rows.i[at + this.words - 1]!
    for (let m = 0; m < this.slots * this.dims; m++) {
      const words = new Array<number>(SKETCH_WORDS).fill(0)
      if (full >= 0) {
        for (let k = 0; k < SKETCH_WORDS; k++) words[k] = this.full.i[full * this.full.words + m * SKETCH_WORDS + k]!
      } else {
        setSmallBits(rows.i[at + m]!, words, 0)
      }
      out.push(...words)
    }
    return out
  }

  /** Loads a snapshot's sketches into a row `init` made empty: those of another layout are left out (the row stays empty). */
  load(rows: Rows, row: number, data: readonly number[]): void {
    const maps = this.slots * this.dims
    if (data.length !== this.doubles + maps * SKETCH_WORDS) return
    for (let k = 0; k < this.doubles; k++) rows.f[row * rows.doubles + k] = data[k]!
    let most = 0
    for (let m = 0; m < maps; m++) {
      let bits = 0
      for (let k = 0; k < SKETCH_WORDS; k++) bits += popcount(data[this.doubles + m * SKETCH_WORDS + k]!)
      most = Math.max(most, bits)
    }
    if (most > SMALL_BITS) {
      const full = this.full.alloc()
      for (let k = 0; k < maps * SKETCH_WORDS; k++) this.full.i[full * this.full.words + k] = data[this.doubles + k]!
      rows.i[row * rows.words + this.words - 1] = full
      return
    }
    const at = row * rows.words
    for (let m = 0; m < maps; m++) {
      let small = 0
      let k = 0
      for (let bit = 0; bit < SKETCH_BITS; bit++) {
        if ((data[this.doubles + m * SKETCH_WORDS + ((bit / 30) | 0)]! & (1 << bit % 30)) === 0) continue
        small |= (bit + 1) << (8 * k++)
      }
      rows.i[at + m] = small
    }
  }
}

const popcount = (v: number): number => {
  let x = v - ((v >>> 1) & 0x55555555)
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333)
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff
}
