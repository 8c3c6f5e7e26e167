// Window math for detectors: rolling per-window sums, bounded recent-distinct sets and sketches.
// Plain number arrays, not typed arrays: for a few dozen slots V8 stores them unboxed with far
// less per-object overhead, which keeps per-device state small (the benchmark measures it).

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
 * The most recently seen distinct keys (at most `capacity`), each with the last window it was
 * seen in. When full, the key seen longest ago makes room. Counts saturate at `capacity`,
 * so thresholds must stay below it.
 */
export class RecentDistinct {
  readonly keys: string[] = []
  readonly seen: number[] = []

  constructor(readonly capacity: number) {}

  /** Records `key` in `window`; returns true when the key was not held before. */
  add(key: string, window: number): boolean {
    const { keys, seen } = this
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] === key) {
        if (window > seen[i]!) seen[i] = window
        return false
      }
    }
    if (keys.length < this.capacity) {
      keys.push(key)
      seen.push(window)
      return true
    }
    let oldest = 0
    for (let i = 1; i < seen.length; i++) if (seen[i]! < seen[oldest]!) oldest = i
    keys[oldest] = key
    seen[oldest] = window
    return true
  }

  /** Distinct keys seen in (end - span, end]. */
  count(end: number, span: number): number {
    let n = 0
    const from = end - span
    for (let i = 0; i < this.seen.length; i++) {
      const w = this.seen[i]!
      if (w > from && w <= end) n++
    }
    return n
  }

  toJSON(): { capacity: number; keys: string[]; seen: number[] } {
    return { capacity: this.capacity, keys: this.keys.slice(), seen: this.seen.slice() }
  }

  static from(data: { capacity: number; keys: string[]; seen: number[] }): RecentDistinct {
    const set = new RecentDistinct(data.capacity)
    set.keys.push(...data.keys)
    set.seen.push(...data.seen)
    return set
  }

  /** Up to `limit` keys seen in (end - span, end], most recent first, ties by key. */
  top(end: number, span: number, limit: number): string[] {
    const from = end - span
    const idx: number[] = []
    for (let i = 0; i < this.seen.length; i++) {
      const w = this.seen[i]!
      if (w > from && w <= end) idx.push(i)
    }
    idx.sort((a, b) => this.seen[b]! - this.seen[a]! || (this.keys[a]! < this.keys[b]! ? -1 : 1))
    return idx.slice(0, limit).map((i) => this.keys[i]!)
  }
}

const SKETCH_WORDS = 16
const SKETCH_BITS = SKETCH_WORDS * 30

/**
 * FNV-1a over a string's UTF-16 code units, finished with murmur3's mixer so that similar keys
 * (addresses differing in one digit) spread over the whole range: cheap and deterministic.
 */
export const hashString = (s: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * Distinct count of one window by linear counting over a 480-bit map (30 bits per array slot,
 * so the slots stay small integers). Accurate to a few percent up to several hundred keys,
 * which is the range fan-out thresholds live in; 80 bytes per device instead of a set.
 */
export class DistinctSketch {
  window = -1
  readonly bits: number[] = new Array<number>(SKETCH_WORDS).fill(0)

  /** Adds a key's hash to the map of `window`, starting a new map when the window moves on. */
  add(hash: number, window: number): void {
    if (window > this.window) {
      this.bits.fill(0)
      this.window = window
    }
    // A late event of an earlier window counts in the current one: fan-out is a rate.
    const bit = hash % SKETCH_BITS
    const word = (bit / 30) | 0
    this.bits[word]! |= 1 << bit % 30
  }

  static from(data: { window: number; bits: number[] }): DistinctSketch {
    const sketch = new DistinctSketch()
    sketch.window = data.window
    for (let i = 0; i < SKETCH_WORDS; i++) sketch.bits[i] = data.bits[i] ?? 0
    return sketch
  }

  /** Estimated distinct keys added in `window` (0 for any other window). */
  estimate(window: number): number {
    if (window !== this.window) return 0
    let zeros = 0
    for (let i = 0; i < SKETCH_WORDS; i++) zeros += 30 - popcount(this.bits[i]!)
    if (zeros === 0) return SKETCH_BITS * Math.log(SKETCH_BITS)
    return Math.round(-SKETCH_BITS * Math.log(zeros / SKETCH_BITS))
  }
}

const popcount = (v: number): number => {
  let x = v - ((v >>> 1) & 0x55555555)
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333)
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff
}

/**
 * Streaming quantile estimate in log space (frugal streaming): each observation nudges the
 * estimate up by `(q) * step` or down by `(1 - q) * step`. Deterministic, O(1) memory; used for
 * model-level priors over many devices' observations.
 */
export class LogQuantile {
  value: number

  constructor(
    readonly q: number,
    readonly step: number,
    initial: number,
  ) {
    this.value = Math.log1p(initial)
  }

  observe(x: number): void {
    const lx = Math.log1p(x)
    if (lx > this.value) this.value += this.step * this.q
    else if (lx < this.value) this.value -= this.step * (1 - this.q)
  }

  get estimate(): number {
    return Math.expm1(this.value)
  }
}
