// One fleet view: what detectors know of each model, merged epoch by epoch from every shard's contributions, the same for any number of shards.
//
// Every shard (a pipeline: one partition of `run`, one `--partitions` shard of replay) adds what its
// devices teach about their model to a contribution of the epoch (an event-time period) the teaching
// happened in. When a shard's clock passes an epoch's end (plus the lateness), the shard closes it
// and publishes its contribution. Once every shard has closed epoch k, the fleet's level k is the
// level before it with every contribution of k folded in: sums, minimums and unions, so neither the
// number of shards nor the order they publish in changes it. Detectors read, for data of epoch e,
// the level of e - LAG_EPOCHS: the same level in every shard, whatever it is doing meanwhile.
import { hashNumber } from './window.ts'

/** Data of epoch e is judged with the fleet's level of epoch e - LAG_EPOCHS (every contribution up to it). */
export const LAG_EPOCHS = 2

/** A model's distinct devices are counted per epoch; `devices()` is the largest count of this many recent epochs. */
const ACTIVE_EPOCHS = 6

/** Histogram weights decay by this per epoch: a model's levels follow it over hours (half-life ~1 h at 10 min epochs). */
const DECAY = 0.9

// Histogram buckets: exact below LINEAR, then SUB log-spaced buckets per power of two (~9 % wide).
const LINEAR = 32
const SUB = 8
const LOG_BASE = Math.log2(LINEAR)
export const HISTOGRAM_BUCKETS = LINEAR + SUB * 48

export const bucketOf = (v: number): number => {
  if (!(v > 0)) return 0
  if (v < LINEAR) return Math.floor(v)
  return Math.min(HISTOGRAM_BUCKETS - 1, LINEAR + Math.floor((Math.log2(v) - LOG_BASE) * SUB))
}

/** The value a bucket stands for: its integer, or the geometric middle of its range. */
export const bucketValue = (b: number): number => (b < LINEAR ? b : 2 ** (LOG_BASE + (b - LINEAR + 0.5) / SUB))

/** Bits of a model's known-hosts filter (a Bloom filter with two hashes): 4 KiB a model; ~5 % false "known" at 4,000 hosts. */
const KNOWN_BITS = 1 << 15

export type FacetSpec =
  /** How many devices of a model use a key (a destination hash, a port): a sum per key, at most `maxKeys` keys a model. */
  | { readonly kind: 'counts'; readonly name: string; readonly maxKeys: number }
  /**
   * A distribution of a per-device value per model: quantiles, mean, share below a value. Decayed
   * (recent observations weigh most) unless `latest`: then each device holds one value, which it
   * replaces (a retraction of its old value and its new one, in one epoch) and retracts when it goes.
   */
  | { readonly kind: 'histogram'; readonly name: string; readonly latest?: true }
  /**
   * Hosts a model took up: since when the model is seen, hosts it knows (a Bloom filter) and hosts
   * new to it (first window, devices that took them up). A new host retires `horizonWindows` after
   * its first use: known from then on when two devices or more took it up, forgotten otherwise.
   */
  | { readonly kind: 'hosts'; readonly name: string; readonly horizonWindows: number; readonly maxNovel: number }

// ---------------------------------------------------------------------------------------------
// Contributions: what one shard (or, merged, every shard) learned in one epoch.

interface HistogramDelta {
  readonly buckets: Map<number, number>
  count: number
  sum: number
}

interface HostsDelta {
  since: number
  readonly known: Set<number>
  /** Host hash → [first window, devices that took it up]. */
  readonly adopt: Map<number, [number, number]>
}

type FacetDelta = Map<string, Map<number, number>> | Map<string, HistogramDelta> | Map<string, HostsDelta>

/** One epoch's contribution: per facet and model, plus the devices active per model. */
export class Contribution {
  readonly facets: FacetDelta[] = []
  /** Devices with an event in the epoch, per model. */
  readonly active = new Map<string, number>()

  get empty(): boolean {
    return this.active.size === 0 && this.facets.every((f) => f === undefined || f.size === 0)
  }

  counts(facet: number): Map<string, Map<number, number>> {
    return (this.facets[facet] ??= new Map()) as Map<string, Map<number, number>>
  }

  histograms(facet: number): Map<string, HistogramDelta> {
    return (this.facets[facet] ??= new Map()) as Map<string, HistogramDelta>
  }

  hosts(facet: number): Map<string, HostsDelta> {
    return (this.facets[facet] ??= new Map()) as Map<string, HostsDelta>
  }

  /** Adds another contribution of the same epoch (sums, minimums, unions: any order gives the same). */
  merge(other: Contribution, specs: readonly FacetSpec[]): void {
    for (const [model, n] of other.active) this.active.set(model, (this.active.get(model) ?? 0) + n)
    other.facets.forEach((delta, i) => {
      if (delta === undefined) return
      const kind = specs[i]!.kind
      if (kind === 'counts') {
        const into = this.counts(i)
        for (const [model, keys] of delta as Map<string, Map<number, number>>) {
          let m = into.get(model)
          if (m === undefined) into.set(model, (m = new Map()))
          for (const [k, n] of keys) m.set(k, (m.get(k) ?? 0) + n)
        }
      } else if (kind === 'histogram') {
        const into = this.histograms(i)
        for (const [model, h] of delta as Map<string, HistogramDelta>) {
          let m = into.get(model)
          if (m === undefined) into.set(model, (m = { buckets: new Map(), count: 0, sum: 0 }))
          for (const [b, n] of h.buckets) m.buckets.set(b, (m.buckets.get(b) ?? 0) + n)
          m.count += h.count
          m.sum += h.sum
        }
      } else {
        const into = this.hosts(i)
        for (const [model, h] of delta as Map<string, HostsDelta>) {
          let m = into.get(model)
          if (m === undefined) into.set(model, (m = { since: Infinity, known: new Set(), adopt: new Map() }))
          m.since = Math.min(m.since, h.since)
          for (const k of h.known) m.known.add(k)
          for (const [hash, [first, devices]] of h.adopt) {
            const a = m.adopt.get(hash)
            if (a === undefined) m.adopt.set(hash, [first, devices])
            else {
              a[0] = Math.min(a[0], first)
              a[1] += devices
            }
          }
        }
      }
    })
  }

  toJSON(): ContributionJSON {
    return {
      active: [...this.active],
      facets: this.facets.map((delta) => {
        if (delta === undefined) return null
        const out: Record<string, unknown> = {}
        for (const [model, v] of delta as Map<string, unknown>) {
          if (v instanceof Map) out[model] = [...(v as Map<number, number>)]
          else if ('buckets' in (v as object)) {
            const h = v as HistogramDelta
            out[model] = { b: [...h.buckets], c: h.count, s: h.sum }
          } else {
            const h = v as HostsDelta
            out[model] = { since: Number.isFinite(h.since) ? h.since : null, known: [...h.known], adopt: [...h.adopt].map(([k, [f, d]]) => [k, f, d]) }
          }
        }
        return out
      }),
    }
  }

  static fromJSON(data: ContributionJSON, specs: readonly FacetSpec[]): Contribution {
    const c = new Contribution()
    for (const [model, n] of data.active) c.active.set(model, n)
    data.facets.forEach((delta, i) => {
      if (delta === null || delta === undefined) return
      const spec = specs[i]
      if (spec === undefined) throw new Error(`fleet contribution: facet ${i} is not one of the ${specs.length} this configuration has`)
      for (const [model, v] of Object.entries(delta)) {
        if (spec.kind === 'counts') c.counts(i).set(model, new Map(v as [number, number][]))
        else if (spec.kind === 'histogram') {
          const h = v as { b: [number, number][]; c: number; s: number }
          c.histograms(i).set(model, { buckets: new Map(h.b), count: h.c, sum: h.s })
        } else {
          const h = v as { since: number | null; known: number[]; adopt: [number, number, number][] }
          c.hosts(i).set(model, { since: h.since ?? Infinity, known: new Set(h.known), adopt: new Map(h.adopt.map(([k, f, d]) => [k, [f, d]])) })
        }
      }
    })
    return c
  }
}

export interface ContributionJSON {
  readonly active: readonly (readonly [string, number])[]
  readonly facets: readonly (Record<string, unknown> | null)[]
}

// ---------------------------------------------------------------------------------------------
// Levels: the fleet's knowledge as of an epoch. Immutable; a level shares every model (and every
// facet of a model) its contributions did not touch with the level before it.

interface HistogramState {
  /** Bucket weights, decayed to epoch `tag` (quantiles do not depend on a common scale). */
  readonly buckets: Float64Array
  readonly weight: number
  readonly sum: number
  /** Observations ever, undecayed. */
  readonly total: number
  readonly tag: number
  /** Quantiles asked for so far: the state never changes, so neither do they. */
  readonly quantiles: Map<number, number>
  /** Mean and variance over the buckets, once asked for. */
  moments?: Moments
}

/** A distribution's mean and variance (of its buckets' values) and its decayed weight. */
export interface Moments {
  readonly mean: number
  readonly variance: number
  readonly weight: number
}

interface HostsState {
  readonly since: number
  readonly known: Uint8Array
  /** Host hash → first window and devices that took it up; retired ones leave at the next fold. */
  readonly novel: ReadonlyMap<number, { readonly first: number; readonly devices: number }>
}

type FacetState = CountsState | HistogramState | HostsState

interface ModelView {
  readonly facets: readonly (FacetState | undefined)[]
  /** [epoch, devices active] of the model's last ACTIVE_EPOCHS active epochs, oldest first. */
  readonly active: readonly (readonly [number, number])[]
}

export class FleetLevel {
  constructor(
    /** Every contribution up to this epoch is in; -Infinity for the empty level. */
    readonly epoch: number,
    readonly models: ReadonlyMap<string, ModelView>,
  ) {}
}

const EMPTY_LEVEL = new FleetLevel(-Infinity, new Map())

const isKnownBit = (known: Uint8Array, hash: number): boolean => {
  const b1 = hash & (KNOWN_BITS - 1)
  const b2 = hashNumber(hash) & (KNOWN_BITS - 1)
  return (known[b1 >>> 3]! & (1 << (b1 & 7))) !== 0 && (known[b2 >>> 3]! & (1 << (b2 & 7))) !== 0
}

const setKnownBit = (known: Uint8Array, hash: number): void => {
  const b1 = hash & (KNOWN_BITS - 1)
  const b2 = hashNumber(hash) & (KNOWN_BITS - 1)
  known[b1 >>> 3]! |= 1 << (b1 & 7)
  known[b2 >>> 3]! |= 1 << (b2 & 7)
}

/** Whether a new host is past its horizon at `epoch` (read as retired, and retired at the next fold). */
const retiredAt = (first: number, epoch: number, windowsPerEpoch: number, horizon: number): boolean => (epoch + 1) * windowsPerEpoch - first > horizon

/** What folds could not take (a metric): an epoch's contribution of a model past the model cap (one per model and epoch), keys past a facet's cap. */
export interface FleetRefusals {
  models: number
  keys: number
}

/** Level `epoch`: `prev` with `c` folded in. Deterministic: the same contribution gives the same level, however it was assembled. */
const fold = (prev: FleetLevel, epoch: number, c: Contribution | undefined, specs: readonly FacetSpec[], settings: FleetSettings, refused: FleetRefusals): FleetLevel => {
  if (c === undefined || c.empty) return new FleetLevel(epoch, prev.models)
  const models = new Map(prev.models)
  const touched = new Set<string>(c.active.keys())
  for (const delta of c.facets) if (delta !== undefined) for (const model of delta.keys()) touched.add(model)
  const fresh = [...touched].filter((m) => !models.has(m))
  // Over the cap, new models are taken in name order: which ones does not depend on the shards.
  const room = settings.maxModels - models.size
  if (fresh.length > room) {
    fresh.sort()
    for (const m of fresh.slice(Math.max(0, room))) touched.delete(m)
    refused.models += fresh.length - Math.max(0, room)
  }
  for (const model of touched) {
    const before = models.get(model)
    const facets: (FacetState | undefined)[] = before === undefined ? [] : before.facets.slice()
    specs.forEach((spec, i) => {
      const delta = c.facets[i]?.get(model)
      if (delta === undefined) return
      if (spec.kind === 'counts') facets[i] = ((facets[i] as CountsState | undefined) ?? EMPTY_COUNTS).fold(delta as Map<number, number>, spec.maxKeys, refused)
      else if (spec.kind === 'histogram') facets[i] = foldHistogram(facets[i] as HistogramState | undefined, delta as HistogramDelta, epoch, spec.latest ? 1 : DECAY)
      else facets[i] = foldHosts(facets[i] as HostsState | undefined, delta as HostsDelta, epoch, spec, settings.windowsPerEpoch)
    })
    const n = c.active.get(model)
    let active = before?.active ?? []
    if (n !== undefined) active = [...active.slice(-(ACTIVE_EPOCHS - 1)), [epoch, n]]
    models.set(model, { facets, active })
  }
  return new FleetLevel(epoch, models)
}

const NO_COUNTS: ReadonlyMap<number, number> = new Map()

/**
 * A model's counts per key, in two layers: a large base and the keys changed since it was made. A
 * fold copies only the small top layer; once the top grows to a quarter of the base, the two are
 * merged into a new base (each level stays immutable: the level before shares what did not change).
 */
export class CountsState {
  constructor(
    private readonly base: ReadonlyMap<number, number>,
    private readonly top: ReadonlyMap<number, number>,
    /** Keys held, both layers together. */
    readonly size: number,
  ) {}

  get(key: number): number | undefined {
    const v = this.top.get(key)
    return v !== undefined ? v : this.base.get(key)
  }

  entries(): [number, number][] {
    const out = new Map(this.base)
    for (const [k, v] of this.top) out.set(k, v)
    return [...out]
  }

  /** This state with `delta` added: new keys past `maxKeys` are refused in key order, whatever order the shards sent them in. */
  fold(delta: Map<number, number>, maxKeys: number, refused: FleetRefusals): CountsState {
    const top = new Map(this.top)
    let size = this.size
    let fresh: number[] | null = null
    for (const [k, n] of delta) {
      const had = this.get(k)
      if (had !== undefined) top.set(k, had + n)
      else (fresh ??= []).push(k)
    }
    if (fresh !== null) {
      if (size + fresh.length > maxKeys) fresh.sort((a, b) => a - b)
      for (const k of fresh) {
        if (size >= maxKeys) {
          refused.keys++
          continue
        }
        top.set(k, delta.get(k)!)
        size++
      }
    }
    if (top.size > 64 && top.size * 4 > this.base.size) {
      const base = new Map(this.base)
      for (const [k, v] of top) base.set(k, v)
      return new CountsState(base, NO_COUNTS, size)
    }
    return new CountsState(this.base, top, size)
  }
}

const EMPTY_COUNTS = new CountsState(NO_COUNTS, NO_COUNTS, 0)

const foldHistogram = (prev: HistogramState | undefined, delta: HistogramDelta, epoch: number, decay: number): HistogramState => {
  const buckets = new Float64Array(HISTOGRAM_BUCKETS)
  let weight = 0
  let sum = 0
  if (prev !== undefined) {
    const scale = decay ** (epoch - prev.tag)
    for (let b = 0; b < HISTOGRAM_BUCKETS; b++) buckets[b] = prev.buckets[b]! * scale
    weight = prev.weight * scale
    sum = prev.sum * scale
  }
  for (const [b, n] of delta.buckets) buckets[b]! += n
  return { buckets, weight: weight + delta.count, sum: sum + delta.sum, total: (prev?.total ?? 0) + delta.count, tag: epoch, quantiles: new Map() }
}

const foldHosts = (prev: HostsState | undefined, delta: HostsDelta, epoch: number, spec: FacetSpec & { kind: 'hosts' }, windowsPerEpoch: number): HostsState => {
  const known = prev === undefined ? new Uint8Array(KNOWN_BITS / 8) : prev.known.slice()
  for (const hash of delta.known) setKnownBit(known, hash)
  const novel = new Map<number, { first: number; devices: number }>()
  if (prev !== undefined) for (const [hash, e] of prev.novel) novel.set(hash, { first: e.first, devices: e.devices })
  for (const [hash, [first, devices]] of delta.adopt) {
    const e = novel.get(hash)
    if (e === undefined) novel.set(hash, { first, devices })
    else {
      e.first = Math.min(e.first, first)
      e.devices += devices
    }
  }
  const retire = (hash: number, e: { devices: number }): void => {
    novel.delete(hash)
    // A host several devices took up is the model's from now on; one a single device used (a scanned
    // address, a mail server) is forgotten, so the filter does not fill with them.
    if (e.devices >= 2) setKnownBit(known, hash)
  }
  for (const [hash, e] of novel) if (retiredAt(e.first, epoch, windowsPerEpoch, spec.horizonWindows)) retire(hash, e)
  if (novel.size > spec.maxNovel) {
    // Full: the oldest leave first (ties by hash), so a scanner churning through addresses cannot blind the model.
    const order = [...novel].sort(([ha, a], [hb, b]) => a.first - b.first || ha - hb)
    for (const [hash, e] of order.slice(0, novel.size - spec.maxNovel)) retire(hash, e)
  }
  return { since: Math.min(prev?.since ?? Infinity, delta.since), known, novel }
}

// ---------------------------------------------------------------------------------------------
// The view: levels as the shards' contributions complete them.

export interface FleetSettings {
  /** Epoch length (ms), a multiple of the window. */
  readonly epochMs: number
  readonly windowsPerEpoch: number
  /** Shards that contribute: an epoch's level exists once every one of them has closed it. */
  readonly shards: number
  /** Models the view holds at most; past them a new model gets no fleet knowledge (its devices are judged by their own history). */
  readonly maxModels: number
}

/** A shard's publication: it has closed every epoch up to `closedThrough`; these are its contributions to them. */
export interface Publication {
  readonly shard: number
  readonly closedThrough: number
  /** The shard's clock when it published (newest event time it has seen, or the time it was moved to); not read by the view itself. */
  readonly clock: number
  readonly epochs: readonly (readonly [number, Contribution])[]
}

/** Levels kept below the newest: shards read at most LAG_EPOCHS + 1 epochs behind the view's newest level. */
const KEEP_LEVELS = LAG_EPOCHS + 2

export class FleetView {
  readonly specs: FacetSpec[] = []
  /** Epochs every shard has closed: levels up to this one can be read. */
  complete = -Infinity
  readonly refused: FleetRefusals = { models: 0, keys: 0 }
  /** Contributions that came after their epoch was complete (a shard whose state was lost and started afresh), left out. */
  stale = 0
  /** Levels from this epoch on are kept whatever `complete` is (the newest at or before it too): what a shard restoring a committed state may read. */
  private floor = Infinity
  private readonly closed: number[]
  /** Contributions of epochs past `complete`, merged over the shards that sent them. */
  private readonly pending = new Map<number, Contribution>()
  /** Materialised levels, oldest first: level(e) is the newest of them at or before e. */
  private levels: FleetLevel[] = [EMPTY_LEVEL]

  constructor(readonly settings: FleetSettings) {
    this.closed = new Array<number>(settings.shards).fill(-Infinity)
  }

  /** A facet's index; pipelines made from one configuration register the same facets in the same order. */
  register(spec: FacetSpec): number {
    const i = this.specs.findIndex((s) => s.name === spec.name)
    if (i < 0) return this.specs.push(spec) - 1
    if (JSON.stringify(this.specs[i]) !== JSON.stringify(spec)) throw new Error(`fleet facet ${spec.name} registered twice with different settings`)
    return i
  }

  epochOf(ts: number): number {
    return Math.floor(ts / this.settings.epochMs)
  }

  /** The epochs shard `s` has closed, as its publications said. */
  closedBy(s: number): number {
    return this.closed[s] ?? -Infinity
  }

  publish(p: Publication): void {
    const { shard } = p
    if (shard < 0 || shard >= this.settings.shards) throw new Error(`fleet publication of shard ${shard}: the fleet has ${this.settings.shards} shards`)
    for (const [epoch, c] of p.epochs) {
      // What a shard sends again (a batch processed again after a failed commit) is not added twice.
      if (epoch <= this.closed[shard]!) continue
      if (epoch <= this.complete) {
        this.stale++
        continue
      }
      let merged = this.pending.get(epoch)
      if (merged === undefined) this.pending.set(epoch, (merged = new Contribution()))
      merged.merge(c, this.specs)
    }
    if (p.closedThrough > this.closed[shard]!) this.closed[shard] = p.closedThrough
    let complete = Infinity
    for (const c of this.closed) if (c < complete) complete = c
    if (complete <= this.complete) return
    const epochs = [...this.pending.keys()].filter((e) => e <= complete).sort((a, b) => a - b)
    let level = this.levels[this.levels.length - 1]!
    for (const e of epochs) {
      level = fold(level, e, this.pending.get(e), this.specs, this.settings, this.refused)
      this.pending.delete(e)
      this.levels.push(level)
    }
    this.complete = complete
    this.prune()
  }

  /**
   * Keeps the levels from `epoch` on (and the newest before it), however far `complete` moves: `run`'s
   * member view runs ahead of what its shards have committed, and a shard that fails restores a
   * committed state, which reads older levels.
   */
  retainFrom(epoch: number): void {
    this.floor = epoch
    this.prune()
  }

  private prune(): void {
    // The newest level at or before complete - KEEP_LEVELS stays: reads of the oldest epoch still
    // readable resolve to it.
    const oldest = Math.min(this.complete - KEEP_LEVELS, this.floor)
    let keepFrom = 0
    for (let i = 0; i < this.levels.length; i++) if (this.levels[i]!.epoch <= oldest) keepFrom = i
    if (keepFrom > 0) this.levels = this.levels.slice(keepFrom)
  }

  /** The fleet's knowledge as of `epoch` (every contribution up to it), for reads of data of epoch + LAG_EPOCHS. */
  level(epoch: number): FleetLevel {
    if (epoch > this.complete) throw new Error(`fleet level ${epoch} read before every shard closed it (complete through ${this.complete})`)
    const levels = this.levels
    for (let i = levels.length - 1; i >= 0; i--) if (levels[i]!.epoch <= epoch) return levels[i]!
    throw new Error(`fleet level ${epoch} is older than the levels kept (from ${levels[0]!.epoch})`)
  }

  /**
   * The view as JSON: the levels kept and the shards' closed epochs. A fleet of one shard
   * checkpoints its view this way (its shard's changelog carries it); `run`'s shared view writes it to
   * the models topic now and then (`withoutPending`: the contributions past `complete` are in the
   * topic on their own), so that a member starting later needs only the contributions since.
   */
  toJSON(withoutPending = false): FleetViewJSON {
    if (this.pending.size > 0 && !withoutPending) throw new Error('a fleet view with contributions waiting for other shards cannot be checkpointed')
    return {
      complete: finite(this.complete),
      closed: this.closed.map(finite),
      refused: { ...this.refused },
      // Only the levels reads can still ask for: data of the open epochs reads complete - 1 and on,
      // and a shard restoring a committed state behind it (`retainFrom`) reads from there.
      levels: this.levels
        .filter((l, i) => i + 1 >= this.levels.length || this.levels[i + 1]!.epoch > Math.min(this.complete - 1, this.floor))
        .map((l) => [finite(l.epoch), [...l.models].map(([model, m]) => [model, modelToJSON(m, this.specs)])]),
    }
  }

  load(data: FleetViewJSON): void {
    this.complete = data.complete ?? -Infinity
    data.closed.forEach((c, i) => (this.closed[i] = c ?? -Infinity))
    Object.assign(this.refused, data.refused)
    this.pending.clear()
    this.levels = data.levels.map(([epoch, models]) =>
      epoch === null && models.length === 0 ? EMPTY_LEVEL : new FleetLevel(epoch ?? -Infinity, new Map(models.map(([model, m]) => [model, modelFromJSON(m, this.specs)]))),
    )
    if (this.levels.length === 0) this.levels = [EMPTY_LEVEL]
  }

}

const finite = (n: number): number | null => (Number.isFinite(n) ? n : null)

export interface FleetViewJSON {
  readonly complete: number | null
  readonly closed: readonly (number | null)[]
  readonly refused: FleetRefusals
  readonly levels: readonly (readonly [number | null, readonly (readonly [string, ModelJSON])[]])[]
}

interface ModelJSON {
  readonly facets: readonly unknown[]
  readonly active: readonly (readonly [number, number])[]
}

const modelToJSON = (m: ModelView, specs: readonly FacetSpec[]): ModelJSON => ({
  active: m.active,
  facets: specs.map((spec, i) => {
    const f = m.facets[i]
    if (f === undefined) return null
    if (spec.kind === 'counts') return (f as CountsState).entries()
    if (spec.kind === 'histogram') {
      const h = f as HistogramState
      const b: [number, number][] = []
      h.buckets.forEach((w, k) => w !== 0 && b.push([k, w]))
      return { b, weight: h.weight, sum: h.sum, total: h.total, tag: h.tag }
    }
    const h = f as HostsState
    return { since: finite(h.since), known: Buffer.from(h.known).toString('base64'), novel: [...h.novel].map(([k, e]) => [k, e.first, e.devices]) }
  }),
})

const modelFromJSON = (m: ModelJSON, specs: readonly FacetSpec[]): ModelView => ({
  active: m.active,
  facets: specs.map((spec, i) => {
    const f = m.facets[i] as unknown
    if (f === null || f === undefined) return undefined
    if (spec.kind === 'counts') {
      const entries = f as [number, number][]
      return new CountsState(new Map(entries), NO_COUNTS, entries.length)
    }
    if (spec.kind === 'histogram') {
      const h = f as { b: [number, number][]; weight: number; sum: number; total: number; tag: number }
      const buckets = new Float64Array(HISTOGRAM_BUCKETS)
      for (const [k, w] of h.b) buckets[k] = w
      return { buckets, weight: h.weight, sum: h.sum, total: h.total, tag: h.tag, quantiles: new Map() }
    }
    const h = f as { since: number | null; known: string; novel: [number, number, number][] }
    return { since: h.since ?? Infinity, known: new Uint8Array(Buffer.from(h.known, 'base64')), novel: new Map(h.novel.map(([k, first, devices]) => [k, { first, devices }])) }
  }),
})

// ---------------------------------------------------------------------------------------------
// A shard's side: its open contributions, and the facets its detectors read and write.

/** One shard's contributions to the epochs it has not closed yet. */
export class FleetShard {
  private readonly open = new Map<number, Contribution>()
  private lastEpoch = Number.NaN
  private last: Contribution | null = null

  constructor(
    readonly view: FleetView,
    readonly index: number,
  ) {}

  /** The contribution of the epoch `ts` lies in. */
  at(ts: number): Contribution {
    const epoch = this.view.epochOf(ts)
    if (epoch === this.lastEpoch) return this.last!
    let c = this.open.get(epoch)
    if (c === undefined) this.open.set(epoch, (c = new Contribution()))
    this.lastEpoch = epoch
    this.last = c
    return c
  }

  /** Takes the contributions of every epoch up to `through`, oldest first (non-empty ones only). */
  take(through: number): [number, Contribution][] {
    const out: [number, Contribution][] = []
    for (const [epoch, c] of this.open) {
      if (epoch > through) continue
      this.open.delete(epoch)
      if (!c.empty) out.push([epoch, c])
    }
    if (this.lastEpoch <= through) {
      this.lastEpoch = Number.NaN
      this.last = null
    }
    return out.sort((a, b) => a[0] - b[0])
  }

  toJSON(): [number, ContributionJSON][] {
    return [...this.open].filter(([, c]) => !c.empty).map(([e, c]) => [e, c.toJSON()])
  }

  load(data: readonly (readonly [number, ContributionJSON])[]): void {
    this.open.clear()
    this.lastEpoch = Number.NaN
    this.last = null
    for (const [e, c] of data) this.open.set(e, Contribution.fromJSON(c, this.view.specs))
  }
}

/** Reads at the level data of time `ts` is judged with; the level is cached per epoch (reads come in runs). */
class LevelCursor {
  private epoch = Number.NaN
  private cached: FleetLevel = EMPTY_LEVEL
  /** The level's read epoch (data epoch - LAG_EPOCHS), which lazy parts (retirement, recent activity) are judged at. */
  readEpoch = -Infinity

  constructor(private readonly view: FleetView) {}

  at(ts: number): FleetLevel {
    const epoch = Math.floor(ts / this.view.settings.epochMs)
    if (epoch !== this.epoch) {
      this.cached = this.view.level(epoch - LAG_EPOCHS)
      this.epoch = epoch
      this.readEpoch = epoch - LAG_EPOCHS
    }
    return this.cached
  }
}

/** A detector's handle on one facet: writes go to its shard's contributions, reads to the fleet's level. */
abstract class Facet<S> {
  protected readonly cursor: LevelCursor
  constructor(protected readonly shard: FleetShard, protected readonly facet: number) {
    this.cursor = new LevelCursor(shard.view)
  }

  /** The model's state of this facet as the fleet knew it for data of time `ts`. */
  protected state(model: string, ts: number): S | undefined {
    return this.cursor.at(ts).models.get(model)?.facets[this.facet] as S | undefined
  }
}

/** Devices per key per model (a destination, a port), counted over the whole fleet. */
export class FleetCounts extends Facet<CountsState> {
  /** One more device of `model` uses `key` (at time `ts`). */
  add(model: string, key: number, ts: number): void {
    const models = this.shard.at(ts).counts(this.facet)
    let keys = models.get(model)
    if (keys === undefined) models.set(model, (keys = new Map()))
    keys.set(key, (keys.get(key) ?? 0) + 1)
  }

  /** Devices of `model` that used `key`, as the fleet knew it for data of time `ts`. */
  get(model: string, key: number, ts: number): number {
    return this.state(model, ts)?.get(key) ?? 0
  }
}

/**
 * What one device observed into a decayed histogram, kept by the device so that it can read its
 * model without itself (`FleetHistogram.momentsWithout`): [sum, sum of squares, weight] of its older
 * observations, decayed to the epoch of the last of them, that epoch (-1: none), then its latest
 * LAG_EPOCHS + 1 observations as (value, epoch) pairs, oldest first (epoch -1: none). Those stay apart
 * because the level lags: at one observation an epoch at most, every older one is in the level its
 * reads see, and the sum can be decayed to the level's epoch whole.
 */
export const ownObservations = (): number[] => [0, 0, 0, -1, ...Array.from({ length: LAG_EPOCHS + 1 }, () => [0, -1]).flat()]

/** Keeps a device's observation of `value` in `epoch` (at most one an epoch, epochs rising) in `own`. */
export const recordOwn = (own: number[], value: number, epoch: number): void => {
  const v = own[4]!
  const e = own[5]!
  if (e >= 0) {
    const k = own[3]! < 0 ? 0 : DECAY ** (e - own[3]!)
    own[0] = own[0]! * k + v
    own[1] = own[1]! * k + v * v
    own[2] = own[2]! * k + 1
    own[3] = e
  }
  for (let i = 4; i + 2 < own.length; i++) own[i] = own[i + 2]!
  own[own.length - 2] = value
  own[own.length - 1] = epoch
}

/** Peer statistics of a value against a model's distribution. */
export interface DistributionStats {
  readonly median: number
  readonly mean: number
  readonly mad: number
  /** Share (0–100) of the distribution's weight below the value. */
  readonly percentileBelow: number
  /** Weight of the observations counted (decayed: recent ones weigh most; a `latest` histogram: its devices). */
  readonly weight: number
}

/** A per-device value's distribution per model over the fleet (decayed: recent hours weigh most). */
export class FleetHistogram extends Facet<HistogramState> {
  /** Adds `value` to the model's distribution (`n` = -1 retracts one added before: a `latest` histogram's device replacing its value). */
  observe(model: string, value: number, ts: number, n: 1 | -1 = 1): void {
    const models = this.shard.at(ts).histograms(this.facet)
    let h = models.get(model)
    if (h === undefined) models.set(model, (h = { buckets: new Map(), count: 0, sum: 0 }))
    const b = bucketOf(value)
    h.buckets.set(b, (h.buckets.get(b) ?? 0) + n)
    h.count += n
    h.sum += n * value
  }

  /** Observations of the model the fleet has made, for data of time `ts`. */
  observations(model: string, ts: number): number {
    return this.state(model, ts)?.total ?? 0
  }

  /** The q-quantile of the model's values (the bucket's value), `initial` for a model never observed. */
  quantile(model: string, q: number, ts: number, initial: number): number {
    const h = this.state(model, ts)
    if (h === undefined || h.weight <= 0) return initial
    let v = h.quantiles.get(q)
    if (v === undefined) {
      v = quantileOf(h, q)
      h.quantiles.set(q, v)
    }
    return v
  }

  /**
   * The (decayed) mean and variance of the model's values, by bucket (exact for values below 32),
   * or null for a model never observed.
   */
  moments(model: string, ts: number): Moments | null {
    const h = this.state(model, ts)
    if (h === undefined || h.weight <= 0) return null
    if (h.moments === undefined) {
      let sum = 0
      let squares = 0
      for (let b = 0; b < HISTOGRAM_BUCKETS; b++) {
        const w = h.buckets[b]!
        if (w === 0) continue
        const v = bucketValue(b)
        sum += w * v
        squares += w * v * v
      }
      const mean = sum / h.weight
      h.moments = { mean, variance: Math.max(0, squares / h.weight - mean * mean), weight: h.weight }
    }
    return h.moments
  }

  /**
   * The model's moments as `moments` gives them, with a device's own observations (`own`, which
   * `recordOwn` kept) left out: those the level holds, decayed as the level decayed them. Null when
   * nothing else is left. Exact for values below 32 (by bucket, as `moments`).
   */
  momentsWithout(model: string, ts: number, own: readonly number[] | null | undefined): Moments | null {
    const h = this.state(model, ts)
    const m = this.moments(model, ts)
    if (h === undefined || m === null) return null
    if (own === null || own === undefined) return m
    let sum = m.mean * m.weight
    let squares = (m.variance + m.mean * m.mean) * m.weight
    let weight = m.weight
    // Its older ones (decayed to their last epoch), then each recent one, where the level holds them.
    for (let i = 2; i < own.length; i += 2) {
      const epoch = own[i + 1]!
      if (epoch < 0 || epoch > h.tag) continue
      const k = DECAY ** (h.tag - epoch)
      const older = i === 2
      const value = own[i]!
      sum -= (older ? own[0]! : value) * k
      squares -= (older ? own[1]! : value * value) * k
      weight -= (older ? own[2]! : 1) * k
    }
    // Less than itself left: what it remembers is not all in this level (a view started afresh).
    if (weight <= 1e-9 || sum < -1e-9) return null
    const mean = Math.max(0, sum / weight)
    return { mean, variance: Math.max(0, squares / weight - mean * mean), weight }
  }

  /**
   * Median, MAD, mean and the share below `value` of the model's distribution for data of time `ts`,
   * by bucket (exact below 32, within 5 % above), with one observation in bucket `without` left out
   * (a device's own value, when it is in the level; -1 for none): null when nothing is left.
   */
  stats(model: string, value: number, ts: number, without = -1): DistributionStats | null {
    const h = this.state(model, ts)
    if (h === undefined) return null
    const out = without >= 0 && h.buckets[without]! >= 1 ? without : -1
    const weight = h.weight - (out >= 0 ? 1 : 0)
    if (!(weight > 1e-9)) return null
    const at = (b: number): number => h.buckets[b]! - (b === out ? 1 : 0)
    const median = quantileOf(h, 0.5, out)
    let below = 0
    let sum = 0
    const deviations: [number, number][] = []
    for (let b = 0; b < HISTOGRAM_BUCKETS; b++) {
      const w = at(b)
      if (w <= 0) continue
      const v = bucketValue(b)
      if (v < value) below += w
      sum += w * v
      deviations.push([Math.abs(v - median), w])
    }
    deviations.sort((a, b) => a[0] - b[0])
    let mad = 0
    let acc = 0
    for (const [d, w] of deviations) {
      acc += w
      mad = d
      if (acc >= weight / 2) break
    }
    return { median, mean: sum / weight, mad, percentileBelow: (100 * below) / weight, weight }
  }
}

/** The q-quantile of a distribution (the value of the first bucket its cumulative weight reaches), one observation in bucket `without` left out (-1: none). */
const quantileOf = (h: HistogramState, q: number, without = -1): number => {
  const target = q * (h.weight - (without >= 0 ? 1 : 0))
  let acc = 0
  for (let b = 0; b < HISTOGRAM_BUCKETS; b++) {
    const w = h.buckets[b]! - (b === without ? 1 : 0)
    acc += w
    if (acc >= target && w > 0) return bucketValue(b)
  }
  return bucketValue(HISTOGRAM_BUCKETS - 1)
}

/** What a model's hosts look like for data of one time: known, new (with first window and devices), or unseen. */
export interface HostsReader {
  /** Whether the model is in the view yet (before it is, every host its devices use is learned). */
  readonly present: boolean
  /** Window of the model's first flow the fleet knows of. */
  readonly since: number
  known(hash: number): boolean
  /** A host new to the model and not retired at this level: its first window and adopters; undefined otherwise. */
  novel(hash: number): { readonly first: number; readonly devices: number } | undefined
}

/** Hosts a model knows and hosts new to it, over the whole fleet (model-shift). */
export class FleetHosts extends Facet<HostsState> {
  private readonly spec: FacetSpec & { kind: 'hosts' }
  private readonly reader = {
    present: false,
    since: Infinity,
    state: undefined as HostsState | undefined,
    epoch: -Infinity,
    owner: this as FleetHosts,
    known(hash: number): boolean {
      const s = this.state
      if (s === undefined) return false
      if (isKnownBit(s.known, hash)) return true
      const e = s.novel.get(hash)
      return e !== undefined && e.devices >= 2 && this.owner.retired(e.first, this.epoch)
    },
    novel(hash: number) {
      const e = this.state?.novel.get(hash)
      return e === undefined || this.owner.retired(e.first, this.epoch) ? undefined : e
    },
  }

  constructor(shard: FleetShard, facet: number) {
    super(shard, facet)
    this.spec = shard.view.specs[facet] as FacetSpec & { kind: 'hosts' }
  }

  retired(first: number, epoch: number): boolean {
    return retiredAt(first, epoch, this.shard.view.settings.windowsPerEpoch, this.spec.horizonWindows)
  }

  /** The model's hosts as the fleet knew them for data of time `ts` (one reader, reused: read it before the next call). */
  read(model: string, ts: number): HostsReader {
    const s = this.state(model, ts)
    const r = this.reader
    r.state = s
    r.present = s !== undefined
    r.since = s?.since ?? Infinity
    r.epoch = this.cursor.readEpoch
    return r
  }

  /** The read epoch of the last `read` (a cache of known hosts is valid at it and later). */
  get readEpoch(): number {
    return this.cursor.readEpoch
  }

  private delta(model: string, ts: number): HostsDelta {
    const models = this.shard.at(ts).hosts(this.facet)
    let h = models.get(model)
    if (h === undefined) models.set(model, (h = { since: Infinity, known: new Set(), adopt: new Map() }))
    return h
  }

  /** The model had a flow in `window` (the earliest sets since when the model is seen). */
  seen(model: string, window: number, ts: number): void {
    const h = this.delta(model, ts)
    if (window < h.since) h.since = window
  }

  /** A host the model uses while it learns. */
  learn(model: string, hash: number, ts: number): void {
    this.delta(model, ts).known.add(hash)
  }

  /** A device took up a host new to its model in `window`. */
  adopt(model: string, hash: number, window: number, ts: number): void {
    const h = this.delta(model, ts)
    const a = h.adopt.get(hash)
    if (a === undefined) h.adopt.set(hash, [window, 1])
    else {
      a[0] = Math.min(a[0], window)
      a[1]++
    }
  }
}

/** Devices of a model active lately over the whole fleet. */
export class FleetDevices {
  private readonly cursor: LevelCursor
  constructor(private readonly shard: FleetShard) {
    this.cursor = new LevelCursor(shard.view)
  }

  /** A device of `model` had an event in the epoch of `ts` (called once per device and epoch). */
  active(model: string, ts: number): void {
    const active = this.shard.at(ts).active
    active.set(model, (active.get(model) ?? 0) + 1)
  }

  /** The largest count of distinct active devices of the model in its recent epochs, for data of time `ts`. */
  count(model: string, ts: number): number {
    const m = this.cursor.at(ts).models.get(model)
    if (m === undefined) return 0
    const from = this.cursor.readEpoch - ACTIVE_EPOCHS
    let max = 0
    for (const [epoch, n] of m.active) if (epoch > from && n > max) max = n
    return max
  }
}

/** What a detector gets to share knowledge with the fleet: facets under its own name. */
export interface FleetAccess {
  counts(name: string, maxKeys: number): FleetCounts
  /** A decayed distribution; `latest`: one value per device, which it replaces and retracts itself (`FleetHistogram.observe` with -1). */
  histogram(name: string, options?: { readonly latest: boolean }): FleetHistogram
  hosts(name: string, options: { readonly horizonWindows: number; readonly maxNovel: number }): FleetHosts
  /** Devices of a model active lately in the whole fleet, for data of time `ts`. */
  devices(model: string, ts: number): number
  /** Windows per epoch (a facet's read epoch e covers windows [e, e + 1) × this). */
  readonly windowsPerEpoch: number
  /** The epoch of time `ts`; data of it is read at the level LAG_EPOCHS before. */
  epochOf(ts: number): number
  /** Whether what the fleet learned in window `learned` is in the level data of window `judged` is read with (LAG_EPOCHS later). */
  sees(learned: number, judged: number): boolean
}

/** A detector's access to the fleet through a shard: facet names are prefixed with the detector's id. */
export const fleetAccess = (shard: FleetShard, prefix: string, devices: FleetDevices): FleetAccess => ({
  counts: (name, maxKeys) => new FleetCounts(shard, shard.view.register({ kind: 'counts', name: `${prefix}/${name}`, maxKeys })),
  histogram: (name, o) => new FleetHistogram(shard, shard.view.register(o?.latest ? { kind: 'histogram', name: `${prefix}/${name}`, latest: true } : { kind: 'histogram', name: `${prefix}/${name}` })),
  hosts: (name, o) => new FleetHosts(shard, shard.view.register({ kind: 'hosts', name: `${prefix}/${name}`, horizonWindows: o.horizonWindows, maxNovel: o.maxNovel })),
  devices: (model, ts) => devices.count(model, ts),
  windowsPerEpoch: shard.view.settings.windowsPerEpoch,
  epochOf: (ts) => shard.view.epochOf(ts),
  sees: (learned, judged) => {
    const wpe = shard.view.settings.windowsPerEpoch
    return Math.floor(learned / wpe) <= Math.floor(judged / wpe) - LAG_EPOCHS
  },
})

/** A pipeline's part of a fleet: its contributions, the facets its detectors use, where its publications go. */
export interface ShardFleet {
  readonly view: FleetView
  readonly shard: FleetShard
  readonly devices: FleetDevices
  /** Where the shard's closed epochs go: the view itself in replay, the models topic in `run`. */
  readonly publish: (p: Publication) => void
  /** Facets under a detector's (or a component's) name. */
  access(prefix: string): FleetAccess
  /** A fleet of this shard alone: its engine moves its own clock as far as an event needs (nothing else completes its view). */
  readonly solo: boolean
  /**
   * Whether the shard's checkpoint carries the view (a fleet of this shard alone with nowhere else
   * to keep it: replay, tools, tests). Never in `run`: the models topic keeps the view in records of
   * a model each, whatever the partition count, and a view in the shard's record (every model, ~2 kB
   * a device on the bundled fleet) outgrew the broker's 1 MB message limit at one partition.
   */
  readonly viewInCheckpoint: boolean
}

export const shardFleet = (view: FleetView, index: number, publish: (p: Publication) => void, o: { readonly viewInCheckpoint?: boolean } = {}): ShardFleet => {
  const shard = new FleetShard(view, index)
  const devices = new FleetDevices(shard)
  const solo = view.settings.shards === 1
  return { view, shard, devices, publish, access: (prefix) => fleetAccess(shard, prefix, devices), solo, viewInCheckpoint: solo && (o.viewInCheckpoint ?? true) }
}

/** The default epoch: 10 minutes. */
const DEFAULT_EPOCH_MS = 600_000

/** A fleet of one shard (a pipeline on its own: tests, tools), publishing straight into its view. */
export const soloFleet = (windowMs: number, epochMs = DEFAULT_EPOCH_MS, maxModels = 1024): ShardFleet => {
  const windowsPerEpoch = Math.max(1, Math.round(epochMs / windowMs))
  const view = new FleetView({ epochMs: windowsPerEpoch * windowMs, windowsPerEpoch, shards: 1, maxModels })
  return shardFleet(view, 0, (p) => view.publish(p))
}
