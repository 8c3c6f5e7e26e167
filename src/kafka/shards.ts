// The shards a member of `run` owns: one per input partition, fenced and restored on assignment, dropped on revocation or failure.
import type { Kafka } from 'kafkajs'
import type { Config } from '../config/schema.ts'
import type { DetectorDef } from '../engine/detector.ts'
import type { DeviceBudget } from '../engine/budget.ts'
import { createPipeline } from '../pipeline.ts'
import type { DetectionPipeline } from '../pipeline.ts'
import type { ServiceMetrics } from '../metrics.ts'
import type { DeadLetterLimits } from '../sinks/dead-letter.ts'
import { shardWriter } from '../sinks/kafka.ts'
import type { ShardWriter } from '../sinks/kafka.ts'
import { readChangelog, shardKey } from './changelog.ts'
import type { ShardId, StoredShard } from './changelog.ts'
import { ShardOutcomes, emptyPending } from './pending.ts'
import type { Pending } from './pending.ts'

export interface Shard {
  readonly id: ShardId
  readonly pipeline: DetectionPipeline
  /** Where its records' outcomes go (one object for the shard's life: nothing allocated per record). */
  readonly outcomes: ShardOutcomes
  /** Replaced after a refusal for size: a producer whose transaction failed mid-request may hold stale sequence numbers. */
  writer: ShardWriter
  readonly pending: Pending
  /** Input records before this offset are in the restored state already; null once past them. */
  skipBelow: bigint | null
  /** The engine's eviction counters at the last commit (evictions are counted as they commit). */
  readonly evictedAtCommit: { ttl: number; capacityNew: number; capacityLearned: number }
  /** Device keys of a stored state that could not be restored, deleted by the first transaction. */
  forget: string[]
  lastCommitAt: number
  /** A batch is being processed. */
  busy: boolean
  /** A rebalance happened during the batch in hand: the shard leaves memory after it. */
  stale: boolean
  /** The input offset its last committed transaction (or the state it restored) goes on from; null before either. */
  committed: bigint | null
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

  /** Whether a shard is still being restored (or waits to be tried again). */
  get restoring(): boolean {
    return this.opening.size > 0 || this.unrestored.size > 0
  }

  /** Takes a shard's engine out of the device budget and closes its writer. */
  private close(shard: Shard): void {
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
   * fenced by the new owner anyway), not one with uncommitted work, not one whose batch in hand may
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
      } else if (shard.pending.nextOffset !== null) {
        this.drop(shard)
      } else if (shard.committed !== null) {
        shard.skipBelow = shard.committed
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
        const stored = await readChangelog({ kafka, stateTopic: this.o.stateTopic, groupPrefix: this.o.groupId, shards: todo })
        const built = todo.map((s, i) => this.build(s, writers[i]!, stored.get(shardKey(s)) ?? null))
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
  private build(id: ShardId, writer: ShardWriter, stored: StoredShard | null): Shard {
    const { config, detectors, budget, metrics, deadLetterLimits } = this.o
    const pending = emptyPending()
    const make = (): DetectionPipeline =>
      createPipeline(config, detectors, (a) => {
        const value = JSON.stringify(a)
        pending.alerts.push({ key: a.deviceId, value })
        pending.alertLabels.push({ detector: a.detector, severity: a.severity, status: a.status })
        pending.bytes += value.length
      }, { trackChanges: true, budget })
    let pipeline = make()
    const shard: Shard = {
      id, pipeline, outcomes: new ShardOutcomes(pending, deadLetterLimits, metrics.eventLag), writer, pending, skipBelow: null, forget: [],
      lastCommitAt: Date.now(), busy: false, stale: false, evictedAtCommit: { ttl: 0, capacityNew: 0, capacityLearned: 0 },
      committed: stored === null ? null : BigInt(stored.nextOffset),
    }
    if (stored === null) return shard
    const key = shardKey(id)
    const { snapshot } = stored
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
      this.o.warn(`the state of ${key} ${problem}; that shard starts afresh from offset ${stored.nextOffset}`)
      pipeline.release()
      pipeline = make()
      return { ...shard, pipeline, skipBelow: BigInt(stored.nextOffset), forget: snapshot.devices.map((d) => `${key}/${d.id}`) }
    }
    this.o.onRestored(snapshot.devices.length)
    return { ...shard, skipBelow: BigInt(stored.nextOffset) }
  }
}
