// The Kafka service: one detection shard per partition number (partition p of every input), one fleet view shared through the models topic, each batch's output in one transaction.
import type { Config } from './config/schema.ts'
import type { ServiceSettings } from './config/service.ts'
import type { DetectorDef } from './engine/detector.ts'
import { DeviceBudget } from './engine/budget.ts'
import { shardKey } from './kafka/changelog.ts'
import type { ShardId } from './kafka/changelog.ts'
import { createKafka, explainConnect, requireStateTopic, requireTopics, topicMessageLimits } from './kafka/client.ts'
import { ConsumerHealth } from './kafka/health.ts'
import { LagReporter } from './kafka/lag.ts'
import { UnfitRecord, commitShardOutput, publishShardProgress } from './kafka/commit.ts'
import { ShardSet, serial } from './kafka/shards.ts'
import type { Shard } from './kafka/shards.ts'
import { BatchRunner } from './kafka/batches.ts'
import { FleetMover } from './kafka/mover.ts'
import { ModelsFeed, viewSignature } from './kafka/models.ts'
import { EndOffsets } from './kafka/ends.ts'
import { createFleetView, createPipeline } from './pipeline.ts'
import { shardFleet } from './engine/fleet.ts'
import { MIN_DEAD_LETTER_BYTES } from './sinks/dead-letter.ts'
import { createMetrics } from './metrics.ts'
import type { ServiceMetrics } from './metrics.ts'
import { startKafkaSource } from './sources/kafka.ts'
import { AppError } from './errors.ts'
import { VERSION } from './version.ts'
import { Destinations } from './engine/destinations.ts'
import { startWebhooks } from './sinks/webhooks/index.ts'
import { logger } from './log.ts'
import type { KafkaSource, PartitionBatch } from './sources/kafka.ts'

export interface ServiceCounters {
  records: number
  events: number
  /** Input records dead-lettered (undecodable, invalid, too large): committed with their batch. */
  deadLetters: number
  /** Alert records a webhook target gave up on, written to the dead-letter topic. */
  webhookDeadLetters: number
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
  /** Why it is not ready, or what waits while it is (shards paused for the fleet view); empty when nothing does. */
  detail(): string
  /** Settles when the service cannot go on (its consumer keeps dying): `run` stops it and exits 1. */
  readonly failed: Promise<Error>
  /** Graceful stop: not ready, finish and commit the batches in hand, leave the group, close the producers. */
  stop(): Promise<void>
}

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
  warn: (message: string) => void = (m) => logger().warn(m),
): Promise<Service> => {
  const { topics, groupId } = settings
  // The owner table is read now, before the group: a shard's pipeline, made on assignment, finds it
  // loaded instead of reading it inside the group's session (up to a second without its cache).
  Destinations.fromConfig(config.destinations.owners)
  const kafkaSettings = { brokers: settings.brokers, clientId: 'egress-sentinel', security: settings.security }
  const kafka = createKafka(kafkaSettings)
  const inputs = [...new Set([topics.events, topics.telemetry])]
  const { messageLimits, partitions } = await explainConnect(kafkaSettings, async () => {
    await requireTopics(kafka, [...inputs, topics.alerts, topics.dlq, topics.state, topics.models])
    const partitions = await requireStateTopic(kafka, topics.state, inputs, topics.models)
    return { messageLimits: await topicMessageLimits(kafka, [topics.alerts, topics.dlq, topics.state, topics.models]), partitions }
  })
  // Every dead letter fits the dead-letter topic: its raw bytes are cut to what the topic takes.
  const dlqRoom = (): number => messageLimits.get(topics.dlq)! - DEAD_LETTER_MARGIN
  const dlqLimit = dlqRoom()
  if (dlqLimit < MIN_DEAD_LETTER_BYTES) {
    throw new AppError('EGD_KAFKA', `dead-letter topic "${topics.dlq}" has max.message.bytes=${messageLimits.get(topics.dlq)}; it needs at least ${MIN_DEAD_LETTER_BYTES + DEAD_LETTER_MARGIN}`)
  }
  /** Read again when the broker refuses a record for its size (a limit lowered since the start). */
  const deadLetterLimits: { maxRawBytes: number; maxRecordBytes: number } = { maxRawBytes: config.input.deadLetterRawBytes, maxRecordBytes: dlqLimit }

  const counters: ServiceCounters = { records: 0, events: 0, deadLetters: 0, webhookDeadLetters: 0, alerts: 0, batches: 0, restoredDevices: 0 }
  /** engine.maxDevices bounds the whole process: every shard's engine draws on this one budget. */
  const budget = new DeviceBudget(config.engine.maxDevices)
  // One fleet view for the member: every partition number is a shard of it (its events and its
  // telemetry); the member's own shards publish into it, the models topic brings the others'.
  const view = createFleetView(config, partitions)
  // The detectors' facets, registered before a contribution is read (every pipeline registers the same, in the same order).
  createPipeline(config, detectors, () => undefined, { fleet: shardFleet(view, 0, () => undefined) }).release()
  const sig = viewSignature(view)
  let joined = false
  let stopping = false
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
    if (set.restoring) return 'restoring state'
    return health.problem() ?? fleetStall()
  }
  /** The view's complete epoch when last looked at, and since when it has not moved while shards wait. */
  const viewMoved = { complete: -Infinity, at: Date.now() }
  /** The shards of this member that wait for the fleet view. */
  const waitingShards = (): number => {
    let n = 0
    for (const sh of set.shards.values()) if (sh.waitingAt !== null) n++
    return n
  }
  const completeThrough = (): string =>
    Number.isFinite(view.complete) ? ` (complete through ${new Date((view.complete + 1) * view.settings.epochMs).toISOString()})` : ''
  /**
   * Waiting for the fleet is back-pressure while the view moves; once it has not moved for the
   * stall timeout while shards wait, nothing goes on (a member frozen, or a fault of the view): the
   * member is not ready, and says why.
   */
  const fleetStall = (): string | null => {
    const waiting = waitingShards()
    if (waiting === 0 || view.complete !== viewMoved.complete) {
      viewMoved.complete = view.complete
      viewMoved.at = Date.now()
      return null
    }
    const still = Date.now() - viewMoved.at
    if (still <= settings.stallTimeoutSeconds * 1000) return null
    return `${waiting} of ${set.shards.size} shards have waited for the fleet view for ${Math.round(still / 1000)} s${completeThrough()}: no shard it waits for has moved`
  }
  const ready = (): boolean => notReady() === null
  const metrics = createMetrics(
    {
      devicesTracked: () => budget.total,
      forEachOpenAlert: (visit) => {
        for (const s of set.shards.values()) s.pipeline.forEachOpenAlert(visit)
      },
      forEachWebhookTarget: (visit) => webhooks?.forEachTarget(visit),
      shards: () => set.shards.size,
      fleetRefused: () => view.refused,
      fleetWaiting: () => waitingShards(),
      fleetCompleteMs: () => (view.complete + 1) * view.settings.epochMs,
      ready,
    },
    VERSION,
    settings.http.metricsTopDevices,
  )
  const set = new ShardSet({
    kafka, groupId, stateTopic: topics.state, config, detectors, budget, metrics, deadLetterLimits, warn, view, sig, inputs, modelsCaughtUp: () => feed.caughtUp(), publishedThrough: (s) => feed.committed.closedBy(s),
    stopping: () => stopping,
    onRestored: (devices) => {
      counters.restoredDevices += devices
      metrics.restoredDevices.inc(devices)
    },
  })

  // Webhooks follow the alerts topic from before the first alert this member sends.
  const webhooks =
    settings.webhooks.length === 0
      ? null
      : await startWebhooks({
          kafka, groupId, alertsTopic: topics.alerts, dlqTopic: topics.dlq, sessionTimeoutMs: settings.sessionTimeoutSeconds * 1000,
          targets: settings.webhooks, metrics, warn,
          onDeadLetter: () => void counters.webhookDeadLetters++,
          // Deliveries would stall behind a ready probe: the process ends (exit 1) and its restart reads on from the committed position.
          onDead: (err) => fail(new AppError('EGD_KAFKA', `a webhook target's reader of ${topics.alerts} stopped for good: ${err.name}: ${err.message}`, { cause: err })),
        })

  const refreshLimits = async (): Promise<void> => {
    const fresh = await topicMessageLimits(kafka, [topics.alerts, topics.dlq, topics.state, topics.models])
    for (const [topic, limit] of fresh) messageLimits.set(topic, limit)
    // Below the minimum `run` starts with, dead letters are cut to nothing but their frame; one the
    // broker refuses even so fails its batch again and again, and the consumer's failures end `run`.
    deadLetterLimits.maxRecordBytes = Math.max(0, dlqRoom())
  }

  const lag = new LagReporter(kafka, groupId, metrics.consumerLag, (key) => {
    const input = set.input(key)
    return input === undefined ? null : input.committed
  })

  /** Partition numbers this member owns since the last group join. */
  const owned = new Set<number>()
  /**
   * Every shard is this member's: no other member reads their publications from the models topic.
   * (A join that gives some to another member drops the shards with uncommitted work: see ShardSet.assigned.)
   */
  const alone = (): boolean => owned.size === view.settings.shards

  const onBatch = async (batch: PartitionBatch, heartbeat: () => Promise<void>, pause: () => () => void): Promise<boolean> => {
    const id = set.of(batch)
    const key = shardKey(id)
    const shard = set.get(key)
    // A batch of a partition this member no longer owns (a retry of a batch that failed across a
    // rebalance): opening its shard would fence its new owner, and both would read it.
    if (!owned.has(batch.partition)) return false
    if (shard === undefined) {
      // Its state is still being restored: the partition pauses, the others go on, and it is read
      // again from the same offset once the state is in.
      if (stopping) {
        pause() // not fetched again before the consumer stops
        return false
      }
      if (!set.opening.has(key)) set.open([id])
      const resume = pause()
      set.opening.get(key)!.then(resume, () => setTimeout(resume, RESTORE_RETRY_MS))
      return false
    }
    // One at a time with the shard's other input and its moves with the fleet; a shard dropped
    // meanwhile reads the batch again once opened.
    return serial(shard, () => (set.get(key) === shard ? runner.take(shard, batch, heartbeat, pause) : false))
  }

  /** An input with nothing to hand over may be read to its end now: a batch of its shard's other input waiting for it goes on. */
  const onEmptyBatch = (topic: string, partition: number, caughtUp: boolean, next: bigint): void => {
    const input = set.input(`${topic}/${partition}`)
    if (input === undefined || input.held !== null) return
    if (next > input.readTo) input.readTo = next
    if (input.caughtUp === caughtUp) return
    input.caughtUp = caughtUp
    if (caughtUp) mover.schedule()
  }

  // Made at each commit: the models feed is made further down.
  const commitContext = () => ({ kafka, groupId, topics, messageLimits, refreshLimits, shards: set, counters, metrics, warn, feed, fail })
  const commitShard = (shard: Shard): Promise<void> => commitShardOutput(shard, commitContext())

  const runner = new BatchRunner({
    config, settings, set, metrics, counters, lag, health, warn, commit: commitShard,
    publish: (shard: Shard) => publishShardProgress(shard, commitContext()),
    seek: (topic, partition, offset) => source.seek(topic, partition, offset),
    stopping: () => stopping,
    progressed: () => mover.schedule(),
    alone,
  })

  const ends = new EndOffsets(kafka, inputs)
  const feed = new ModelsFeed({
    kafka, topic: topics.models, groupPrefix: groupId, view, sig, warn,
    onChange: () => mover.schedule(),
    onCrash: (err) => fail(new AppError('EGD_KAFKA', `the reader of the models topic "${topics.models}" stopped for good: ${err.name}: ${err.message}`, { cause: err })),
  })
  const mover = new FleetMover({
    view, feed, set, ends, runner, commit: commitShard, metrics, warn,
    latenessMs: config.engine.allowedLatenessSeconds * 1000,
    commitIntervalMs: settings.commitIntervalMs,
    stopping: () => stopping,
    alone,
    fail: (shard, err) => fail(new AppError('EGD_KAFKA', `moving ${shardKey(shard.id)} with the fleet failed: ${err.message}`, { cause: err })),
  })

  const onGroupJoin = (assigned: Readonly<Record<string, number[]>>): void => {
    joined = true
    joinedAt = Date.now()
    notJoinedSince = null
    metrics.rebalances.inc()
    const ids: ShardId[] = []
    for (const topic of inputs) for (const partition of assigned[topic] ?? []) ids.push({ topic, partition })
    // The lag of a partition this member no longer owns is its new owner's to report.
    lag.assigned(ids)
    // A shard is a partition number: the assignor gives every input's partition p to one member.
    owned.clear()
    for (const id of ids) owned.add(id.partition)
    set.assigned([...owned].sort((a, b) => a - b).map((partition) => ({ topic: topics.events, partition })))
  }

  // The lag is also read from the broker every LAG_REFRESH_MS, so that it grows while no batch comes
  // (a stalled member, a shard dropped after a failure).
  const lagTimer = setInterval(() => lag.refresh(() => stopping), LAG_REFRESH_MS)
  lagTimer.unref()

  // A stall, a lasting rebalance or a crash is said once as it starts, and once as it ends.
  let reported: string | null = null
  const healthTimer = setInterval(() => {
    const problem = joined && !stopping ? (health.problem() ?? fleetStall()) : null
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
    startKafkaSource({ kafka, groupId, topics: inputs, sessionTimeoutMs: settings.sessionTimeoutSeconds * 1000, onBatch, onEmptyBatch, onGroupJoin, health })

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
        set.dropAll()
        owned.clear()
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
    // The view as the topic holds it before any shard reads: a member that joins late judges with
    // what the others published, and reports ready only after.
    await feed.start()
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
    mover.stop()
    await feed.stop()
    await ends.close()
    await webhooks?.stop(0)
    throw err
  }
  return {
    counters,
    metrics,
    ready,
    detail: () => {
      const problem = notReady()
      if (problem !== null) return problem
      const waiting = waitingShards()
      if (waiting === 0) return ''
      return `${waiting} of ${set.shards.size} shards wait for the fleet view${completeThrough()}: another shard is behind`
    },
    failed,
    async stop() {
      if (stopping) return
      let unfit: UnfitRecord | null = null
      stopping = true
      stopWaiting.abort()
      clearInterval(lagTimer)
      clearInterval(healthTimer)
      mover.stop()
      // A refresh under way ends first and closes its admin client (a stuck one is not waited for long).
      await lag.settle(2_000)
      try {
        await replacing?.catch(ignore)
        await source.stop()
        // What waited for the commit interval is committed before leaving; if a new owner has
        // fenced a shard meanwhile, its commit fails and the new owner reads that input again.
        await Promise.all([...set.shards.values()].map((s) => serial(s, () => commitShard(s)).catch((err: Error) => {
          if (err instanceof UnfitRecord) unfit ??= err
          else warn(`${shardKey(s.id)}: not committed at stop (${err.message}); its new owner reads it again`)
        })))
      } finally {
        // Shards still opening close themselves once they are no longer wanted.
        const pending = [...set.opening.values()]
        set.opening.clear()
        await Promise.allSettled(pending)
        await Promise.all([...set.shards.values()].map((s) => s.writer.close().catch(ignore)))
        set.shards.clear()
        await feed.stop()
        await ends.close()
        // Deliveries still in flight get a grace; what is left is delivered by the next owner.
        await webhooks?.stop(WEBHOOK_GRACE_MS)
      }
      // A record no retry can send, met by the last commit: the stop fails with it (exit 1).
      if (unfit !== null) throw unfit
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


