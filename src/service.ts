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
import { ingestRecord } from './kafka/records.ts'
import { commitShardOutput } from './kafka/commit.ts'
import { FleetWait, InputWait, ShardSet, idle } from './kafka/shards.ts'
import type { Shard, ShardInput } from './kafka/shards.ts'
import { ModelsFeed, viewSignature } from './kafka/models.ts'
import { EndOffsets } from './kafka/ends.ts'
import { createFleetView, createPipeline } from './pipeline.ts'
import { LAG_EPOCHS, shardFleet } from './engine/fleet.ts'
import { MIN_DEAD_LETTER_BYTES } from './sinks/dead-letter.ts'
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
  /** Why it is not ready, or what waits while it is (shards paused for the fleet view); empty when nothing does. */
  detail(): string
  /** Settles when the service cannot go on (its consumer keeps dying): `run` stops it and exits 1. */
  readonly failed: Promise<Error>
  /** Graceful stop: not ready, finish and commit the batches in hand, leave the group, close the producers. */
  stop(): Promise<void>
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



const ignore = (): void => undefined

/** How long a shard whose restore failed waits before its partition is read (and the restore tried) again. */
const RESTORE_RETRY_MS = 1_000

/**
 * A batch is cut for a commit after this many commit intervals (5 s by default): each commit in a
 * backlog holds up the shards that wait for this one, so within a batch they are few.
 */
const MID_BATCH_COMMITS = 10

/** The fleet's clock stands still this long before idle shards take it whole (see idleTarget). */
const QUIET_MS = 2_000

/** How often idle and waiting shards look at the fleet besides each change of it. */
const MOVE_CHECK_MS = 1_000

/** An input's place in a shard's event-time order: where its held batch stopped (-Infinity: not tried yet, it goes first). */
const order = (i: ShardInput): number => (Number.isNaN(i.held!.stoppedAt) ? -Infinity : i.held!.stoppedAt)

/** Outside the consumer's batch handler the consumer heartbeats by itself. */
const NO_HEARTBEAT = (): Promise<void> => Promise.resolve()

/** Runs `work` on a shard after whatever it is doing (a batch, a move with the fleet). */
const serial = <T>(shard: Shard, work: () => T | Promise<T>): Promise<T> => {
  const next = shard.work.then(work, work)
  shard.work = next.catch(() => undefined)
  return next
}

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

  const counters: ServiceCounters = { records: 0, events: 0, deadLetters: 0, alerts: 0, batches: 0, restoredDevices: 0 }
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
    return health.problem()
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
      fleetWaiting: () => {
        let n = 0
        for (const s of set.shards.values()) if (s.waitingAt !== null) n++
        return n
      },
      fleetCompleteMs: () => (view.complete + 1) * view.settings.epochMs,
      ready,
    },
    VERSION,
    settings.http.metricsTopDevices,
  )
  const set = new ShardSet({
    kafka, groupId, stateTopic: topics.state, config, detectors, budget, metrics, deadLetterLimits, warn, view, sig, inputs, modelsCaughtUp: () => feed.caughtUp(),
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
    return serial(shard, () => (set.get(key) === shard ? takeBatch(shard, batch, heartbeat, pause) : false))
  }

  /** An input with nothing to hand over may be read to its end now: a batch of its shard's other input waiting for it goes on. */
  const onEmptyBatch = (topic: string, partition: number, caughtUp: boolean, next: bigint): void => {
    const input = set.input(`${topic}/${partition}`)
    if (input === undefined || input.held !== null) return
    if (next > input.readTo) input.readTo = next
    if (input.caughtUp === caughtUp) return
    input.caughtUp = caughtUp
    if (caughtUp) scheduleMove()
  }

  /**
   * A batch of one of the shard's inputs: held, and the shard's held records run in event-time order
   * (see `drain`). What is not done when `drain` stops stays held, its partition paused: the
   * consumer fetches on after the batch, which counts as taken.
   */
  const takeBatch = async (shard: Shard, batch: PartitionBatch, heartbeat: () => Promise<void>, pause: () => () => void): Promise<boolean> => {
    const input = shard.inputs.find((i) => i.topic === batch.topic)!
    if (input.held !== null || stopping) {
      // A batch fetched before the partition paused: read again once the held one is done.
      input.resume ??= pause()
      return false
    }
    // An input that never committed started where the group had nothing committed: its first record.
    input.committed ??= BigInt(batch.messages[0]!.offset)
    input.held = { batch, index: 0, line: 0, stoppedAt: Number.NaN }
    await drain(shard, heartbeat)
    if (input.held !== null) input.resume = pause()
    return true
  }

  /**
   * Runs a shard's held batches in event-time order over its inputs (the smallest event first, as a
   * Kafka Streams task picks among its partitions) until it must stop: an event waits for the fleet
   * view, or for an input that has nothing held but is not read to its end (its batch comes next).
   * A batch run to its end resumes its partition. Commits when due, and at once when it waits for the
   * fleet view: the epochs the shard closed on its way may be what the others wait for.
   */
  const drain = async (shard: Shard, heartbeat: () => Promise<void>): Promise<void> => {
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
        const stop = await runHeld(shard, next, heartbeat)
        endTimer()
        progressed = true
        if (stop === 'fleet') {
          // The epochs it closed on its way go out at once: a shard elsewhere may be waiting for them.
          // (Leaving that to the next due commit when this member owns every shard sent alerts twice
          // when a member left the group mid-stream: not done until that is understood.)
          await commitShard(shard)
          break
        }
        if (stop === 'due') {
          await commitShard(shard)
          continue
        }
        if (stop === 'end') {
          const resume = next.resume
          next.resume = null
          resume?.()
          const due = Date.now() - shard.lastCommitAt >= settings.commitIntervalMs
          const full = shard.pending.alerts.length + shard.pending.dead.length > MAX_PENDING_RECORDS || shard.pending.bytes > MAX_PENDING_BYTES
          // Commit when caught up with the partitions (an idle stream waits for nothing), else every
          // interval: under load one transaction carries several batches and each device's state once.
          if (stopping || idle(shard) || due || full) await commitShard(shard)
          if (set.get(key) === shard && !shard.stale) lag.set(next, BigInt(held.batch.highWatermark) - (next.committed ?? 0n))
        }
      }
      // What it did may let others go on (its clock, its closed epochs); nothing done, nothing to say.
      if (progressed) {
        health.fetched()
        scheduleMove()
      }
    } catch (err) {
      metrics.transactions.inc({ result: 'aborted' })
      failedShard(shard)
      throw err
    } finally {
      shard.bound = Infinity
      shard.busy = false
      if (shard.stale) set.drop(shard)
    }
  }

  /** Nothing since the last commit counts: whoever reads it again starts from the stored state. The consumer goes back to that state's offsets rather than fetch on. */
  const failedShard = (shard: Shard): void => {
    set.drop(shard)
    for (const i of shard.inputs) {
      if (i.committed === null) continue
      try {
        source.seek(i.topic, i.partition, i.committed.toString())
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
  const runHeld = async (shard: Shard, input: ShardInput, heartbeat: () => Promise<void>): Promise<'end' | 'input' | 'fleet' | 'due'> => {
    const held = input.held!
    const { batch } = held
    const skipBelow = input.skipBelow
    if (skipBelow !== null && held.index === 0 && held.line === 0) {
      // The consumer may start behind the stored state (a previous owner committed after this member
      // fetched its offsets): those records are in the state already.
      const first = BigInt(batch.messages[0]!.offset)
      if (first > skipBelow) warn(`${batch.topic}/${batch.partition}: records ${skipBelow} to ${first - 1n} are gone (retention or an offset reset); their state is kept`)
    }
    const { outcomes } = shard
    // The format names the events topic's collector; telemetry is canonical, read as auto.
    const format = batch.topic === topics.events ? settings.format : 'auto'
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
    input.skipBelow = null
    input.skipLine = 0
    input.readTo = BigInt(batch.lastOffset) + 1n
    input.caughtUp = input.readTo >= BigInt(batch.highWatermark)
    input.next = (BigInt(batch.lastOffset) + 1n).toString()
    input.nextLine = 0
    return 'end'
  }

  const commitShard = (shard: Shard): Promise<void> =>
    commitShardOutput(shard, { kafka, groupId, topics, messageLimits, refreshLimits, shards: set, counters, metrics, warn, feed })

  /**
   * Moves shards with the fleet, off their own input: a shard waiting at an event goes on once the
   * view has what the event needs (its partition resumes), or moves its clock as far as the view
   * allows meanwhile; a shard read up to its partition's end (its broker's end offset: an empty
   * partition too) takes the fleet's clock, the newest any shard committed, so that its epochs close
   * with everyone's and no shard waits for an idle one. Each move commits (its epochs are published).
   */
  const moveWithFleet = async (shard: Shard): Promise<void> => {
    if (stopping || set.get(shardKey(shard.id)) !== shard) return
    const p = shard.pipeline
    let target: number
    if (shard.waitingAt !== null || shard.inputs.some((i) => i.held !== null)) {
      if (shard.waitingAt === null || p.canIngest(shard.waitingAt)) {
        // On with its held batches (the view has what they wait for, or the input they wait for may be read to its end now).
        try {
          await drain(shard, NO_HEARTBEAT)
        } catch (err) {
          warn(`${shardKey(shard.id)}: ${(err as Error).message}; it is read again from its committed state`)
        }
        return
      }
      target = Math.min(shard.waitingAt, p.maxAdvance())
    } else if (idle(shard)) {
      target = Math.min(idleTarget(), p.maxAdvance())
      if (!(target > p.time())) return
      // Read to the end as the broker says now: records on their way are fetched first (the rule for
      // an idle partition: its end offsets, not the last batch's, say it has nothing to read).
      // (Unreadable now, a broker down: the next look tries again; the consumer reports the outage.)
      const highs = await ends.fresh().catch(() => null)
      if (highs === null) return
      for (const i of shard.inputs) {
        if (i.readTo < (highs.get(`${i.topic}/${i.partition}`) ?? 0n)) {
          i.caughtUp = false
          return
        }
      }
      if (!idle(shard) || set.get(shardKey(shard.id)) !== shard) return
      // At once when the move closes an epoch (others may wait for it), else at most once a commit interval.
      const closes = Math.floor((target - latenessMs) / view.settings.epochMs) - 1 > p.closedThrough()
      if (!closes && Date.now() - shard.lastCommitAt < settings.commitIntervalMs) return
    } else {
      return
    }
    if (!(target > p.time())) return
    p.advanceTo(target)
    // A commit for the move alone goes on from where the inputs are.
    const first = shard.inputs[0]!
    if (shard.inputs.every((i) => i.next === null)) {
      first.next = (first.committed ?? first.position).toString()
      first.nextLine = first.committed === null ? 0 : first.committedLine
    }
    try {
      await commitShard(shard)
    } catch (err) {
      metrics.transactions.inc({ result: 'aborted' })
      warn(`${shardKey(shard.id)}: moving with the fleet failed (${(err as Error).message}); it is read again from its committed state`)
      failedShard(shard)
    }
  }

  const latenessMs = config.engine.allowedLatenessSeconds * 1000
  /**
   * Where a shard read to the end of its partitions moves. While the fleet's clock moves (records
   * are coming, some perhaps on their way to this shard), only as far as the shards that wait need:
   * through the epoch they wait for, which replay would have passed too (they have read an event
   * two epochs later). Once the fleet's clock has stood still for QUIET_MS, to the fleet's clock, as
   * replay moves every shard to the input's newest event: quiet partitions close their windows.
   */
  const idleTarget = (): number => {
    const clock = fleetClock()
    if (clock !== quiet.clock) {
      quiet.clock = clock
      quiet.since = Date.now()
    }
    if (Date.now() - quiet.since >= QUIET_MS) return clock
    let need = -Infinity
    for (const n of feed.needs.values()) if (n > need) need = n
    for (const sh of set.shards.values()) if (sh.waitingAt !== null) need = Math.max(need, view.epochOf(sh.waitingAt) - LAG_EPOCHS)
    return Math.min(clock, (need + 1) * view.settings.epochMs + latenessMs)
  }
  const quiet = { clock: -Infinity, since: 0 }

  /** The fleet's clock: the newest clock a shard committed (any member's), or one of this member's shards has. */
  const fleetClock = (): number => {
    let clock = feed.maxClock
    for (const s of set.shards.values()) if (s.pipeline.time() > clock) clock = s.pipeline.time()
    return clock
  }

  /**
   * Runs moveWithFleet on every shard soon: each after whatever it is doing, none held up by another
   * (a shard busy with a long batch does not delay one that can go on now), at most one queued each.
   */
  const scheduleMove = (): void => {
    for (const shard of set.shards.values()) {
      if (shard.moveQueued) continue
      shard.moveQueued = true
      serial(shard, () => {
        shard.moveQueued = false
        return moveWithFleet(shard)
      }).catch((err: Error) => fail(new AppError('EGD_KAFKA', `moving ${shardKey(shard.id)} with the fleet failed: ${err.message}`, { cause: err })))
    }
  }

  const ends = new EndOffsets(kafka, inputs)

  const feed = new ModelsFeed({
    kafka, topic: topics.models, groupPrefix: groupId, view, sig, warn,
    onChange: () => scheduleMove(),
    onCrash: (err) => fail(new AppError('EGD_KAFKA', `the reader of the models topic "${topics.models}" stopped for good: ${err.name}: ${err.message}`, { cause: err })),
  })
  // Idle shards follow the fleet's clock, waiting ones look again, even when no record comes.
  const moveTimer = setInterval(scheduleMove, MOVE_CHECK_MS)
  moveTimer.unref()

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
    clearInterval(moveTimer)
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
      let waiting = 0
      for (const sh of set.shards.values()) if (sh.waitingAt !== null) waiting++
      if (waiting === 0) return ''
      const through = Number.isFinite(view.complete) ? ` (complete through ${new Date((view.complete + 1) * view.settings.epochMs).toISOString()})` : ''
      return `${waiting} of ${set.shards.size} shards wait for the fleet view${through}: another shard is behind`
    },
    failed,
    async stop() {
      if (stopping) return
      stopping = true
      stopWaiting.abort()
      clearInterval(lagTimer)
      clearInterval(healthTimer)
      clearInterval(moveTimer)
      // A refresh under way ends first and closes its admin client (a stuck one is not waited for long).
      await lag.settle(2_000)
      try {
        await replacing?.catch(ignore)
        await source.stop()
        // What waited for the commit interval is committed before leaving; if a new owner has
        // fenced a shard meanwhile, its commit fails and the new owner reads that input again.
        await Promise.all([...set.shards.values()].map((s) => serial(s, () => commitShard(s)).catch((err: Error) => warn(`${shardKey(s.id)}: not committed at stop (${err.message}); its new owner reads it again`))))
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


