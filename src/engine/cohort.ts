// Model-level priors shared by a detector across devices: peer counts and streaming levels per model.
import { LogQuantile } from './window.ts'

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

  toJSON(): Record<string, [K, number][]> {
    const out: Record<string, [K, number][]> = {}
    for (const [model, keys] of this.models) out[model] = [...keys]
    return out
  }
}

/** A streaming quantile of a feature per model, seeded with `initial` for a model never seen. */
export class ModelLevel {
  private readonly models = new Map<string, LogQuantile>()

  constructor(
    readonly q: number,
    readonly step: number,
    readonly initial: number,
  ) {}

  observe(model: string, value: number): void {
    let level = this.models.get(model)
    if (level === undefined) {
      level = new LogQuantile(this.q, this.step, this.initial)
      this.models.set(model, level)
    }
    level.observe(value)
  }

  get(model: string): number {
    return this.models.get(model)?.estimate ?? this.initial
  }
}

/** Maps how far `value` exceeds `threshold` to a score in [0.5, 1]: 0.5 at the threshold, 1 at 8x. */
export const ratioScore = (value: number, threshold: number): number =>
  threshold <= 0 ? 1 : Math.min(1, Math.max(0.5, 0.5 + Math.log2(value / threshold) / 6))
