// A shard's commit in `run`: its alerts, dead letters, changelog records and input offset in one Kafka transaction, then the counts of what it committed.
import type { Kafka } from 'kafkajs'
import { SKIP_REASONS } from '../decode/result.ts'
import type { ServiceMetrics } from '../metrics.ts'
import { oversized, shardWriter } from '../sinks/kafka.ts'
import type { OutRecord, TopicRecords } from '../sinks/kafka.ts'
import { AppError } from '../errors.ts'
import { changelogRecords, deviceSlash, shardKey } from './changelog.ts'
import type { InputPositions } from './changelog.ts'
import { takePending } from './pending.ts'
import type { Shard, ShardSet } from './shards.ts'
import type { ModelsFeed } from './models.ts'
import { LAG_EPOCHS } from '../engine/fleet.ts'


const ignore = (): void => undefined

/** What a commit writes to and counts in. */
export interface CommitContext {
  readonly kafka: Kafka
  readonly groupId: string
  readonly topics: { readonly alerts: string; readonly dlq: string; readonly state: string; readonly models: string }
  /** The models topic's reader (tombstones, snapshots). */
  readonly feed: ModelsFeed
  /** Each output topic's max.message.bytes (read again after a refusal for size). */
  readonly messageLimits: ReadonlyMap<string, number>
  readonly refreshLimits: () => Promise<void>
  readonly shards: ShardSet
  readonly counters: { events: number; deadLetters: number; alerts: number; batches: number }
  readonly metrics: ServiceMetrics
  readonly warn: (message: string) => void
  /** Stops the service with this error (exit 1): what no retry can mend. */
  readonly fail: (err: AppError) => void
}

/**
 * Alerts, dead letters, the state they leave, the shard's fleet-view publications and the input
 * offset, in one transaction: all or none.
 */
export const commitShardOutput = async (shard: Shard, ctx: CommitContext): Promise<void> => {
  const { kafka, groupId, topics, messageLimits, refreshLimits, shards, counters, metrics, warn } = ctx
  const { id } = shard
  // The inputs read since the last commit, and where to: nothing read, nothing to commit.
  const moved = shard.inputs.flatMap((i) => (i.next === null ? [] : [[i, i.next, i.nextLine] as const]))
  if (moved.length === 0) return
  const key = shardKey(id)
  const positions: InputPositions = shard.inputs.flatMap((i): (readonly [string, string, number])[] =>
    i.next !== null ? [[i.topic, i.next, i.nextLine]] : i.committed !== null ? [[i.topic, i.committed.toString(), i.committedLine]] : [],
  )
  const forget: OutRecord[] = shard.forget.map((k) => ({ key: k, value: null, partition: id.partition }))
  const state = [...forget, ...changelogRecords(id, shard.pipeline.takeChanges(), positions)]
  const models = shard.outbox.take(shard.pipeline.time(), shard.waitingAt === null ? null : ctx.feed.committed.epochOf(shard.waitingAt) - LAG_EPOCHS, ctx.feed)
  const pending = takePending(shard.pending)
  const e = shard.pipeline.engine
  const evictedNow = { ttl: e.evictedTtl, capacityNew: e.evictedNew, capacityLearned: e.evictedLearned }
  const consumed = moved.map(([i, offset]) => ({ groupId, topic: i.topic, partition: i.partition, offset }))
  const lists = (dead: readonly OutRecord[]) => [
    { topic: topics.alerts, records: pending.alerts }, { topic: topics.dlq, records: dead }, { topic: topics.state, records: state }, { topic: topics.models, records: models },
  ]
  await requireFit(key, [{ topic: topics.state, records: state }, { topic: topics.models, records: models }], ctx)
  try {
    await shard.writer.commit(lists(pending.dead), consumed, messageLimits)
  } catch (err) {
    if (!tooLarge(err) || pending.dead.length === 0) throw err
    // The broker refused a record for its size although each was cut to the topic's limit (a limit
    // lowered since the start): the limits are read again, and the dead letters go again without
    // their raw bytes, rather than stop the shard. Through a new producer: kafkajs does not keep
    // the sequence numbers of the partitions a failed request did write, and the broker would take
    // the same records again as duplicates of the aborted ones, and drop them.
    warn(`${key}: the broker refused a record for its size (${(err as Error).message}); dead letters sent again without their raw bytes`)
    await refreshLimits()
    await shard.writer.close().catch(ignore)
    // Not this member's any more (revoked meanwhile, before or while the new producer fences): the
    // new owner reads the batch again, and this producer must not fence it.
    const revoked = (): boolean => shards.get(key) !== shard
    if (revoked()) throw new Error(`${key} was revoked during its commit`)
    const writer = shardWriter(kafka, shards.transactionalId(id))
    shard.writer = writer
    await writer.fence()
    if (revoked()) {
      await writer.close().catch(ignore)
      throw new Error(`${key} was revoked during its commit`)
    }
    await writer.commit(lists(pending.dead.map(withoutRaw)), consumed, messageLimits)
  }
  shard.forget = []
  shard.lastCommitAt = Date.now()
  for (const [i, offset, line] of moved) {
    i.committed = BigInt(offset)
    i.committedLine = line
    if (i.next === offset && i.nextLine === line) i.next = null
  }
  // Counted once committed: an aborted batch is processed again.
  counters.deadLetters += pending.dead.length
  counters.alerts += pending.alerts.length
  counters.batches++
  for (const [source, c] of pending.sources) {
    counters.events += c.accepted + c.late
    if (c.accepted > 0) metrics.events.inc({ source, result: 'accepted' }, c.accepted)
    if (c.late > 0) metrics.events.inc({ source, result: 'late' }, c.late)
    if (c.rejected > 0) metrics.events.inc({ source, result: 'rejected' }, c.rejected)
    for (const reason of SKIP_REASONS) {
      const skipped = c.skipped[reason]
      if (skipped === 0) continue
      metrics.events.inc({ source, result: 'skipped' }, skipped)
      metrics.skipped.inc({ reason }, skipped)
    }
  }
  for (const reason of pending.deadReasons) metrics.dlq.inc({ reason })
  for (const a of pending.alertLabels) metrics.alerts.inc(a)
  // Evictions count as they commit too: a batch read again evicts again.
  const at = shard.evictedAtCommit
  if (evictedNow.ttl > at.ttl) metrics.evicted.inc({ reason: 'ttl' }, evictedNow.ttl - at.ttl)
  if (evictedNow.capacityNew > at.capacityNew) metrics.evicted.inc({ reason: 'capacity_new' }, evictedNow.capacityNew - at.capacityNew)
  if (evictedNow.capacityLearned > at.capacityLearned) metrics.evicted.inc({ reason: 'capacity_learned' }, evictedNow.capacityLearned - at.capacityLearned)
  Object.assign(at, evictedNow)
  metrics.transactions.inc({ result: 'committed' })
  metrics.stateRecords.inc(state.length)
  if (models.length > 0) metrics.modelsRecords.inc(models.length)
}

/**
 * A shard's fleet-view publications alone (its closed epochs' contributions and its progress), in a
 * transaction of their own: what another member waits for, without the device state and offsets,
 * which the next commit writes when due. A shard that fails before that commit is read again from
 * its committed state and closes those epochs again: the topic keeps what was published (see
 * ModelsOutbox.publishedThrough). A shard without a committed state, or too far ahead of it
 * (`canPublishAhead`), commits everything instead.
 */
export const publishShardProgress = async (shard: Shard, ctx: CommitContext): Promise<void> => {
  // A shard with no committed state yet, or too far ahead of it, commits it all.
  if (!shard.outbox.canPublishAhead) return commitShardOutput(shard, ctx)
  const models = shard.outbox.take(shard.pipeline.time(), shard.waitingAt === null ? null : ctx.feed.committed.epochOf(shard.waitingAt) - LAG_EPOCHS, ctx.feed, false)
  if (models.length === 0) return
  await requireFit(shardKey(shard.id), [{ topic: ctx.topics.models, records: models }], ctx)
  await shard.writer.publish([{ topic: ctx.topics.models, records: models }], ctx.messageLimits)
  ctx.metrics.transactions.inc({ result: 'committed' })
  ctx.metrics.modelsRecords.inc(models.length)
}

/** What a record of the state or models topic holds, by its key (topic names hold no "/"). */
const holds = (topic: string, key: string | null, ctx: CommitContext): string => {
  const k = key ?? ''
  if (topic === ctx.topics.state) {
    return deviceSlash(k) === -1
      ? "the shard record: its clocks, input offsets and its open epochs' fleet contributions, which grow with the models and destinations the shard sees (more partitions, fewer each)"
      : "a device's state"
  }
  if (k.startsWith('c/')) return "a shard's contribution to one epoch of the fleet view, which grows with the models and destinations the shard sees (more partitions, fewer each)"
  if (k.startsWith('s/')) return "a model's level in a snapshot of the fleet view"
  return 'a fleet view record'
}

/** A state or models record over its topic's max.message.bytes: no retry can send it. */
export class UnfitRecord extends AppError {}

/**
 * Stops the service at a commit that holds a state or models record over its topic's
 * max.message.bytes, which the broker would refuse at every try, naming the record, what it holds
 * and how to make room (the limits are read again first: one raised meanwhile lets the commit go).
 * Alerts are bounded, and dead letters are cut to their topic's limit, with a retry of their own.
 */
const requireFit = async (key: string, lists: readonly TopicRecords[], ctx: CommitContext): Promise<void> => {
  if (oversized(lists, ctx.messageLimits) === null) return
  await ctx.refreshLimits()
  const over = oversized(lists, ctx.messageLimits)
  if (over === null) return
  let room = 1 << 20
  while (room < 2 * over.bytes) room *= 2
  const err = new UnfitRecord(
    'EGD_KAFKA',
    `${key}: record "${over.key}" for topic "${over.topic}" is ${over.bytes} bytes, more than its max.message.bytes (${over.limit}) takes; it is ${holds(over.topic, over.key, ctx)}. ` +
      `Raise the topic's limit (kafka-configs.sh --bootstrap-server <brokers> --alter --entity-type topics --entity-name ${over.topic} --add-config max.message.bytes=${room})`,
  )
  ctx.fail(err)
  throw err
}

/** Whether the broker refused a record or a batch for its size. */
const tooLarge = (err: unknown): boolean => {
  for (let e = err as { type?: unknown; cause?: unknown } | undefined; e !== undefined && e !== null; e = e.cause as typeof e) {
    if (e.type === 'MESSAGE_TOO_LARGE' || e.type === 'RECORD_LIST_TOO_LARGE') return true
  }
  return false
}

/** A dead letter without its raw bytes (their size and hash stay). */
const withoutRaw = (r: OutRecord): OutRecord => {
  const v = JSON.parse(r.value!) as Record<string, unknown>
  return { key: r.key, value: JSON.stringify({ ...v, raw: '', rawEncoding: undefined, rawTruncated: true }) }
}
