// A shard's batches: held per input, run in event-time order over its inputs (decode → pipeline → pending), committed when due.
import type { Config } from '../config/schema.ts'
import type { ServiceSettings } from '../config/service.ts'
import type { ServiceMetrics } from '../metrics.ts'
import type { PartitionBatch } from '../sources/kafka.ts'
import { shardKey } from './changelog.ts'
import type { ConsumerHealth } from './health.ts'
import type { LagReporter } from './lag.ts'
import { ingestRecord } from './records.ts'
import { FleetWait, InputWait, afterBatch, idle } from './shards.ts'
import type { Shard, ShardInput, ShardSet } from './shards.ts'

/** Alerts and dead letters pending in a shard at most before it commits, whatever the interval. */
const MAX_PENDING_RECORDS = 20_000
/** Bytes of alerts and dead letters pending in a shard at most before it commits. */
const MAX_PENDING_BYTES = 16 << 20

/**
 * A batch is cut for a commit after this many commit intervals (5 s by default): each commit in a
 * backlog holds up the shards that wait for this one, so within a batch they are few.
 */
const MID_BATCH_COMMITS = 10

/** An input's place in a shard's event-time order: where its held batch stopped (-Infinity: not tried yet, it goes first). */
const order = (i: ShardInput): number => (Number.isNaN(i.held!.stoppedAt) ? -Infinity : i.held!.stoppedAt)

export interface BatchRunnerOptions {
  readonly config: Config
  readonly settings: Pick<ServiceSettings, 'commitIntervalMs' | 'format' | 'topics'>
  readonly set: ShardSet
  readonly metrics: ServiceMetrics
  readonly counters: { records: number }
  readonly lag: LagReporter
  readonly health: ConsumerHealth
  readonly warn: (message: string) => void
  /** Commits the shard's pending output with its inputs' positions (one transaction). */
  readonly commit: (shard: Shard) => Promise<void>
  /** Commits a shard's fleet-view publications alone (see publishShardProgress). */
  readonly publish: (shard: Shard) => Promise<void>
  /** Moves the consumer back to an offset of one of its partitions (the member's current consumer). */
  readonly seek: (topic: string, partition: number, offset: string) => void
  readonly stopping: () => boolean
  /** The shard did something: its clock or closed epochs may let others go on. */
  readonly progressed: () => void
  /** This member owns every shard: its shards publish into its own view, and no other member waits for a commit of theirs. */
  readonly alone: () => boolean
}

export class BatchRunner {
  constructor(private readonly o: BatchRunnerOptions) {}

  /**
   * A batch of one of the shard's inputs: held, and the shard's held records run in event-time order
   * (see `drain`). What is not done when `drain` stops stays held, its partition paused: the
   * consumer fetches on after the batch, which counts as taken. False: not taken, fetched again.
   */
  async take(shard: Shard, batch: PartitionBatch, heartbeat: () => Promise<void>, pause: () => () => void): Promise<boolean> {
    const input = shard.inputs.find((i) => i.topic === batch.topic)!
    if (input.held !== null || this.o.stopping()) {
      // A batch fetched before the partition paused: read again once the held one is done.
      input.resume ??= pause()
      return false
    }
    // An input that never committed started where the group had nothing committed: its first record.
    input.committed ??= BigInt(batch.messages[0]!.offset)
    input.held = { batch, index: 0, line: 0, stoppedAt: Number.NaN }
    await this.drain(shard, heartbeat)
    if (input.held !== null) input.resume = pause()
    return true
  }

  /**
   * Runs a shard's held batches in event-time order over its inputs (the smallest event first, as a
   * Kafka Streams task picks among its partitions) until it must stop: an event waits for the fleet
   * view, or for an input that has nothing held but is not read to its end (its batch comes next).
   * A batch run to its end resumes its partition. Commits when due; when it waits for the fleet view
   * before that, publishes the epochs it closed on its way at once (what the others may wait for).
   */
  async drain(shard: Shard, heartbeat: () => Promise<void>): Promise<void> {
    const { set, metrics, commit } = this.o
    const key = shardKey(shard.id)
    shard.busy = true
    let progressed = false
    try {
      for (;;) {
        if (shard.waitingAt !== null) {
          if (!shard.pipeline.canIngest(shard.waitingAt)) break
          shard.waitingAt = null
        }
        // The input whose next event is earliest (one not tried yet first); no other input may still bring an earlier one.
        let next: ShardInput | null = null
        let blocked = false
        for (const i of shard.inputs) {
          if (i.held === null) {
            if (!i.caughtUp) blocked = true
          } else if (next === null || order(i) < order(next)) {
            next = i
          }
        }
        if (next === null || blocked) break
        let bound = Infinity
        for (const i of shard.inputs) if (i !== next && i.held !== null) bound = Math.min(bound, order(i))
        shard.bound = bound
        const endTimer = metrics.batchSeconds.startTimer()
        const held = next.held!
        if (held.index === 0 && held.line === 0) metrics.batchRecords.observe(held.batch.messages.length)
        const stop = await this.runHeld(shard, next, heartbeat)
        endTimer()
        progressed = true
        if (stop === 'fleet') {
          // Commits when due. Else the epochs it closed on its way go out at once, alone (its state
          // follows when due; everything at once for a shard without a committed state or too far
          // ahead of it), when a shard elsewhere may be waiting for them; a member that owns every
          // shard has them in its own view already.
          if (Date.now() - shard.lastCommitAt >= this.o.settings.commitIntervalMs) await commit(shard)
          else if (!this.o.alone()) await this.o.publish(shard)
          break
        }
        if (stop === 'due') {
          await commit(shard)
          continue
        }
        if (stop === 'end') {
          const resume = next.resume
          next.resume = null
          resume?.()
          const due = Date.now() - shard.lastCommitAt >= this.o.settings.commitIntervalMs
          const full = shard.pending.alerts.length + shard.pending.dead.length > MAX_PENDING_RECORDS || shard.pending.bytes > MAX_PENDING_BYTES
          const then = afterBatch({
            stopping: this.o.stopping(), due, full, idle: idle(shard), waited: shard.pending.alerts.length + shard.pending.dead.length > 0, alone: this.o.alone(),
          })
          if (then === 'commit') await commit(shard)
          else if (then === 'publish') await this.o.publish(shard)
          if (set.get(key) === shard && !shard.stale) this.o.lag.set(next, BigInt(held.batch.highWatermark) - (next.committed ?? 0n))
        }
      }
      // What it did may let others go on (its clock, its closed epochs); nothing done, nothing to say.
      if (progressed) {
        this.o.health.fetched()
        this.o.progressed()
      }
    } catch (err) {
      metrics.transactions.inc({ result: 'aborted' })
      this.failed(shard)
      throw err
    } finally {
      shard.bound = Infinity
      shard.busy = false
      if (shard.stale) set.drop(shard)
    }
  }

  /** Nothing since the last commit counts: whoever reads it again starts from the stored state. The consumer goes back to that state's offsets rather than fetch on. */
  failed(shard: Shard): void {
    this.o.set.drop(shard)
    for (const i of shard.inputs) {
      if (i.committed === null) continue
      try {
        this.o.seek(i.topic, i.partition, i.committed.toString())
      } catch {
        // the consumer is stopping: its next owner starts from the committed offset anyway
      }
    }
  }

  /**
   * Ingests an input's held batch from where it stopped, until its end or an event that must wait
   * (for the fleet view, or past the shard's bound: another input holds an earlier one). Its output
   * waits in `pending`, its position in `next`, for the next commit.
   */
  private async runHeld(shard: Shard, input: ShardInput, heartbeat: () => Promise<void>): Promise<'end' | 'input' | 'fleet' | 'due'> {
    const { config, settings, counters } = this.o
    const held = input.held!
    const { batch } = held
    const skipBelow = input.skipBelow
    if (skipBelow !== null && held.index === 0 && held.line === 0) {
      // The consumer may start behind the stored state (a previous owner committed after this member
      // fetched its offsets): those records are in the state already.
      const first = BigInt(batch.messages[0]!.offset)
      if (first > skipBelow) this.o.warn(`${batch.topic}/${batch.partition}: records ${skipBelow} to ${first - 1n} are gone (retention or an offset reset); their state is kept`)
    }
    const { outcomes } = shard
    // The format names the events topic's collector; telemetry is canonical, read as auto.
    const format = batch.topic === settings.topics.events ? settings.format : 'auto'
    const position = { from: 0, line: 0 }
    const context = { target: shard.target, config, format, nowMs: Date.now(), position }
    outcomes.at(batch.topic, batch.partition, context.nowMs)
    const { messages } = batch
    let n = 0
    for (let i = held.index; i < messages.length; i++) {
      const message = messages[i]!
      position.from = i === held.index ? held.line : 0
      if (skipBelow !== null) {
        const offset = BigInt(message.offset)
        if (offset < skipBelow) continue
        if (offset === skipBelow && position.from === 0) position.from = input.skipLine
      }
      if (position.from === 0) counters.records++
      outcomes.offset = message.offset
      outcomes.key = message.key
      try {
        n += ingestRecord(message.value, context, outcomes)
      } catch (err) {
        const fleet = err instanceof FleetWait
        if (!fleet && !(err instanceof InputWait)) throw err
        // It goes on from this record's line: what came before is pending (and in the state the next commit writes).
        held.index = i
        held.line = position.line
        held.stoppedAt = (err as FleetWait | InputWait).ts
        input.skipBelow = null
        input.next = message.offset
        input.nextLine = position.line
        if (fleet) shard.waitingAt = held.stoppedAt
        return fleet ? 'fleet' : 'input'
      }
      // Heartbeats by lines decoded, not records: one record may hold many lines. A long batch stops
      // between records for a commit now and then: what a failure reads again stays short, and the
      // member's view keeps fewer levels for committed states to read.
      if (n >= 1000) {
        n = 0
        await heartbeat()
        const following = messages[i + 1]
        if (following !== undefined && Date.now() - shard.lastCommitAt >= settings.commitIntervalMs * MID_BATCH_COMMITS && (skipBelow === null || BigInt(following.offset) >= skipBelow)) {
          held.index = i + 1
          held.line = 0
          input.next = following.offset
          input.nextLine = 0
          return 'due'
        }
      }
    }
    input.held = null
    input.readTo = BigInt(batch.lastOffset) + 1n
    input.caughtUp = input.readTo >= BigInt(batch.highWatermark)
    // A batch read again wholly below where the state is (up to the record its lines were taken
    // from) changes nothing: what it skips, and the position the next commit writes, stay.
    if (skipBelow !== null && input.readTo <= skipBelow) return 'end'
    input.skipBelow = null
    input.skipLine = 0
    input.next = input.readTo.toString()
    input.nextLine = 0
    return 'end'
  }
}
