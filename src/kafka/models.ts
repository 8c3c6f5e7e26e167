// The models topic: each shard's fleet-view publications as compacted records, written in its transactions, and every member's reader of them into its own fleet view.
//
// Keys (one partition, 0, so that a shard's records keep their order):
//   c/<shard>/<epoch>  a shard's contribution to a closed epoch (ContributionJSON)
//   p/<shard>          the shard's progress: every epoch up to closedThrough closed, its clock
//   s                  the head of the newest snapshot of the view (complete through an epoch)
//   s/<i>/<model>      a model's state at the snapshot's level i (a record each: a busy model's
//                      destinations alone are ~300 KB a level)
// A snapshot lets a member that starts later fold only the contributions after it; once one is in
// the topic, each shard writes tombstones for its contributions up to it, and compaction drops them.
import { createHash, randomUUID } from 'node:crypto'
import type { Kafka } from 'kafkajs'
import { Contribution, FleetView, LAG_EPOCHS } from '../engine/fleet.ts'
import type { ContributionJSON, FleetViewJSON, Publication } from '../engine/fleet.ts'
import type { OutRecord } from '../sinks/kafka.ts'

/** The models topic's partition every record goes to (and the only one read). */
export const MODELS_PARTITION = 0

/** A snapshot of the view is written once it completed this many epochs past the last one (an hour of 10-minute epochs). */
export const SNAPSHOT_EVERY_EPOCHS = 6

/** Epochs a shard's publications may run ahead of its committed state (two hours of 10-minute epochs). */
const MAX_AHEAD_EPOCHS = 12

interface ProgressValue {
  /** The view's signature: records of another configuration's facets are left out. */
  readonly sig: string
  readonly closedThrough: number | null
  readonly clock: number | null
  /** The epoch every shard must have closed before this one goes on (it waits for the fleet view); absent when it does not wait. */
  readonly need?: number
  /**
   * The epochs its committed device state has closed (a shard publishes its closed epochs for others
   * ahead of its state, which it commits when due): a shard restored now reads levels from there on.
   * Absent: closedThrough (a commit of both, or a record from before).
   */
  readonly stateThrough?: number | null
}

interface ContributionValue {
  readonly sig: string
  readonly c: ContributionJSON
}

/**
 * What a view's records can only be merged under: its facets (names, kinds and settings, in their
 * order) and its epochs. Members with another configuration write another signature; each reads
 * only its own (a configuration change starts the fleet's knowledge afresh).
 */
export const viewSignature = (view: FleetView): string =>
  createHash('sha256').update(JSON.stringify({ specs: view.specs, epochMs: view.settings.epochMs, windowsPerEpoch: view.settings.windowsPerEpoch })).digest('hex').slice(0, 16)

interface SnapshotHead {
  readonly v: 1
  readonly sig: string
  readonly complete: number
  readonly refused: FleetViewJSON['refused']
  /** The epochs of the levels kept, oldest first; each model record has one entry per level. */
  readonly levels: readonly (number | null)[]
}

/** A model's state at one level of a snapshot, or `same` as at the level before. */
interface SnapshotModel {
  readonly sig: string
  /** The snapshot it belongs to: a record of an older snapshot (a model's level it no longer has) is left out. */
  readonly complete: number
  readonly m?: unknown
  readonly same?: true
}

const finite = (n: number): number | null => (Number.isFinite(n) ? n : null)

/**
 * What one shard has to write to the models topic: its publications since its last commit, its
 * clock, the tombstones of contributions a snapshot made unneeded and, for shard 0, a snapshot now
 * and then. Taken whole by a commit; a commit that fails drops the shard, and whoever reads its
 * input again publishes what the topic does not have yet (its epochs past `publishedThrough`).
 */
export class ModelsOutbox {
  private epochs: [number, Contribution][] = []
  /** The epochs the shard's engine has closed (its publications say so). */
  private closedThrough = -Infinity
  /** The epochs the topic has this shard closed through already (a previous owner published them ahead of its state): progress never goes back. */
  private published = -Infinity
  private written: { closedThrough: number | null; clock: number | null; need: number | null; stateThrough: number | null } = { closedThrough: null, clock: null, need: null, stateThrough: null }
  /** The epochs the shard's committed state has closed (as its last commit with its state wrote them). */
  private stateThrough = -Infinity
  private tombstonedThrough = -Infinity
  private snapshotAt = -Infinity

  constructor(
    private readonly index: number,
    private readonly sig: string,
  ) {}

  /** The topic has the shard's epochs through `epoch` closed (by the view, when the shard is opened). */
  publishedThrough(epoch: number): void {
    if (epoch > this.published) this.published = epoch
  }

  /** The shard's state restored from the changelog has closed the epochs through `epoch`. */
  restoredThrough(epoch: number): void {
    this.stateThrough = epoch
  }

  /**
   * Whether its publications may go out ahead of its state: it has a committed state, at most
   * MAX_AHEAD_EPOCHS behind (the fleet keeps the levels from there on, and a shard whose state cannot
   * commit holds the fleet back within that, where the stall check sees it).
   */
  get canPublishAhead(): boolean {
    return Number.isFinite(this.stateThrough) && this.closedThrough - this.stateThrough <= MAX_AHEAD_EPOCHS
  }

  add(p: Publication): void {
    for (const e of p.epochs) this.epochs.push([e[0], e[1]])
    if (p.closedThrough > this.closedThrough) this.closedThrough = p.closedThrough
  }

  /**
   * The records of the next commit; `clock`: the shard's clock now, `need`: what it waits for (see
   * ProgressValue), or null; `withState`: the commit writes the shard's device state and offsets
   * too (false: its publications go ahead of them, see publishShardProgress).
   */
  take(clock: number, need: number | null, feed: ModelsFeed, withState = true): OutRecord[] {
    const out: OutRecord[] = []
    const s = this.index
    const partition = MODELS_PARTITION
    const sig = this.sig
    // Epochs a previous owner published stay as it wrote them (members that load the topic later fold those).
    for (const [epoch, c] of this.epochs) if (epoch > this.published) out.push({ key: `c/${s}/${epoch}`, value: JSON.stringify({ sig, c: c.toJSON() } satisfies ContributionValue), partition })
    this.epochs = []
    const through = feed.snapshotComplete
    if (through > this.tombstonedThrough) {
      for (const epoch of feed.contributions(s)) if (epoch <= through) out.push({ key: `c/${s}/${epoch}`, value: null, partition })
      this.tombstonedThrough = through
    }
    if (withState) this.stateThrough = this.closedThrough
    const stateThrough = finite(this.stateThrough)
    const closedThrough = finite(Math.max(this.closedThrough, this.published))
    const progress: ProgressValue = {
      sig, closedThrough, clock: finite(clock), ...(need === null ? {} : { need }),
      ...(stateThrough === closedThrough ? {} : { stateThrough }),
    }
    const w = this.written
    if (progress.closedThrough !== w.closedThrough || progress.clock !== w.clock || need !== w.need || stateThrough !== w.stateThrough) {
      out.push({ key: `p/${s}`, value: JSON.stringify(progress), partition })
      this.written = { closedThrough: progress.closedThrough, clock: progress.clock, need, stateThrough }
    }
    // The owner of shard 0 snapshots the view as the topic has it (every member's is the same at the
    // same epoch), never what this member's shards have not committed. It may be ahead of a shard's
    // committed state (published ahead of it): the snapshot carries the levels from the least
    // stateThrough on, which a shard restored there reads.
    const view = feed.committed
    if (s === 0 && Number.isFinite(view.complete) && view.complete >= Math.max(feed.snapshotComplete, this.snapshotAt) + SNAPSHOT_EVERY_EPOCHS) {
      out.push(...snapshotRecords(view, sig))
      this.snapshotAt = view.complete
    }
    return out
  }
}

/** The view as snapshot records: one per model and level (or `same` as the level before), the head last. */
export const snapshotRecords = (view: FleetView, sig: string): OutRecord[] => {
  const json = view.toJSON(true)
  const complete = json.complete!
  const partition = MODELS_PARTITION
  const out: OutRecord[] = []
  const before = new Map<string, string>()
  json.levels.forEach(([, list], i) => {
    for (const [model, m] of list) {
      const state = JSON.stringify(m)
      const value: SnapshotModel = before.get(model) === state ? { sig, complete, same: true } : { sig, complete, m }
      out.push({ key: `s/${i}/${model}`, value: JSON.stringify(value), partition })
      before.set(model, state)
    }
  })
  const head: SnapshotHead = { v: 1, sig, complete, refused: json.refused, levels: json.levels.map(([e]) => e) }
  out.push({ key: 's', value: JSON.stringify(head), partition })
  return out
}

/** A snapshot's records (`s/<i>/<model>` of its epoch) back into the view's JSON; every shard closed through its epoch. */
const snapshotJSON = (head: SnapshotHead, records: ReadonlyMap<string, SnapshotModel>, shards: number): FleetViewJSON => {
  const levels = head.levels.map(() => new Map<string, unknown>())
  // Level by level: a model `same` as the level before takes its state from there.
  const ordered = [...records].map(([key, v]) => {
    const slash = key.indexOf('/', 2)
    return { i: Number(key.slice(2, slash)), model: key.slice(slash + 1), v }
  }).sort((a, b) => a.i - b.i)
  for (const { i, model, v } of ordered) {
    if (!(i >= 0 && i < levels.length) || v.complete !== head.complete) continue
    const state = v.same === true ? levels[i - 1]?.get(model) : v.m
    if (state !== undefined) levels[i]!.set(model, state)
  }
  return {
    complete: head.complete,
    closed: new Array<number | null>(shards).fill(head.complete),
    refused: head.refused,
    levels: head.levels.map((epoch, i) => [epoch, [...levels[i]!].map(([model, m]) => [model, m as never])]),
  }
}

export interface ModelsFeedOptions {
  readonly kafka: Kafka
  readonly topic: string
  /** Prefix of the member's own consumer group for the topic (a unique suffix is added). */
  readonly groupPrefix: string
  /** The member's view: its shards publish into it directly, and what the topic brings goes into it too. */
  readonly view: FleetView
  /** The view's signature (viewSignature): records of others are left out. */
  readonly sig: string
  /** The view moved on (or was loaded): waiting shards may go on. */
  readonly onChange: () => void
  /** The reader stopped for good. */
  readonly onCrash: (err: Error) => void
  readonly warn: (message: string) => void
}

/**
 * A member's reader of the models topic: at start it reads the topic to its end and builds the view
 * (the newest snapshot, then the contributions after it), then it follows the topic, folding each
 * shard's publication once its progress record arrives (written after its contributions, in the
 * same transaction). The member's own shards publish into the view directly as well: what comes
 * back here again is not added twice (the view ignores epochs a shard has closed already).
 */
export class ModelsFeed {
  /** The view holds the topic as it was when the reader started. */
  loaded = false
  /**
   * The view as the topic has it: committed publications only (the member's view also holds what its
   * own shards published and have not committed yet). Snapshots are taken of it.
   */
  readonly committed: FleetView
  /** The newest clock any shard committed. */
  maxClock = -Infinity
  /** What each shard that waits for the fleet view (as it last committed) needs every shard to have closed. */
  readonly needs = new Map<number, number>()
  /** The epochs each shard's committed state has closed (its progress's stateThrough, else closedThrough). */
  private readonly stateThrough = new Map<number, number>()
  /** The offset after the last record read (transaction markers and aborted records included). */
  private position = 0n
  /** The epoch of the newest snapshot in the topic. */
  snapshotComplete = -Infinity
  /** Epochs each shard has contributions of in the topic (tombstoned ones leave). */
  private readonly present = new Map<number, Set<number>>()
  private readonly buffered = new Map<number, [number, Contribution][]>()
  private consumer: ReturnType<Kafka['consumer']> | null = null
  private warnedShards = false
  private warnedSig = false
  private warnedBad = false

  constructor(private readonly o: ModelsFeedOptions) {
    this.committed = new FleetView(o.view.settings)
    for (const spec of o.view.specs) this.committed.register(spec)
  }

  /** The epochs shard `s` has contributions of in the topic. */
  contributions(s: number): Iterable<number> {
    return this.present.get(s) ?? []
  }

  /** Reads the topic to its end into the view, then follows it; resolves once the view is loaded. */
  async start(timeoutMs = 300_000): Promise<void> {
    const { kafka, topic } = this.o
    // The last offset to read before the view is built (-1: an empty topic, built at once).
    const { low, high } = await this.ends()
    const end = high <= low ? -1n : high - 1n
    const initial = new Map<string, Buffer | null>()
    let finish: (err?: Error) => void = () => undefined
    const loaded = new Promise<void>((resolve, reject) => (finish = (err) => (err ? reject(err) : resolve())))
    const build = (): void => {
      if (this.loaded) return
      this.loadRecords(initial)
      initial.clear()
      this.loaded = true
      finish()
      this.o.onChange()
    }
    const consumer = kafka.consumer({ groupId: `${this.o.groupPrefix}.models.${randomUUID()}`, readUncommitted: false, allowAutoTopicCreation: false, maxWaitTimeInMs: 250, maxBytesPerPartition: 8 << 20 })
    this.consumer = consumer
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.partition !== MODELS_PARTITION) return
      const next = BigInt(payload.lastOffset) + 1n
      if (next > this.position) this.position = next
      if (!this.loaded && next > end) build()
    })
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart) return
      if (!this.loaded) finish(payload.error)
      else this.o.onCrash(payload.error)
    })
    const timer = setTimeout(() => finish(new Error(`models topic "${topic}" not read to its end within ${timeoutMs / 1000} s`)), timeoutMs)
    try {
      await consumer.connect()
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
      await consumer.run({
        eachBatch: async ({ batch }) => {
          if (batch.partition !== MODELS_PARTITION) return
          if (!this.loaded) {
            for (const m of batch.messages) if (m.key !== null) initial.set(m.key.toString(), m.value)
            return
          }
          let changed = false
          for (const m of batch.messages) if (m.key !== null && this.applyRecord(m.key.toString(), m.value)) changed = true
          if (changed) this.o.onChange()
        },
      })
      if (end < 0n) build()
      await loaded
    } catch (err) {
      await this.stop()
      throw err
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * Resolves once everything committed to the topic before the call is in the view. A shard opened
   * on this member waits for it after fencing its previous owner: the contributions that owner
   * committed are in the view before the restored shard says which epochs it has closed (else the
   * view would complete those epochs without them).
   */
  async caughtUp(timeoutMs = 60_000): Promise<void> {
    const end = (await this.ends()).high
    const deadline = Date.now() + timeoutMs
    while (this.position < end || !this.loaded) {
      if (Date.now() > deadline) throw new Error(`models topic "${this.o.topic}" not read up to offset ${end} within ${timeoutMs / 1000} s (at ${this.position})`)
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  /** The models partition's first and next offsets as the broker has them now. */
  private async ends(): Promise<{ low: bigint; high: bigint }> {
    const admin = this.o.kafka.admin()
    await admin.connect()
    try {
      const p = (await admin.fetchTopicOffsets(this.o.topic)).find((o) => o.partition === MODELS_PARTITION)
      return { low: BigInt(p?.low ?? '0'), high: BigInt(p?.high ?? '0') }
    } finally {
      await admin.disconnect()
    }
  }

  async stop(): Promise<void> {
    const c = this.consumer
    this.consumer = null
    await c?.disconnect().catch(() => undefined)
  }

  /** The topic as first read (the latest value of each key): the newest snapshot, then every shard's contributions after it. */
  loadRecords(records: ReadonlyMap<string, Buffer | null>): void {
    const views = [this.o.view, this.committed]
    const head = this.parse<SnapshotHead>('s', records.get('s') ?? null)
    if (head !== null) {
      const models = new Map<string, SnapshotModel>()
      for (const [key, value] of records) {
        if (!key.startsWith('s/')) continue
        const m = this.parse<SnapshotModel>(key, value)
        if (m !== null) models.set(key, m)
      }
      for (const view of views) view.load(snapshotJSON(head, models, view.settings.shards))
      this.snapshotComplete = head.complete
    }
    const progress: [number, ProgressValue][] = []
    for (const [key, value] of records) {
      if (key.startsWith('c/')) this.contribution(key, value, (epoch) => epoch > this.snapshotComplete)
      else if (key.startsWith('p/')) {
        const p = this.parse<ProgressValue>(key, value)
        if (p !== null) progress.push([Number(key.slice(2)), p])
      }
    }
    // Where every shard's committed state is, before any level is pruned.
    for (const [s, p] of progress) this.noteState(s, p)
    this.retain()
    for (const [s, p] of progress) this.publish(s, p)
    this.retain()
  }

  /**
   * The views keep what a committed state reads: every shard's committed state has closed the
   * epochs through the least of their stateThrough (and `committed.complete` at most), so its data
   * reads levels from LAG_EPOCHS - 1 before that on. The committed view keeps them too, for its
   * snapshots: a member that starts from one restores shards at their committed states.
   */
  private retain(): void {
    let through = this.committed.complete
    for (let s = 0; s < this.committed.settings.shards; s++) {
      const t = this.stateThrough.get(s)
      if (t !== undefined && t < through) through = t
    }
    const from = through - LAG_EPOCHS + 1
    this.o.view.retainFrom(from)
    this.committed.retainFrom(from)
  }

  /** One record as it comes once the view is loaded; true when the view may have moved on. */
  applyRecord(key: string, value: Buffer | null): boolean {
    if (key.startsWith('c/')) {
      this.contribution(key, value, () => true)
      return false
    }
    if (key.startsWith('p/')) {
      const p = this.parse<ProgressValue>(key, value)
      return p !== null && this.publish(Number(key.slice(2)), p)
    }
    if (key === 's') {
      const h = this.parse<SnapshotHead>(key, value)
      if (h !== null && h.complete > this.snapshotComplete) this.snapshotComplete = h.complete
    }
    return false
  }

  /**
   * A record's value, or null for a tombstone, a record of another signature (another configuration)
   * or one that cannot be read (said once: the view goes on without it).
   */
  private parse<T extends { readonly sig: string }>(key: string, value: Buffer | null): T | null {
    if (value === null || value.length === 0) return null
    try {
      const v = JSON.parse(value.toString('utf8')) as T
      if (v.sig === this.o.sig) return v
      if (!this.warnedSig) this.o.warn(`the models topic holds records of another configuration (${String(v.sig)}; this one is ${this.o.sig}): they are left out`)
      this.warnedSig = true
    } catch (err) {
      if (!this.warnedBad) this.o.warn(`models topic record ${key} cannot be read (${(err as Error).message}): left out`)
      this.warnedBad = true
    }
    return null
  }

  /** A contribution record: its epoch is noted as present (or gone, for a tombstone) and, when `wanted`, held for the shard's next progress record. */
  private contribution(key: string, value: Buffer | null, wanted: (epoch: number) => boolean): void {
    const slash = key.indexOf('/', 2)
    const s = Number(key.slice(2, slash))
    const epoch = Number(key.slice(slash + 1))
    let present = this.present.get(s)
    if (present === undefined) this.present.set(s, (present = new Set()))
    if (value === null) {
      present.delete(epoch)
      return
    }
    present.add(epoch)
    if (!wanted(epoch)) return
    const v = this.parse<ContributionValue>(key, value)
    if (v === null) return
    let c: Contribution
    try {
      c = Contribution.fromJSON(v.c, this.o.view.specs)
    } catch (err) {
      if (!this.warnedBad) this.o.warn(`models topic record ${key} cannot be read (${(err as Error).message}): left out`)
      this.warnedBad = true
      return
    }
    let list = this.buffered.get(s)
    if (list === undefined) this.buffered.set(s, (list = []))
    list.push([epoch, c])
  }

  /** Where a shard's committed state is, by its latest progress record (a shard's own records come in order). */
  private noteState(s: number, p: ProgressValue): void {
    this.stateThrough.set(s, p.stateThrough === undefined ? (p.closedThrough ?? -Infinity) : (p.stateThrough ?? -Infinity))
  }

  /** A shard's progress record: its held contributions go into the view. True when the view completed more, or the fleet's clock moved. */
  private publish(s: number, p: ProgressValue): boolean {
    const { view } = this.o
    const epochs = (this.buffered.get(s) ?? []).sort((a, b) => a[0] - b[0])
    this.buffered.delete(s)
    const clockMoved = p.clock !== null && p.clock > this.maxClock
    if (clockMoved) this.maxClock = p.clock!
    const needed = p.need !== undefined && p.need !== this.needs.get(s)
    if (p.need === undefined) this.needs.delete(s)
    else this.needs.set(s, p.need)
    if (!(s >= 0 && s < view.settings.shards)) {
      // Written when the inputs had more partitions: the fleet is this many shards now.
      if (!this.warnedShards) this.o.warn(`the models topic holds shard ${s}; the inputs have ${view.settings.shards} shards now: its records are left out`)
      this.warnedShards = true
      return false
    }
    this.noteState(s, p)
    const before = view.complete
    const publication = { shard: s, closedThrough: p.closedThrough ?? -Infinity, clock: p.clock ?? -Infinity, epochs }
    view.publish(publication)
    this.committed.publish(publication)
    this.retain()
    return view.complete !== before || clockMoved || needed
  }
}
