// The Kafka service: one detection pipeline per input partition, fed by the Kafka source, alerts and dead letters to their topics.
import type { Config } from './config/schema.ts'
import type { ServiceSettings } from './config/service.ts'
import type { DetectorDef } from './engine/detector.ts'
import { createLineDecoder } from './decode/formats.ts'
import type { LineDecoder } from './decode/formats.ts'
import { createKafka, createProducer, explainConnect, requireTopics } from './kafka/client.ts'
import { createPipeline } from './pipeline.ts'
import type { DetectionPipeline } from './pipeline.ts'
import { sendRecords } from './sinks/kafka.ts'
import type { OutRecord } from './sinks/kafka.ts'
import { startKafkaSource } from './sources/kafka.ts'
import type { PartitionBatch } from './sources/kafka.ts'

export interface ServiceCounters {
  records: number
  events: number
  deadLetters: number
  alerts: number
  batches: number
}

export interface Service {
  readonly counters: Readonly<ServiceCounters>
  /** Group joined, producer connected, not stopping. */
  ready(): boolean
  /** Graceful stop: not ready, finish and commit the batch in hand, leave the group, flush. */
  stop(): Promise<void>
}

interface Shard {
  readonly pipeline: DetectionPipeline
  readonly decoder: LineDecoder
  /** Alerts of the batch being processed, sent before its offsets are committed. */
  readonly alerts: OutRecord[]
}

/** The original bytes for a dead letter: text when they are valid UTF-8, else base64. */
const rawOf = (bytes: Buffer): { raw: string; rawEncoding?: 'base64' } => {
  const text = bytes.toString('utf8')
  return Buffer.byteLength(text, 'utf8') === bytes.length && !text.includes('\uFFFD') ? { raw: text } : { raw: bytes.toString('base64'), rawEncoding: 'base64' }
}

export const startService = async (
  config: Config,
  settings: ServiceSettings,
  detectors: readonly DetectorDef[],
): Promise<Service> => {
  const { topics } = settings
  const kafkaSettings = { brokers: settings.brokers, clientId: 'egress-sentinel', security: settings.security }
  const kafka = createKafka(kafkaSettings)
  const inputs = [...new Set([topics.events, topics.telemetry])]
  await explainConnect(kafkaSettings, () => requireTopics(kafka, [...inputs, topics.alerts, topics.dlq]))
  const producer = createProducer(kafka)
  await explainConnect(kafkaSettings, () => producer.connect())

  const counters: ServiceCounters = { records: 0, events: 0, deadLetters: 0, alerts: 0, batches: 0 }
  const shards = new Map<string, Shard>()
  const shardOf = (topic: string, partition: number): Shard => {
    const id = `${topic}/${partition}`
    let shard = shards.get(id)
    if (shard === undefined) {
      const alerts: OutRecord[] = []
      const pipeline = createPipeline(config, detectors, (a) => alerts.push({ key: a.deviceId, value: JSON.stringify(a) }))
      shard = { pipeline, decoder: createLineDecoder('auto'), alerts }
      shards.set(id, shard)
    }
    return shard
  }

  const onBatch = async (batch: PartitionBatch, heartbeat: () => Promise<void>): Promise<void> => {
    try {
      await processBatch(batch, heartbeat)
    } catch (err) {
      // The batch will be fetched again from the last committed offset: its events must not meet a
      // pipeline that has already seen them, so the shard starts afresh (as after a restart).
      shards.delete(`${batch.topic}/${batch.partition}`)
      throw err
    }
  }

  const processBatch = async (batch: PartitionBatch, heartbeat: () => Promise<void>): Promise<void> => {
    const shard = shardOf(batch.topic, batch.partition)
    const dead: OutRecord[] = []
    let n = 0
    for (const message of batch.messages) {
      counters.records++
      const value = message.value
      const deadLetter = (reason: string, error: string, bytes: Buffer): void => {
        counters.deadLetters++
        dead.push({
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
        const r = shard.decoder.decode(line)
        if (r === null) continue
        if (!r.ok) {
          deadLetter(r.reason, r.error, several ? Buffer.from(line, 'utf8') : value)
          continue
        }
        counters.events++
        shard.pipeline.ingest(r.event)
      }
      if (++n % 1000 === 0) await heartbeat()
    }
    const alerts = shard.alerts.splice(0)
    await Promise.all([sendRecords(producer, topics.alerts, alerts), sendRecords(producer, topics.dlq, dead)])
    counters.alerts += alerts.length
    counters.batches++
  }

  let joined = false
  let stopping = false
  const onGroupJoin = (assigned: Readonly<Record<string, number[]>>): void => {
    joined = true
    // Partitions another member now owns take their shard out of memory.
    for (const id of [...shards.keys()]) {
      const slash = id.lastIndexOf('/')
      if (!(assigned[id.slice(0, slash)] ?? []).includes(Number(id.slice(slash + 1)))) shards.delete(id)
    }
  }
  // Whoever reads those offsets again must start from a pipeline that has not seen them.
  const onUncommitted = (topic: string, partition: number): void => void shards.delete(`${topic}/${partition}`)
  const source = await startKafkaSource({ kafka, groupId: settings.groupId, topics: inputs, onBatch, onGroupJoin, onUncommitted })
  return {
    counters,
    ready: () => joined && !stopping,
    async stop() {
      if (stopping) return
      stopping = true
      try {
        await source.stop()
      } finally {
        await producer.disconnect()
      }
    },
  }
}
