// Seeded pseudo-random numbers for the synthetic fleet: sfc32 seeded through a 32-bit mixer, plus the draws the generator needs.

/** FNV-1a of a string: turns a label (a device id, a purpose) into a 32-bit stream id. */
export const hash32 = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** murmur3's finaliser: spreads every input bit over the whole word. */
const mix32 = (value: number): number => {
  let x = value >>> 0
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b)
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35)
  return (x ^ (x >>> 16)) >>> 0
}

/**
 * Cumulative weights of a Zipf distribution over ranks 0..n-1 (weight 1/(rank+1)^s), for
 * `Rng.zipf`. Mail and CDN popularity are heavy-tailed: a few servers take most connections.
 */
export const zipfTable = (n: number, s: number): Float64Array => {
  const table = new Float64Array(n)
  let sum = 0
  for (let r = 0; r < n; r++) {
    sum += 1 / (r + 1) ** s
    table[r] = sum
  }
  return table
}

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator): 128 bits of state, passes
 * PractRand far beyond what a fixture needs, and is trivially reproducible in any language.
 * Streams are derived by label (`derive`), never by consumption order, so adding a device or a
 * behaviour does not shift the numbers drawn for the others.
 */
export class Rng {
  readonly seed: number
  #a: number
  #b: number
  #c: number
  #d: number

  constructor(seed: number) {
    this.seed = seed >>> 0
    this.#a = mix32(this.seed ^ 0x9e3779b9)
    this.#b = mix32(this.#a ^ 0x243f6a88)
    this.#c = mix32(this.#b ^ 0xb7e15162)
    this.#d = 1
    for (let i = 0; i < 15; i++) this.uint32()
  }

  /** An independent stream for `label`, a function of this stream's seed and the label only. */
  derive(label: string): Rng {
    return new Rng(mix32((this.seed ^ hash32(label)) + 0x6d2b79f5))
  }

  uint32(): number {
    const a = this.#a
    const b = this.#b
    const c = this.#c
    const t = (((a + b) | 0) + this.#d) | 0
    this.#d = (this.#d + 1) | 0
    this.#a = b ^ (b >>> 9)
    this.#b = (c + (c << 3)) | 0
    this.#c = (((c << 21) | (c >>> 11)) + t) | 0
    return t >>> 0
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.uint32() / 4_294_967_296
  }

  /** Uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }

  /** Uniform in [min, max). */
  float(min: number, max: number): number {
    return min + this.next() * (max - min)
  }

  chance(p: number): boolean {
    return this.next() < p
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list')
    return items[Math.floor(this.next() * items.length)] as T
  }

  /** One item, with probability proportional to its weight. */
  weighted<T>(choices: readonly (readonly [T, number])[]): T {
    const total = choices.reduce((s, [, w]) => s + w, 0)
    let u = this.next() * total
    for (const [item, w] of choices) {
      u -= w
      if (u < 0) return item
    }
    const last = choices[choices.length - 1]
    if (last === undefined) throw new RangeError('weighted pick from an empty list')
    return last[0]
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items]
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1))
      const tmp = out[i] as T
      out[i] = out[j] as T
      out[j] = tmp
    }
    return out
  }

  /** Gaussian (Box–Muller; one draw per call keeps streams simple to reason about). */
  normal(mean = 0, sd = 1): number {
    const u = 1 - this.next()
    const v = this.next()
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
  }

  /** Log-normal with the given median; `sigma` is the spread of its logarithm. */
  lognormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal())
  }

  exponential(mean: number): number {
    return -mean * Math.log(1 - this.next())
  }

  /** Poisson count: Knuth's product method for small means, a rounded Gaussian above 30. */
  poisson(mean: number): number {
    if (mean <= 0) return 0
    if (mean > 30) return Math.max(0, Math.round(this.normal(mean, Math.sqrt(mean))))
    const limit = Math.exp(-mean)
    let k = 0
    let p = this.next()
    while (p > limit) {
      k++
      p *= this.next()
    }
    return k
  }

  /** `value` scaled by a uniform factor in [1 - fraction, 1 + fraction]. */
  jitter(value: number, fraction: number): number {
    return value * (1 + this.float(-fraction, fraction))
  }

  /** A rank drawn from a `zipfTable`. */
  zipf(table: Float64Array): number {
    const total = table[table.length - 1] ?? 0
    const u = this.next() * total
    let lo = 0
    let hi = table.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((table[mid] ?? 0) > u) hi = mid
      else lo = mid + 1
    }
    return lo
  }
}
