// The Kafka service: one detection shard per input partition, its state restored from the changelog, each batch's output in one transaction.
import type { Config } from './config/schema.ts'
import type { ServiceSettings } from './config/service.ts'
import type { DetectorDef } from './engine/detector.ts'
import { createLineDecoder } from './decode/formats.ts'
import type { LineDecoder } from './decode/formats.ts'
import { changelogRecords, readChangelog, shardKey } from './kafka/changelog.ts'
import type { ShardId, StoredShard } from './kafka/changelog.ts'
import { createKafka, explainConnect, requireStateTopic, requireTopics } from './kafka/client.ts'
import { createPipeline } from './pipeline.ts'
import type { DetectionPipeline } from './pipeline.ts'
import { shardWriter } from './sinks/kafka.ts'
import type { OutRecord, ShardWriter } from './sinks/kafka.ts'
import { createMetrics } from './metrics.ts'
import type { ServiceMetrics } from './metrics.ts'
import { startKafkaSource } from './sources/kafka.ts'
import { VERSION } from './version.ts'
import { startWebhooks } from './sinks/webhooks/index.ts'
import type { PartitionBatch } from './sources/kafka.ts'

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
  /** Group joined, every assigned shard restored, not stopping. */
  ready(): boolean
  /** Graceful stop: not ready, finish and commit the batches in hand, leave the group, close the producers. */
  stop(): Promise<void>
}

interface AlertLabels {
  readonly detector: string
  readonly severity: string
  readonly status: string
}

/** What a shard has processed since its last commit: sent and counted when the transaction commits. */
interface Pending {
  /** The next input offset; null when nothing is pending. */
  nextOffset: string | null
  readonly alerts: OutRecord[]
  readonly alertLabels: AlertLabels[]
  readonly dead: OutRecord[]
  readonly deadReasons: string[]
  accepted: number
  late: number
}

interface Shard {
  readonly id: ShardId
  readonly pipeline: DetectionPipeline
  readonly decoder: LineDecoder
  readonly writer: ShardWriter
  readonly pending: Pending
  /** Input records before this offset are in the restored state already; null once past them. */
  skipBelow: bigint | null
  /** Device keys of a stored state that could not be restored, deleted by the first transaction. */
  forget: string[]
  lastCommitAt: number
  /** A batch is being processed. */
  busy: boolean
  /** A rebalance happened during the batch in hand: the shard leaves memory after it. */
  stale: boolean
  /** The next input offset to process, when known (for the consumer lag). */
  position: bigint | null
  /** The input offset its last committed transaction (or the state it restored) goes on from; null before either. */
  committed: bigint | null
}

/** Alerts and dead letters pending in a shard at most before it commits, whatever the interval. */
const MAX_PENDING_RECORDS = 20_000

/** The original bytes for a dead letter: text when they are valid UTF-8, else base64. */
const rawOf = (bytes: Buffer): { raw: string; rawEncoding?: 'base64' } => {
  const text = bytes.toString('utf8')
  return Buffer.byteLength(text, 'utf8') === bytes.length && !text.includes('\uFFFD') ? { raw: text } : { raw: bytes.toString('base64'), rawEncoding: 'base64' }
}

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
  await explainConnect(kafkaSettings, async () => {
    await requireTopics(kafka, [...inputs, topics.alerts, topics.dlq, topics.state])
    await requireStateTopic(kafka, topics.state, inputs)
  })

  const counters: ServiceCounters = { records: 0, events: 0, deadLetters: 0, alerts: 0, batches: 0, restoredDevices: 0 }
  const shards = new Map<string, Shard>()
  /** Shards being fenced and restored, by key. */
  const opening = new Map<string, Promise<Shard>>()
  let joined = false
  let stopping = false
  /** Shards whose restore failed and is to be tried again, by key: when it was last reported. */
  const unrestored = new Map<string, number>()
  const ready = (): boolean => joined && opening.size === 0 && unrestored.size === 0 && !stopping
  const metrics = createMetrics(
    {
      devicesTracked: () => [...shards.values()].reduce((n, s) => n + s.pipeline.devicesTracked(), 0),
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
        })

  const close = (shard: Shard): void => void shard.writer.close().catch(ignore)

  /** Consumer-lag series this member exports, by shard key. */
  const lagSeries = new Map<string, { topic: string; partition: string }>()
  const setLag = (id: ShardId, lag: bigint): void => {
    const key = shardKey(id)
    let labels = lagSeries.get(key)
    if (labels === undefined) lagSeries.set(key, (labels = { topic: id.topic, partition: String(id.partition) }))
    metrics.consumerLag.set(labels, Number(lag > 0n ? lag : 0n))
  }
  const removeLag = (key: string): void => {
    const labels = lagSeries.get(key)
    if (labels === undefined) return
    metrics.consumerLag.remove(labels)
    lagSeries.delete(key)
  }

  /**
   * A new pipeline carrying on from the stored state. A state it cannot take (other detectors, a
   * format it does not read) is reported and replaced: that shard starts afresh and forgets it.
   */
  const buildShard = (id: ShardId, writer: ShardWriter, stored: StoredShard | null): Shard => {
    const pending: Pending = { nextOffset: null, alerts: [], alertLabels: [], dead: [], deadReasons: [], accepted: 0, late: 0 }
    const make = (): DetectionPipeline =>
      createPipeline(config, detectors, (a) => {
        pending.alerts.push({ key: a.deviceId, value: JSON.stringify(a) })
        pending.alertLabels.push({ detector: a.detector, severity: a.severity, status: a.status })
      }, { trackChanges: true })
    let pipeline = make()
    const shard: Shard = {
      id, pipeline, decoder: createLineDecoder('auto'), writer, pending, skipBelow: null, forget: [],
      lastCommitAt: Date.now(), busy: false, stale: false,
      position: stored === null ? null : BigInt(stored.nextOffset), committed: stored === null ? null : BigInt(stored.nextOffset),
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
      const writers = todo.map((s) => shardWriter(kafka, `egress-sentinel.${groupId}.${shardKey(s)}`))
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
      shard.position = BigInt(batch.lastOffset) + 1n
      if (shards.get(key) === shard && !shard.stale) setLag(shard.id, BigInt(batch.highWatermark) - shard.position)
      // Commit when caught up with the partition (an idle stream waits for nothing), else every
      // interval: under load one transaction carries several batches and each device's state once.
      const caughtUp = BigInt(batch.lastOffset) + 1n >= BigInt(batch.highWatermark)
      const due = Date.now() - shard.lastCommitAt >= settings.commitIntervalMs
      const full = shard.pending.alerts.length + shard.pending.dead.length > MAX_PENDING_RECORDS
      if (stopping || caughtUp || due || full) await commitShard(shard)
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
    const { pending, pipeline, decoder } = shard
    const { eventLag } = metrics
    const now = Date.now()
    let n = 0
    for (const message of batch.messages) {
      if (skipBelow !== null && BigInt(message.offset) < skipBelow) continue
      counters.records++
      const value = message.value
      const deadLetter = (reason: string, error: string, bytes: Buffer): void => {
        pending.deadReasons.push(reason)
        pending.dead.push({
          key: message.key?.toString() ?? null,
          value: JSON.stringify({ reason, error, topic: batch.topic, partition: batch.partition, offset: message.offset, ...rawOf(bytes) }),
        })
      }
      if (value === null || value.length === 0) {
        deadLetter('schema', '(root): empty record', Buffer.alloc(0))
        continue
      }
      // A collector may put several newline-separated records in one message (pmacct does).
      const text = value.toString('utf8')
      const several = text.includes('\n')
      for (const line of several ? text.split('\n') : [text]) {
        const r = decoder.decode(line)
        if (r === null) continue
        if (!r.ok) {
          deadLetter(r.reason, r.error, several ? Buffer.from(line, 'utf8') : value)
          continue
        }
        if (pipeline.ingest(r.event)) {
          pending.accepted++
          eventLag.observe((now - r.event.ts) / 1000)
        } else {
          pending.late++
        }
      }
      if (++n % 1000 === 0) await heartbeat()
    }
    shard.skipBelow = null
    pending.nextOffset = (BigInt(batch.lastOffset) + 1n).toString()
  }

  /** Alerts, dead letters, the state they leave and the input offset, in one transaction: all or none. */
  const commitShard = async (shard: Shard): Promise<void> => {
    const { pending, id } = shard
    const nextOffset = pending.nextOffset
    if (nextOffset === null) return
    const forget: OutRecord[] = shard.forget.map((key) => ({ key, value: null, partition: id.partition }))
    const state = [...forget, ...changelogRecords(id, shard.pipeline.takeChanges(), nextOffset)]
    await shard.writer.commit(
      [{ topic: topics.alerts, records: pending.alerts }, { topic: topics.dlq, records: pending.dead }, { topic: topics.state, records: state }],
      { groupId, topic: id.topic, partition: id.partition, offset: nextOffset },
    )
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
    for (const reason of pending.deadReasons) metrics.dlq.inc({ reason })
    for (const a of pending.alertLabels) metrics.alerts.inc(a)
    metrics.transactions.inc({ result: 'committed' })
    metrics.stateRecords.inc(state.length)
    pending.nextOffset = null
    pending.alerts.length = 0
    pending.alertLabels.length = 0
    pending.dead.length = 0
    pending.deadReasons.length = 0
    pending.accepted = 0
    pending.late = 0
  }

  const onGroupJoin = (assigned: Readonly<Record<string, number[]>>): void => {
    joined = true
    metrics.rebalances.inc()
    const owned: ShardId[] = []
    for (const topic of inputs) for (const partition of assigned[topic] ?? []) owned.push({ topic, partition })
    const keep = new Set(owned.map(shardKey))
    // After a join the consumer reads every partition from its committed offset again. A shard stays
    // only if that is where it is: not one another member now owns (its writer is fenced by the new
    // owner anyway), not one with uncommitted work, not one whose batch in hand may commit after the
    // consumer fetched its offset (it leaves after that batch, and comes back restored).
    // The lag of a partition this member no longer owns is its new owner's to report.
    for (const key of lagSeries.keys()) if (!keep.has(key)) removeLag(key)
    for (const [key, shard] of shards) {
      if (!keep.has(key)) {
        drop(shard)
      } else if (shard.busy) {
        shard.stale = true
      } else if (shard.pending.nextOffset !== null) {
        drop(shard)
      }
    }
    for (const key of opening.keys()) if (!keep.has(key)) opening.delete(key)
    for (const key of unrestored.keys()) if (!keep.has(key)) unrestored.delete(key)
    openShards(owned)
  }
  // The lag is also read from the broker every LAG_REFRESH_MS, so that it grows while no batch comes
  // (a stalled member). Each refresh has its own admin client, closed before the refresh ends.
  const refreshLag = async (): Promise<void> => {
    const owned = [...shards.values()].filter((sh) => sh.position !== null)
    if (owned.length === 0 || stopping) return
    const admin = kafka.admin()
    try {
      await admin.connect()
      for (const topic of new Set(owned.map((sh) => sh.id.topic))) {
        if (stopping) return
        const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)]))
        for (const sh of owned) {
          const end = ends.get(sh.id.partition)
          if (sh.id.topic !== topic || end === undefined || sh.position === null || shards.get(shardKey(sh.id)) !== sh || sh.stale) continue
          setLag(sh.id, end - sh.position)
        }
      }
    } finally {
      await admin.disconnect().catch(ignore)
    }
  }
  let refreshing: Promise<void> | null = null
  const lagTimer = setInterval(() => {
    refreshing ??= refreshLag().catch(ignore).finally(() => (refreshing = null))
  }, LAG_REFRESH_MS)
  lagTimer.unref()

  let source: Awaited<ReturnType<typeof startKafkaSource>>
  try {
    source = await startKafkaSource({
      kafka,
      groupId,
      topics: inputs,
      sessionTimeoutMs: settings.sessionTimeoutSeconds * 1000,
      onBatch,
      onGroupJoin,
    })
  } catch (err) {
    clearInterval(lagTimer)
    await webhooks?.stop(0)
    throw err
  }
  return {
    counters,
    metrics,
    ready,
    async stop() {
      if (stopping) return
      stopping = true
      clearInterval(lagTimer)
      // A refresh under way ends first and closes its admin client (a stuck one is not waited for long).
      if (refreshing !== null) await Promise.race([refreshing, new Promise((r) => setTimeout(r, 2_000).unref())])
      try {
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
