// Per-device rows of numbers in shared typed arrays: a detector's state can be a row number, with no object and no boxed number per device.

/**
 * Fixed-width rows, each `doubles` 64-bit floats and `words` 32-bit integers, in two typed arrays
 * shared by every device of a detector instance (one engine's). A device's state is its row's
 * number (a small integer: nothing to allocate); `alloc` gives a zeroed row, `release` takes it
 * back for the next device (the engine calls the detector's `forget` when it evicts a device).
 * The arrays are replaced as they grow: read `f` and `i` afresh after an `alloc`.
 */
export class Rows {
  f: Float64Array
  i: Int32Array
  protected capacity: number
  private used = 0
  /** Rows released, reused first. */
  private readonly freed: number[] = []

  constructor(
    readonly doubles: number,
    readonly words: number,
    capacity = 256,
  ) {
    this.capacity = capacity
    this.f = new Float64Array(capacity * doubles)
    this.i = new Int32Array(capacity * words)
  }

  /** Rows in use. */
  get size(): number {
    return this.used - this.freed.length
  }

  /** A row of zeros. */
  alloc(): number {
    const reused = this.freed.pop()
    if (reused !== undefined) {
      this.f.fill(0, reused * this.doubles, (reused + 1) * this.doubles)
      this.i.fill(0, reused * this.words, (reused + 1) * this.words)
      return reused
    }
    if (this.used === this.capacity) this.grow()
    return this.used++
  }

  /** Gives a row back: it must not be read or written again. */
  release(row: number): void {
    this.freed.push(row)
  }

  /**
   * An eighth more room at a time: a large fleet's rows carry 6 % unused on average (12.5 % at
   * most, just after a growth), and each byte is copied about eight times over the rows' growth.
   */
  private grow(): void {
    this.capacity = Math.ceil(this.capacity * 1.125) + 16
    const f = new Float64Array(this.capacity * this.doubles)
    f.set(this.f)
    const i = new Int32Array(this.capacity * this.words)
    i.set(this.i)
    this.f = f
    this.i = i
    this.grown(this.capacity)
  }

  /** The rows now hold `capacity` rows: for a subclass that keeps more arrays by row. */
  protected grown(_capacity: number): void {}
}
