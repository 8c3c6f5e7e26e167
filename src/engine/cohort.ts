// Model-level priors shared by a detector across devices: peer counts and streaming levels per model.
import { quantileSorted } from 'simple-statistics'

/**
 * Models tracked per prior at most. Model names come from the input; past this many, a new model
 * gets no prior of its own (its devices are judged by their own history and the floors), so a
 * stream of made-up model names cannot grow memory without bound.
 */
export const MAX_MODELS = 1024

/**
 * How many devices of a model use a key (a destination, a port). Bounded: past `maxKeys` per
 * model new keys are not counted, which errs towards treating them as unusual.
 */
export class ModelCounts<K extends string | number> {
  private readonly models = new Map<string, Map<K, number>>()

  constructor(readonly maxKeys: number) {}

  increment(model: string, key: K): void {
    let keys = this.models.get(model)
    if (keys === undefined) {
      if (this.models.size >= MAX_MODELS) return
      keys = new Map()
      this.models.set(model, keys)
    }
    const n = keys.get(key)
    if (n !== undefined) keys.set(key, n + 1)
    else if (keys.size < this.maxKeys) keys.set(key, 1)
  }

  get(model: string, key: K): number {
    return this.models.get(model)?.get(key) ?? 0
  }

  /** Sets a key's value (a count, or any number kept per model and key), within the same bounds. */
  set(model: string, key: K, value: number): void {
    let keys = this.models.get(model)
    if (keys === undefined) {
      if (this.models.size >= MAX_MODELS) return
      keys = new Map()
      this.models.set(model, keys)
    }
    if (keys.has(key) || keys.size < this.maxKeys) keys.set(key, value)
  }

  toJSON(): Record<string, [K, number][]> {
    const out: Record<string, [K, number][]> = {}
    for (const [model, keys] of this.models) out[model] = [...keys]
    return out
  }

  /** Replaces the counts with a snapshot's (`toJSON`). */
  load(data: Readonly<Record<string, readonly (readonly [K, number])[]>>): void {
    this.models.clear()
    for (const [model, keys] of Object.entries(data)) this.models.set(model, new Map(keys.map(([k, n]) => [k, n])))
  }
}

/** One model's recent observations and its cached quantile. */
interface Reservoir {
  readonly values: number[]
  /** Observations ever made (the ring position is `seen % size`). */
  seen: number
  /** Observations at the last computation of `level`. */
  computedAt: number
  level: number
}

/**
 * A quantile of a feature per model over its most recent `size` observations, exact and
 * deterministic (recomputed at most every `size / 32` observations once the ring is full), with
 * `initial` for a model never seen. `observations` tells a detector whether the model's level is
 * established yet: a cold model (the first minutes of a fleet) judges nobody.
 */
export class ModelLevel {
  private readonly models = new Map<string, Reservoir>()
  private readonly recomputeEvery: number

  constructor(
    readonly q: number,
    readonly initial: number,
    readonly size = 512,
  ) {
    this.recomputeEvery = Math.max(1, size >> 5)
  }

  observe(model: string, value: number): void {
    let r = this.models.get(model)
    if (r === undefined) {
      if (this.models.size >= MAX_MODELS) return
      r = { values: [], seen: 0, computedAt: -1, level: this.initial }
      this.models.set(model, r)
    }
    if (r.values.length < this.size) r.values.push(value)
    else r.values[r.seen % this.size] = value
    r.seen++
  }

  get(model: string): number {
    const r = this.models.get(model)
    if (r === undefined) return this.initial
    const stale = r.seen - r.computedAt
    if (stale > 0 && (r.values.length < this.size || stale >= this.recomputeEvery)) {
      r.level = quantileSorted(r.values.slice().sort((a, b) => a - b), this.q)
      r.computedAt = r.seen
    }
    return r.level
  }

  /** How many observations the model has had. */
  observations(model: string): number {
    return this.models.get(model)?.seen ?? 0
  }

  toJSON(): Record<string, { values: number[]; seen: number; computedAt: number; level: number }> {
    const out: Record<string, { values: number[]; seen: number; computedAt: number; level: number }> = {}
    for (const [model, r] of this.models) out[model] = { values: r.values.slice(), seen: r.seen, computedAt: r.computedAt, level: r.level }
    return out
  }

  /** Replaces the levels with a snapshot's (`toJSON`). */
  load(data: Readonly<Record<string, { values: number[]; seen: number; computedAt: number; level: number }>>): void {
    this.models.clear()
    for (const [model, r] of Object.entries(data)) {
      this.models.set(model, { values: r.values.slice(), seen: r.seen, computedAt: r.computedAt, level: r.level })
    }
  }
}

/** Maps how far `value` exceeds `threshold` to a score in [0.5, 1]: 0.5 at the threshold, 1 at 8x. */
export const ratioScore = (value: number, threshold: number): number =>
  threshold <= 0 ? 1 : Math.min(1, Math.max(0.5, 0.5 + Math.log2(value / threshold) / 6))
