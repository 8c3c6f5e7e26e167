// The Kafka service: one detection shard per input partition, its state restored from the changelog, each batch's output in one transaction.
import type { Config } from './config/schema.ts'
import type { ServiceSettings } from './config/service.ts'
import type { DetectorDef } from './engine/detector.ts'
import type { SkipReason } from './decode/result.ts'
import { DeviceBudget } from './engine/budget.ts'
import { changelogRecords, readChangelog, shardKey } from './kafka/changelog.ts'
import type { ShardId, StoredShard } from './kafka/changelog.ts'
import { createKafka, explainConnect, requireStateTopic, requireTopics, topicMessageLimits } from './kafka/client.ts'
import { ConsumerHealth } from './kafka/health.ts'
import { LagReporter } from './kafka/lag.ts'
import { ingestRecord } from './kafka/records.ts'
import { ShardOutcomes, emptyPending, takePending } from './kafka/pending.ts'
import type { Pending } from './kafka/pending.ts'
import { createPipeline } from './pipeline.ts'
import type { DetectionPipeline } from './pipeline.ts'
import { MIN_DEAD_LETTER_BYTES } from './sinks/dead-letter.ts'
import { shardWriter } from './sinks/kafka.ts'
import type { OutRecord, ShardWriter } from './sinks/kafka.ts'
import { createMetrics } from './metrics.ts'
import type { ServiceMetrics } from './metrics.ts'
import { startKafkaSource } from './sources/kafka.ts'
import { AppError } from './errors.ts'
import { VERSION } from './version.ts'
import { startWebhooks } from './sinks/webhooks/index.ts'
import type { KafkaSource, PartitionBatch } from './sources/kafka.ts'

export interface ServiceCounters {
  records: number
  events: number
  deadLetters: number
  alerts: number
  batches: number
  /** Devices brought back from the state topic on assignment. */
  restoredDevices: number
}

export interface Service {
  readonly counters: Readonly<ServiceCounters>
  readonly metrics: ServiceMetrics
  /** Group joined, every assigned shard restored, consuming (fetches coming, no lasting rebalance, no crash), not stopping. */
  ready(): boolean
  /** Settles when the service cannot go on (its consumer keeps dying): `run` stops it and exits 1. */
  readonly failed: Promise<Error>
  /** Graceful stop: not ready, finish and commit the batches in hand, leave the group, close the producers. */
  stop(): Promise<void>
}

interface Shard {
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

/** Alerts and dead letters pending in a shard at most before it commits, whatever the interval. */
const MAX_PENDING_RECORDS = 20_000
/** Bytes of alerts and dead letters pending in a shard at most before it commits. */
const MAX_PENDING_BYTES = 16 << 20

/** Room a dead letter leaves in its topic's max.message.bytes: the record batch's header and the key. */
const DEAD_LETTER_MARGIN = 1024

/** How often the consumer's health is looked at (a stall or crash reported as it starts). */
const HEALTH_CHECK_MS = 1_000
/** A consumer kafkajs gave up on is replaced after this; more failures in a row than MAX_RESTARTS end the service. */
const RESTART_DELAY_MS = 2_000
const MAX_RESTARTS = 5
/** Failures of the consumer this far apart (in the group meanwhile) do not add up to MAX_RESTARTS. */
const RESTARTS_FORGOTTEN_MS = 300_000
/** A member out of the group this long after its consumer was replaced gives up (exit 1). */
const NOT_JOINED_LIMIT_MS = 120_000

const SKIP_REASONS: readonly SkipReason[] = ['blank', 'header', 'marker']


const ignore = (): void => undefined

/** How long a shard whose restore failed waits before its partition is read (and the restore tried) again. */
const RESTORE_RETRY_MS = 1_000

/** How often the consumer lag is read from the broker besides each batch. */
const LAG_REFRESH_MS = 15_000

/** How long webhook deliveries in flight may finish at stop (within run's 25 s budget). */
const WEBHOOK_GRACE_MS = 10_000

export const startService = async (
  config: Config,
  settings: ServiceSettings,
  detectors: readonly DetectorDef[],
  warn: (message: string) => void = (m) => process.stderr.write(`egress-sentinel run: ${m}\n`),
): Promise<Service> => {
  const { topics, groupId } = settings
  const kafkaSettings = { brokers: settings.brokers, clientId: 'egress-sentinel', security: settings.security }
  const kafka = createKafka(kafkaSettings)
  const inputs = [...new Set([topics.events, topics.telemetry])]
  const messageLimits = await explainConnect(kafkaSettings, async () => {
    await requireTopics(kafka, [...inputs, topics.alerts, topics.dlq, topics.state])
    await requireStateTopic(kafka, topics.state, inputs)
    return topicMessageLimits(kafka, [topics.alerts, topics.dlq, topics.state])
  })
  // Every dead letter fits the dead-letter topic: its raw bytes are cut to what the topic takes.
  const dlqRoom = (): number => messageLimits.get(topics.dlq)! - DEAD_LETTER_MARGIN
  const dlqLimit = dlqRoom()
  if (dlqLimit < MIN_DEAD_LETTER_BYTES) {
    throw new AppError('EGD_KAFKA', `dead-letter topic "${topics.dlq}" has max.message.bytes=${messageLimits.get(topics.dlq)}; it needs at least ${MIN_DEAD_LETTER_BYTES + DEAD_LETTER_MARGIN}`)
  }
  /** Read again when the broker refuses a record for its size (a limit lowered since the start). */
  const deadLetterLimits: { maxRawBytes: number; maxRecordBytes: number } = { maxRawBytes: config.input.deadLetterRawBytes, maxRecordBytes: dlqLimit }

  const counters: ServiceCounters = { records: 0, events: 0, deadLetters: 0, alerts: 0, batches: 0, restoredDevices: 0 }
  const shards = new Map<string, Shard>()
  /** Shards being fenced and restored, by key. */
  const opening = new Map<string, Promise<Shard>>()
  /** engine.maxDevices bounds the whole process: every shard's engine draws on this one budget. */
  const budget = new DeviceBudget(config.engine.maxDevices)
  let joined = false
  let stopping = false
  /** Shards whose restore failed and is to be tried again, by key: when it was last reported. */
  const unrestored = new Map<string, number>()
  let fail: (err: Error) => void = () => undefined
  const failed = new Promise<Error>((resolve) => (fail = resolve))
  const health = new ConsumerHealth(settings.stallTimeoutSeconds * 1000, {
    onCrash: (restarting) => metrics.consumerCrashes.inc({ restart: String(restarting) }),
    onDead: (err) => replaceConsumer(err),
  })
  /** Why the member is not ready now, or null when it is. */
  const notReady = (): string | null => {
    if (stopping) return 'stopping'
    if (!joined) return 'not in the group yet'
    if (opening.size > 0 || unrestored.size > 0) return 'restoring state'
    return health.problem()
  }
  const ready = (): boolean => notReady() === null
  const metrics = createMetrics(
    {
      devicesTracked: () => budget.total,
      forEachOpenAlert: (visit) => {
        for (const s of shards.values()) s.pipeline.forEachOpenAlert(visit)
      },
      forEachWebhookTarget: (visit) => webhooks?.forEachTarget(visit),
      shards: () => shards.size,
      ready,
    },
    VERSION,
    settings.http.metricsTopDevices,
  )
  // Webhooks follow the alerts topic from before the first alert this member sends.
  const webhooks =
    settings.webhooks.length === 0
      ? null
      : await startWebhooks({
          kafka, groupId, alertsTopic: topics.alerts, dlqTopic: topics.dlq, sessionTimeoutMs: settings.sessionTimeoutSeconds * 1000,
          targets: settings.webhooks, metrics, warn,
          // Deliveries would stall behind a ready probe: the process ends (exit 1) and its restart reads on from the committed position.
          onDead: (err) => fail(new AppError('EGD_KAFKA', `a webhook target's reader of ${topics.alerts} stopped for good: ${err.name}: ${err.message}`, { cause: err })),
        })

  /** Takes a shard's engine out of the device budget and closes its writer. */
  const close = (shard: Shard): void => {
    shard.pipeline.release()
    void shard.writer.close().catch(ignore)
  }

  /** A shard's transactional id: whoever owns the shard next initialises it, fencing this member's producer. */
  const transactionalId = (s: ShardId): string => `egress-sentinel.${groupId}.${shardKey(s)}`

  const refreshLimits = async (): Promise<void> => {
    const fresh = await topicMessageLimits(kafka, [topics.alerts, topics.dlq, topics.state])
    for (const [topic, limit] of fresh) messageLimits.set(topic, limit)
    // Below the minimum `run` starts with, dead letters are cut to nothing but their frame; one the
    // broker refuses even so fails its batch again and again, and the consumer's failures end `run`.
    deadLetterLimits.maxRecordBytes = Math.max(0, dlqRoom())
  }

  const lag = new LagReporter(kafka, groupId, metrics.consumerLag, (key) => {
    const s = shards.get(key)
    return s === undefined || s.stale ? null : s.committed
  })

  /**
   * A new pipeline carrying on from the stored state. A state it cannot take (other detectors, a
   * format it does not read) is reported and replaced: that shard starts afresh and forgets it.
   */
  const buildShard = (id: ShardId, writer: ShardWriter, stored: StoredShard | null): Shard => {
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
      warn(`the state of ${key} ${problem}; that shard starts afresh from offset ${stored.nextOffset}`)
      pipeline.release()
      pipeline = make()
      return { ...shard, pipeline, skipBelow: BigInt(stored.nextOffset), forget: snapshot.devices.map((d) => `${key}/${d.id}`) }
    }
    counters.restoredDevices += snapshot.devices.length
    metrics.restoredDevices.inc(snapshot.devices.length)
    return { ...shard, skipBelow: BigInt(stored.nextOffset) }
  }

  /** Fences and restores `wanted` shards together: one producer each, one read of the state topic for all. */
  const openShards = (wanted: readonly ShardId[]): void => {
    const todo = wanted.filter((s) => !shards.has(shardKey(s)) && !opening.has(shardKey(s)))
    if (todo.length === 0) return
    const all = (async (): Promise<Shard[]> => {
      const stopTimer = metrics.restoreSeconds.startTimer()
      const writers = todo.map((s) => shardWriter(kafka, transactionalId(s)))
      try {
        // Fencing aborts what a previous owner left open, so the state read next is final.
        await Promise.all(writers.map((w) => w.fence()))
        const stored = await readChangelog({ kafka, stateTopic: topics.state, groupPrefix: groupId, shards: todo })
        const built = todo.map((s, i) => buildShard(s, writers[i]!, stored.get(shardKey(s)) ?? null))
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
      opening.set(key, promise)
      promise.then(
        (shard) => {
          if (opening.get(key) !== promise) return close(shard) // revoked while it opened
          opening.delete(key)
          unrestored.delete(key)
          shards.set(key, shard)
        },
        (err: Error) => {
          if (opening.get(key) !== promise) return
          opening.delete(key)
          if (stopping) return
          // Not ready until it is; reported once a minute while it keeps failing.
          const last = unrestored.get(key)
          if (last === undefined || Date.now() - last >= 60_000) {
            warn(`${key}: state not restored (${err.message}); trying again`)
            unrestored.set(key, Date.now())
          }
        },
      )
    })
  }

  /** Takes a shard out of memory; what it had not committed is read again by whoever owns it next. */
  const drop = (shard: Shard): void => {
    const key = shardKey(shard.id)
    if (shards.get(key) === shard) shards.delete(key)
    close(shard)
  }

  const onBatch = async (batch: PartitionBatch, heartbeat: () => Promise<void>, pause: () => () => void): Promise<boolean> => {
    const key = shardKey(batch)
    const shard = shards.get(key)
    if (shard === undefined) {
      // Its state is still being restored: the partition pauses, the others go on, and it is read
      // again from the same offset once the state is in.
      if (stopping) {
        pause() // not fetched again before the consumer stops
        return false
      }
      if (!opening.has(key)) openShards([batch])
      const resume = pause()
      opening.get(key)!.then(resume, () => setTimeout(resume, RESTORE_RETRY_MS))
      return false
    }
    shard.busy = true
    // A shard that never committed started where the group had nothing committed: its first record.
    shard.committed ??= BigInt(batch.messages[0]!.offset)
    try {
      const endTimer = metrics.batchSeconds.startTimer()
      await ingestBatch(shard, batch, heartbeat)
      metrics.batchRecords.observe(batch.messages.length)
      // Commit when caught up with the partition (an idle stream waits for nothing), else every
      // interval: under load one transaction carries several batches and each device's state once.
      const caughtUp = BigInt(batch.lastOffset) + 1n >= BigInt(batch.highWatermark)
      const due = Date.now() - shard.lastCommitAt >= settings.commitIntervalMs
      const full = shard.pending.alerts.length + shard.pending.dead.length > MAX_PENDING_RECORDS || shard.pending.bytes > MAX_PENDING_BYTES
      if (stopping || caughtUp || due || full) {
        await commitShard(shard)
        // The lag is what the group has committed, as Kafka's own tools count it: processed but not
        // committed is read again after a failure, so it is not behind us yet.
        if (shards.get(key) === shard && !shard.stale) lag.set(shard.id, BigInt(batch.highWatermark) - shard.committed!)
      }
      health.fetched()
      endTimer()
      return true
    } catch (err) {
      metrics.transactions.inc({ result: 'aborted' })
      // Nothing since the last commit counts: whoever reads it again starts from the stored state.
      // The consumer may fetch on from where it was rather than rejoin: it goes back to that state's offset.
      drop(shard)
      if (shard.committed !== null) {
        try {
          source.seek(batch.topic, batch.partition, shard.committed.toString())
        } catch {
          // the consumer is stopping: its next owner starts from the committed offset anyway
        }
      }
      throw err
    } finally {
      shard.busy = false
      if (shard.stale) drop(shard)
    }
  }

  /** Decodes a batch into the shard; its output waits in `pending` for the next commit. */
  const ingestBatch = async (shard: Shard, batch: PartitionBatch, heartbeat: () => Promise<void>): Promise<void> => {
    const skipBelow = shard.skipBelow
    if (skipBelow !== null) {
      // The consumer may start behind the stored state (a previous owner committed after this member
      // fetched its offsets): those records are in the state already.
      if (BigInt(batch.lastOffset) < skipBelow) return
      const first = BigInt(batch.messages[0]!.offset)
      if (first > skipBelow) warn(`${shardKey(shard.id)}: records ${skipBelow} to ${first - 1n} are gone (retention or an offset reset); their state is kept`)
    }
    const { outcomes } = shard
    // The format names the events topic's collector; telemetry is canonical, read as auto.
    const format = batch.topic === topics.events ? settings.format : 'auto'
    const context = { pipeline: shard.pipeline, config, format, nowMs: Date.now() }
    outcomes.topic = batch.topic
    outcomes.partition = batch.partition
    outcomes.nowMs = context.nowMs
    let n = 0
    for (const message of batch.messages) {
      if (skipBelow !== null && BigInt(message.offset) < skipBelow) continue
      counters.records++
      outcomes.offset = message.offset
      outcomes.key = message.key
      // Heartbeats by lines decoded, not records: one record may hold many lines.
      n += ingestRecord(message.value, context, outcomes)
      if (n >= 1000) {
        n = 0
        await heartbeat()
      }
    }
    shard.skipBelow = null
    shard.pending.nextOffset = (BigInt(batch.lastOffset) + 1n).toString()
  }

  /** Alerts, dead letters, the state they leave and the input offset, in one transaction: all or none. */
  const commitShard = async (shard: Shard): Promise<void> => {
    const { id } = shard
    const nextOffset = shard.pending.nextOffset
    if (nextOffset === null) return
    const key = shardKey(id)
    const forget: OutRecord[] = shard.forget.map((k) => ({ key: k, value: null, partition: id.partition }))
    const state = [...forget, ...changelogRecords(id, shard.pipeline.takeChanges(), nextOffset)]
    const pending = takePending(shard.pending)
    const e = shard.pipeline.engine
    const evictedNow = { ttl: e.evictedTtl, capacityNew: e.evictedNew, capacityLearned: e.evictedLearned }
    const consumed = { groupId, topic: id.topic, partition: id.partition, offset: nextOffset }
    const lists = (dead: readonly OutRecord[]) => [{ topic: topics.alerts, records: pending.alerts }, { topic: topics.dlq, records: dead }, { topic: topics.state, records: state }]
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
      const writer = shardWriter(kafka, transactionalId(id))
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
    shard.committed = BigInt(nextOffset)
    // Counted once committed: an aborted batch is processed again.
    const sourceTopic = id.topic
    counters.events += pending.accepted + pending.late
    counters.deadLetters += pending.dead.length
    counters.alerts += pending.alerts.length
    counters.batches++
    if (pending.accepted > 0) metrics.events.inc({ source: sourceTopic, result: 'accepted' }, pending.accepted)
    if (pending.late > 0) metrics.events.inc({ source: sourceTopic, result: 'late' }, pending.late)
    if (pending.dead.length > 0) metrics.events.inc({ source: sourceTopic, result: 'rejected' }, pending.dead.length)
    for (const reason of SKIP_REASONS) {
      const skipped = pending.skipped[reason]
      if (skipped === 0) continue
      metrics.events.inc({ source: sourceTopic, result: 'skipped' }, skipped)
      metrics.skipped.inc({ reason }, skipped)
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
  }

  const onGroupJoin = (assigned: Readonly<Record<string, number[]>>): void => {
    joined = true
    joinedAt = Date.now()
    notJoinedSince = null
    metrics.rebalances.inc()
    const owned: ShardId[] = []
    for (const topic of inputs) for (const partition of assigned[topic] ?? []) owned.push({ topic, partition })
    const keep = new Set(owned.map(shardKey))
    // After a join the consumer reads every partition from the group's committed offset again. A
    // shard stays only if its state is at that offset: not one another member now owns (its writer is
    // fenced by the new owner anyway), not one with uncommitted work, not one whose batch in hand may
    // commit after the consumer fetched its offset (it leaves after that batch, and comes back
    // restored). The offset fetched may still be an older one: kafkajs' OffsetFetch does not ask for
    // stable offsets, and the broker may not show a commit whose transaction markers are not written
    // yet (3 fetches in 100 right after a commit, measured here). A kept shard skips what it re-reads
    // below its committed offset, as a restored shard does: those records are in its state already.
    // The lag of a partition this member no longer owns is its new owner's to report.
    lag.assigned(owned)
    for (const [key, shard] of shards) {
      if (!keep.has(key)) {
        drop(shard)
      } else if (shard.busy) {
        shard.stale = true
      } else if (shard.pending.nextOffset !== null) {
        drop(shard)
      } else if (shard.committed !== null) {
        shard.skipBelow = shard.committed
      }
    }
    for (const key of opening.keys()) if (!keep.has(key)) opening.delete(key)
    for (const key of unrestored.keys()) if (!keep.has(key)) unrestored.delete(key)
    openShards(owned)
  }

  // The lag is also read from the broker every LAG_REFRESH_MS, so that it grows while no batch comes
  // (a stalled member, a shard dropped after a failure).
  const lagTimer = setInterval(() => lag.refresh(() => stopping), LAG_REFRESH_MS)
  lagTimer.unref()

  // A stall, a lasting rebalance or a crash is said once as it starts, and once as it ends.
  let reported: string | null = null
  const healthTimer = setInterval(() => {
    const problem = joined && !stopping ? health.problem() : null
    if (problem !== null && reported === null) warn(`not ready: ${problem}`)
    if (problem === null && reported !== null) warn('consuming again')
    reported = problem
    // A replacement consumer that never gets into the group (its join keeps failing quietly) is a stall too.
    if (notJoinedSince !== null && !stopping && Date.now() - notJoinedSince > NOT_JOINED_LIMIT_MS) {
      fail(new AppError('EGD_KAFKA', `not in the consumer group for ${Math.round((Date.now() - notJoinedSince) / 1000)} s after the consumer was replaced`))
    }
  }, HEALTH_CHECK_MS)
  healthTimer.unref()

  const startSource = (): Promise<KafkaSource> =>
    startKafkaSource({ kafka, groupId, topics: inputs, sessionTimeoutMs: settings.sessionTimeoutSeconds * 1000, onBatch, onGroupJoin, health })

  /**
   * kafkajs stops a consumer for good on an error it deems non-retriable (a group coordinator not
   * found after a broker restart, a refused transaction): a new consumer takes its place, from the
   * committed offsets and the stored state, as a restarted process would. Failing again and again
   * without joining the group, the service gives up: `failed` settles and `run` exits 1.
   */
  let restarts = 0
  let replacing: Promise<void> | null = null
  /** A crash heard while a replacement was under way (kafkajs reports a failed first join as a crash inside `run`). */
  let crashedMeanwhile: Error | null = null
  /** Since when the member has been out of the group after a replacement; null while in it. */
  let notJoinedSince: number | null = null
  let joinedAt = 0
  const stopWaiting = new AbortController()
  /** A crash heard while the first consumer starts (a missing ACL): `startService` fails with it. */
  let startupCrash: Error | null = null
  let started = false
  const replaceConsumer = (err: Error): void => {
    if (stopping) return
    if (!started) {
      startupCrash ??= err
      return
    }
    if (replacing !== null) {
      crashedMeanwhile = err
      return
    }
    // Failures far apart are not a loop: a member that stayed in the group a while starts a new count.
    if (joined && Date.now() - joinedAt > RESTARTS_FORGOTTEN_MS) restarts = 0
    replacing = (async () => {
      for (let cause: Error | null = err; cause !== null && !stopping; ) {
        restarts++
        if (restarts > MAX_RESTARTS) {
          fail(new AppError('EGD_KAFKA', `the consumer failed ${MAX_RESTARTS} times in a row without committing anything; the last error: ${cause.name}: ${cause.message}`, { cause }))
          return
        }
        const delay = RESTART_DELAY_MS * restarts
        warn(`the consumer stopped (${cause.name}: ${cause.message}); starting a new one in ${delay / 1000} s (${restarts} of ${MAX_RESTARTS})`)
        joined = false
        notJoinedSince ??= Date.now()
        for (const shard of [...shards.values()]) drop(shard)
        opening.clear()
        unrestored.clear()
        lag.assigned([])
        await source.stop().catch(ignore)
        await abortableDelay(delay, stopWaiting.signal)
        if (stopping) return
        health.reset()
        crashedMeanwhile = null
        try {
          source = await startSource()
          cause = crashedMeanwhile
        } catch (e) {
          cause = e as Error
        }
      }
    })()
      // Nothing may leave the replacement unheard: what it throws ends the service.
      .catch((e: Error) => fail(e))
      .finally(() => (replacing = null))
  }

  let source: KafkaSource
  try {
    source = await startSource()
    started = true
    if (startupCrash !== null) {
      const crash: Error = startupCrash
      await source.stop().catch(ignore)
      throw new AppError('EGD_KAFKA', `the consumer failed as it started: ${crash.name}: ${crash.message}`, { cause: crash })
    }
  } catch (err) {
    clearInterval(lagTimer)
    clearInterval(healthTimer)
    await webhooks?.stop(0)
    throw err
  }
  return {
    counters,
    metrics,
    ready,
    failed,
    async stop() {
      if (stopping) return
      stopping = true
      stopWaiting.abort()
      clearInterval(lagTimer)
      clearInterval(healthTimer)
      // A refresh under way ends first and closes its admin client (a stuck one is not waited for long).
      await lag.settle(2_000)
      try {
        await replacing?.catch(ignore)
        await source.stop()
        // What waited for the commit interval is committed before leaving; if a new owner has
        // fenced a shard meanwhile, its commit fails and the new owner reads that input again.
        await Promise.all([...shards.values()].map((s) => commitShard(s).catch((err: Error) => warn(`${shardKey(s.id)}: not committed at stop (${err.message}); its new owner reads it again`))))
      } finally {
        // Shards still opening close themselves once they are no longer wanted.
        const pending = [...opening.values()]
        opening.clear()
        await Promise.allSettled(pending)
        await Promise.all([...shards.values()].map((s) => s.writer.close().catch(ignore)))
        shards.clear()
        // Deliveries still in flight get a grace; what is left is delivered by the next owner.
        await webhooks?.stop(WEBHOOK_GRACE_MS)
      }
    },
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
const abortableDelay = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const timer = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => {
      clearTimeout(timer)
      resolve()
    }, { once: true })
  })

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
