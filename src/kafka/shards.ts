// The shards a member of `run` owns: one per partition number (partition p of every input), fenced and restored on assignment, dropped on revocation or failure.
import type { Kafka } from 'kafkajs'
import type { Config } from '../config/schema.ts'
import type { DetectorDef } from '../engine/detector.ts'
import type { DeviceBudget } from '../engine/budget.ts'
import { createPipeline } from '../pipeline.ts'
import type { DetectionPipeline, IngestResult } from '../pipeline.ts'
import { shardFleet } from '../engine/fleet.ts'
import type { FleetView, Publication } from '../engine/fleet.ts'
import type { DeviceEvent } from '../types.ts'
import type { ServiceMetrics } from '../metrics.ts'
import type { DeadLetterLimits } from '../sinks/dead-letter.ts'
import { shardWriter } from '../sinks/kafka.ts'
import type { ShardWriter } from '../sinks/kafka.ts'
import { readChangelog, shardKey } from './changelog.ts'
import type { ShardId, StoredShard } from './changelog.ts'
import { ShardOutcomes, emptyPending } from './pending.ts'
import type { Pending } from './pending.ts'
import { ModelsOutbox } from './models.ts'
import type { PartitionBatch } from '../sources/kafka.ts'
import { retrying } from './retry.ts'

/** One input partition of a shard: where it is read, committed, and what of it the shard holds. */
export interface ShardInput {
  readonly topic: string
  readonly partition: number
  /** The offset its last committed transaction (or the restored state) goes on from; null before either. */
  committed: bigint | null
  /** Lines of the record at `committed` already in the committed state. */
  committedLine: number
  /** Records before this offset are in the restored state already; null once past them. */
  skipBelow: bigint | null
  /** Lines of the record at skipBelow already in the state. */
  skipLine: number
  /**
   * Read up to the partition's end as the broker last told it (the batch's high watermark, or the
   * end offsets when the shard opened).
   */
  caughtUp: boolean
  /** Where its partition is read up to when it never committed (the offset an idle commit writes). */
  readonly position: bigint
  /** The offset after the last record this member has read of it (or where it starts). */
  readTo: bigint
  /** Where the next commit takes it (offset, and lines of that record done); null: nothing since the last commit. */
  next: string | null
  nextLine: number
  /**
   * The batch in hand, not done (its partition paused): it stopped at `stoppedAt` (event time) for
   * the fleet view or for the shard's other input, at record `index`, line `line`. NaN: not tried yet.
   */
  held: { readonly batch: PartitionBatch; index: number; line: number; stoppedAt: number } | null
  /** Resumes its partition once its held batch is done (or after a batch refused meanwhile). */
  resume: (() => void) | null
}

/**
 * A detection shard: partition p of every input topic (the events topic and, when it is another one,
 * the telemetry topic: co-partitioned, keyed by device id), one pipeline, one transactional writer.
 */
export interface Shard {
  /** The events topic's partition names it (its key in the state topic). */
  readonly id: ShardId
  /** Its index in the fleet view: the partition number. */
  readonly fleetIndex: number
  /** The events input first. */
  readonly inputs: readonly ShardInput[]
  readonly pipeline: DetectionPipeline
  /**
   * Takes the shard's events in event-time order over its inputs: an event past `bound` (another
   * input holds an earlier one) throws InputWait; one the fleet view cannot judge yet moves the clock
   * as far as the view allows, then throws FleetWait if that is not enough.
   */
  readonly target: { ingest(event: DeviceEvent, nowMs: number): IngestResult }
  /** The time of the other inputs' next event: events after it wait (Infinity when no other input holds one). */
  bound: number
  /** Its publications to the models topic, written by its next commit. */
  readonly outbox: ModelsOutbox
  /** Where its records' outcomes go (one object for the shard's life: nothing allocated per record). */
  readonly outcomes: ShardOutcomes
  /** Replaced after a refusal for size: a producer whose transaction failed mid-request may hold stale sequence numbers. */
  writer: ShardWriter
  readonly pending: Pending
  /** The engine's eviction counters at the last commit (evictions are counted as they commit). */
  readonly evictedAtCommit: { ttl: number; capacityNew: number; capacityLearned: number }
  /** Device keys of a stored state that could not be restored (or of an older layout), deleted by the first transaction. */
  forget: string[]
  lastCommitAt: number
  /** A batch is being processed. */
  busy: boolean
  /** A rebalance happened during the batch in hand: the shard leaves memory after it. */
  stale: boolean
  /** The time of the event it waits at for the fleet view; null when not waiting. */
  waitingAt: number | null
  /** Work on the shard (a batch, a move with the fleet) one at a time. */
  work: Promise<unknown>
  /** A move with the fleet is queued behind its work. */
  moveQueued: boolean
}

/** Runs `work` on a shard after whatever it is doing (a batch, a move with the fleet). */
export const serial = <T>(shard: Shard, work: () => T | Promise<T>): Promise<T> => {
  const next = shard.work.then(work, work)
  shard.work = next.catch(() => undefined)
  return next
}

/** Every input read up to its end and nothing held: the shard moves with the fleet's clock. */
export const idle = (shard: Shard): boolean => shard.waitingAt === null && shard.inputs.every((i) => i.caughtUp && i.held === null)

/** What a shard sees at the end of a batch: whether it stops, its commit is due, its output is full, it is idle, it holds records someone waits for, it is alone. */
export interface BatchEnd {
  readonly stopping: boolean
  readonly due: boolean
  readonly full: boolean
  readonly idle: boolean
  /** Alerts or dead letters not committed yet. */
  readonly waited: boolean
  /** This member owns every shard (no other member waits for its epochs). */
  readonly alone: boolean
}

/**
 * What a shard does at the end of a batch. It commits every interval (one transaction carries several
 * batches and each device's state once), and at once when caught up with its partitions while it
 * holds alerts or dead letters: on an idle stream they wait for nothing. A live stream catches up
 * after nearly every batch: a commit each time wrote every active device's state many times a
 * second. Otherwise, caught up, it publishes the epochs it closed at once, alone, where another
 * member may wait for them; what it holds the mover commits when due.
 */
export const afterBatch = (b: BatchEnd): 'commit' | 'publish' | 'hold' =>
  b.stopping || b.due || b.full || (b.idle && b.waited) ? 'commit' : b.idle && !b.alone ? 'publish' : 'hold'

/** Thrown by a shard's target when an event must wait for the shard's other input, which holds an earlier one. */
export class InputWait extends Error {
  constructor(readonly ts: number) {
    super(`event at ${ts} waits for the shard's other input`)
  }
}

/** Thrown by a shard's target when an event must wait for the other shards to publish (its record stops there). */
export class FleetWait extends Error {
  constructor(readonly ts: number) {
    super(`event at ${ts} waits for the fleet view`)
  }
}

export interface ShardSetOptions {
  readonly kafka: Kafka
  readonly groupId: string
  readonly stateTopic: string
  readonly config: Config
  readonly detectors: readonly DetectorDef[]
  /** engine.maxDevices bounds the whole process: every shard's engine draws on this one budget. */
  readonly budget: DeviceBudget
  readonly metrics: ServiceMetrics
  /** The member's fleet view, which every shard reads and publishes into. */
  readonly view: FleetView
  /** The view's signature, in every models-topic record. */
  readonly sig: string
  /** Resolves once the member's view holds everything committed to the models topic so far. */
  readonly modelsCaughtUp: () => Promise<void>
  /** The epochs the models topic has shard `s` closed through (its committed progress; the member's view may be ahead). */
  readonly publishedThrough: (s: number) => number
  /** Every input topic, the events topic first: a shard reads the same partition of each. */
  readonly inputs: readonly string[]
  /** Read again when the broker refuses a record for its size; shared with every shard's outcomes. */
  readonly deadLetterLimits: DeadLetterLimits
  readonly stopping: () => boolean
  readonly warn: (message: string) => void
  /** Devices a shard brought back from the state topic. */
  readonly onRestored: (devices: number) => void
}

const ignore = (): void => undefined

/**
 * The member's shards by key, those being fenced and restored, and those whose restore failed and
 * is tried again. A shard is opened once: its producer fences the previous owner's, then its state
 * is read from the state topic (one read for all the shards an assignment brings).
 */
export class ShardSet {
  readonly shards = new Map<string, Shard>()
  /** Shards being fenced and restored, by key. */
  readonly opening = new Map<string, Promise<Shard>>()
  /** Shards whose restore failed and is to be tried again, by key: when it was last reported. */
  readonly unrestored = new Map<string, number>()

  constructor(private readonly o: ShardSetOptions) {}

  /** A shard's transactional id: whoever owns the shard next initialises it, fencing this member's producer. */
  transactionalId(s: ShardId): string {
    return `egress-sentinel.${this.o.groupId}.${shardKey(s)}`
  }

  get(key: string): Shard | undefined {
    return this.shards.get(key)
  }

  /** The shard of an input partition (any input topic's). */
  of(input: ShardId): ShardId {
    return { topic: this.o.inputs[0]!, partition: input.partition }
  }

  /** A live input partition by its key (`<topic>/<partition>`). */
  input(key: string): ShardInput | undefined {
    for (const shard of this.shards.values()) for (const i of shard.inputs) if (`${i.topic}/${i.partition}` === key) return i
    return undefined
  }

  /** Whether a shard is still being restored (or waits to be tried again). */
  get restoring(): boolean {
    return this.opening.size > 0 || this.unrestored.size > 0
  }

  /** Takes a shard's engine out of the device budget and closes its writer. */
  private close(shard: Shard): void {
    // A partition paused while the shard held its batch is read again by whoever takes it on (here, from its committed state).
    for (const i of shard.inputs) {
      const resume = i.resume
      i.resume = null
      i.held = null
      resume?.()
    }
    shard.pipeline.release()
    void shard.writer.close().catch(ignore)
  }

  /** Takes a shard out of memory; what it had not committed is read again by whoever owns it next. */
  drop(shard: Shard): void {
    const key = shardKey(shard.id)
    if (this.shards.get(key) === shard) this.shards.delete(key)
    this.close(shard)
  }

  /** Drops every shard and forgets those opening (the consumer is being replaced). */
  dropAll(): void {
    for (const shard of [...this.shards.values()]) this.drop(shard)
    this.opening.clear()
    this.unrestored.clear()
  }

  /**
   * After a join the consumer reads every partition from the group's committed offset again. A
   * shard stays only if its state is at that offset: not one another member now owns (its writer is
   * fenced by the new owner anyway), not one with uncommitted work or a batch it holds (waiting for
   * the fleet view: the consumer reads it again from the committed record), not one whose batch in hand may
   * commit after the consumer fetched its offset (it leaves after that batch, and comes back
   * restored). The offset fetched may still be an older one: kafkajs' OffsetFetch does not ask for
   * stable offsets, and the broker may not show a commit whose transaction markers are not written
   * yet (3 fetches in 100 right after a commit, measured here). A kept shard skips what it re-reads
   * below its committed offset, as a restored shard does: those records are in its state already.
   */
  assigned(owned: readonly ShardId[]): void {
    const keep = new Set(owned.map(shardKey))
    for (const [key, shard] of this.shards) {
      if (!keep.has(key)) {
        this.drop(shard)
      } else if (shard.busy) {
        shard.stale = true
      } else if (shard.inputs.some((i) => i.next !== null || i.held !== null) || shard.waitingAt !== null) {
        this.drop(shard)
      } else {
        for (const i of shard.inputs) {
          if (i.committed === null) continue
          i.skipBelow = i.committed
          i.skipLine = i.committedLine
        }
      }
    }
    for (const key of this.opening.keys()) if (!keep.has(key)) this.opening.delete(key)
    for (const key of this.unrestored.keys()) if (!keep.has(key)) this.unrestored.delete(key)
    this.open(owned)
  }

  /** Fences and restores `wanted` shards together: one producer each, one read of the state topic for all. */
  open(wanted: readonly ShardId[]): void {
    const todo = wanted.filter((s) => !this.shards.has(shardKey(s)) && !this.opening.has(shardKey(s)))
    if (todo.length === 0) return
    const { kafka, metrics } = this.o
    const all = (async (): Promise<Shard[]> => {
      const stopTimer = metrics.restoreSeconds.startTimer()
      const writers = todo.map((s) => shardWriter(kafka, this.transactionalId(s)))
      try {
        // Fencing aborts what a previous owner left open, so the state read next is final.
        await Promise.all(writers.map((w) => w.fence()))
        const stored = await readChangelog({ kafka, stateTopic: this.o.stateTopic, groupPrefix: this.o.groupId, shards: todo, others: this.o.inputs.slice(1) })
        const ends = await partitionEnds(kafka, this.o.groupId, todo.flatMap((s) => this.o.inputs.map((topic) => ({ topic, partition: s.partition }))))
        // What the previous owners committed to the models topic is in the view before the restored
        // shards say which epochs they have closed.
        await this.o.modelsCaughtUp()
        const built = todo.map((s, i) => this.build(s, writers[i]!, stored.get(shardKey(s)) ?? null, ends))
        stopTimer()
        return built
      } catch (err) {
        await Promise.all(writers.map((w) => w.close().catch(ignore)))
        throw err
      }
    })()
    todo.forEach((s, i) => {
      const key = shardKey(s)
      const promise = all.then((list) => list[i]!)
      this.opening.set(key, promise)
      promise.then(
        (shard) => {
          if (this.opening.get(key) !== promise) return this.close(shard) // revoked while it opened
          this.opening.delete(key)
          this.unrestored.delete(key)
          this.shards.set(key, shard)
        },
        (err: Error) => {
          if (this.opening.get(key) !== promise) return
          this.opening.delete(key)
          if (this.o.stopping()) return
          // Not ready until it is; reported once a minute while it keeps failing.
          const last = this.unrestored.get(key)
          if (last === undefined || Date.now() - last >= 60_000) {
            this.o.warn(`${key}: state not restored (${err.message}); trying again`)
            this.unrestored.set(key, Date.now())
          }
        },
      )
    })
  }

  /**
   * A new pipeline carrying on from the stored state. A state it cannot take (other detectors, a
   * format it does not read) is reported and replaced: that shard starts afresh and forgets it.
   */
  private build(id: ShardId, writer: ShardWriter, stored: StoredShard | null, ends: ReadonlyMap<string, PartitionEnd>): Shard {
    const { config, detectors, budget, metrics, deadLetterLimits, view } = this.o
    const fleetIndex = id.partition
    const pending = emptyPending()
    let outbox = new ModelsOutbox(fleetIndex, this.o.sig)
    /** The pipeline's publications: into the member's view at once (its other shards need not wait for the topic), and to the models topic at the commit. */
    let publish: (p: Publication) => void = () => undefined
    const make = (): DetectionPipeline => {
      const box = outbox
      publish = (p) => {
        view.publish(p)
        box.add(p)
      }
      const fleet = shardFleet(view, fleetIndex, publish, { viewInCheckpoint: false })
      return createPipeline(config, detectors, (a) => {
        const value = JSON.stringify(a)
        pending.alerts.push({ key: a.deviceId, value })
        pending.alertLabels.push({ detector: a.detector, severity: a.severity, status: a.status === 'firing' && a.revision > 1 ? 'escalated' : a.status, kind: a.kind })
        pending.bytes += value.length
      }, { trackChanges: true, budget, fleet })
    }
    let pipeline = make()
    const key = shardKey(id)
    const forget: string[] = [...(stored?.orphans ?? [])]
    let positions = stored?.inputs ?? new Map<string, readonly [string, number]>()
    const snapshot = stored?.snapshot ?? null
    const unreadable = stored?.unreadable ?? []
    if (unreadable.length > 0) {
      const what = snapshot === null ? 'its shard record among them: that shard starts afresh from where it was committed' : 'those devices start afresh'
      const n = unreadable.length
      this.o.warn(`the state of ${key} holds ${n} record${n === 1 ? ' that is' : 's that are'} not JSON (${unreadable[0]}${n > 1 ? ', …' : ''}); ${what}, and ${n === 1 ? 'it is' : 'they are'} deleted`)
    }
    if (snapshot !== null) {
      let problem: string | null = null
      if (snapshot.detectors.join() !== pipeline.detectorIds.join()) {
        problem = `was written by detectors [${snapshot.detectors.join(', ')}], this configuration runs [${pipeline.detectorIds.join(', ')}]`
      } else {
        try {
          pipeline.restore(snapshot)
        } catch (err) {
          problem = `cannot be read: ${(err as Error).message}`
        }
      }
      if (problem !== null) {
        this.o.warn(`the state of ${key} ${problem}; that shard starts afresh from where it was committed`)
        pipeline.release()
        outbox = new ModelsOutbox(fleetIndex, this.o.sig)
        pipeline = make()
        forget.push(...snapshot.devices.map((d) => `${key}/${d.id}`))
      } else {
        this.o.onRestored(snapshot.devices.length)
        // The restored shard says which epochs it has closed, into the member's view and in its next
        // progress record: until it closes another, its progress would say none, and a member that
        // loads the topic later (the latest progress record of each shard, as compaction keeps it)
        // would never see those epochs closed, nor the restored shard republish them: a deadlock.
        const closedThrough = pipeline.closedThrough()
        if (Number.isFinite(closedThrough)) publish({ shard: fleetIndex, closedThrough, clock: pipeline.time(), epochs: [] })
        outbox.restoredThrough(closedThrough)
      }
    } else {
      positions = new Map()
    }
    // What its previous owner published ahead of the state it committed stays published: the
    // shard's progress never says less (a member loading the topic later would take its
    // contributions again), and the epochs it closes again are not written again.
    outbox.publishedThrough(this.o.publishedThrough(fleetIndex))
    const inputs = this.o.inputs.map((topic): ShardInput => {
      const at = positions.get(topic)
      const committed = at === undefined ? null : BigInt(at[0])
      const end = ends.get(`${topic}/${id.partition}`)!
      const read = committed ?? end.start
      return {
        topic, partition: id.partition, committed, committedLine: at?.[1] ?? 0, skipBelow: committed, skipLine: at?.[1] ?? 0,
        caughtUp: read >= end.high, position: read, readTo: read, next: null, nextLine: 0, held: null, resume: null,
      }
    })
    const shard: Shard = {
      id, fleetIndex, inputs, pipeline, outbox, bound: Infinity, outcomes: new ShardOutcomes(pending, deadLetterLimits, metrics.eventLag), writer, pending,
      target: {
        ingest: (event, nowMs) => {
          if (event.ts > shard.bound) throw new InputWait(event.ts)
          let taken = pipeline.ingest(event, nowMs)
          if (taken !== 'wait') return taken
          // As far as the fleet view allows on its own: the epochs it closes let the others go on.
          const max = pipeline.maxAdvance()
          if (max > pipeline.time()) {
            pipeline.advanceTo(Math.min(event.ts, max))
            taken = pipeline.ingest(event, nowMs)
            if (taken !== 'wait') return taken
          }
          throw new FleetWait(event.ts)
        },
      },
      forget, lastCommitAt: Date.now(), busy: false, stale: false, evictedAtCommit: { ttl: 0, capacityNew: 0, capacityLearned: 0 },
      waitingAt: null, work: Promise.resolve(), moveQueued: false,
    }
    return shard
  }
}

/** Where a partition ends and where its shard starts reading it (the group's committed offset, else its first record). */
interface PartitionEnd {
  readonly high: bigint
  readonly start: bigint
}

/** The broker's end offsets of the shards' partitions, and where the group left them. */
const partitionEnds = async (kafka: Kafka, groupId: string, shards: readonly ShardId[]): Promise<Map<string, PartitionEnd>> => {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const out = new Map<string, PartitionEnd>()
    for (const topic of new Set(shards.map((s) => s.topic))) {
      const offsets = await admin.fetchTopicOffsets(topic)
      // The group's coordinator may be moving (a broker restarted): such answers are tried again, briefly.
      const [group] = await retrying(() => admin.fetchOffsets({ groupId, topics: [topic] }), { withinMs: 10_000 })
      for (const s of shards) {
        if (s.topic !== topic) continue
        const o = offsets.find((x) => x.partition === s.partition)
        const g = group?.partitions.find((x) => x.partition === s.partition)
        const low = BigInt(o?.low ?? '0')
        const committed = g === undefined ? -1n : BigInt(g.offset)
        out.set(shardKey(s), { high: BigInt(o?.high ?? '0'), start: committed >= low ? committed : low })
      }
    }
    return out
  } finally {
    await admin.disconnect()
  }
}
