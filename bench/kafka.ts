// Through a real broker: the service's throughput against a bare kafkajs consumer of the same topic (Kafka's own consumer performance tool as the ceiling), and its event-to-alert latency at half that rate.
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { DETECTORS } from '../detectors/index.ts'
import { loadConfig } from '../src/config/load.ts'
import { serviceSettings } from '../src/config/service.ts'
import { createKafka, createProducer } from '../src/kafka/client.ts'
import { produceFiles } from '../src/kafka/produce.ts'
import { startService } from '../src/service.ts'
import { localKafka } from '../scripts/kafka/local.ts'
import { alertLatency } from './latency.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const FLEET = `${ROOT}fixtures/synthetic/fleet.ndjson.gz`
const PARTITIONS = 3

const seconds = (since: number): number => (performance.now() - since) / 1000

export const kafkaThroughput = async (): Promise<Record<string, number | string>> => {
  const { brokers, stop } = await localKafka()
  const kafka = createKafka({ brokers: [brokers], clientId: 'egress-bench' })
  const admin = kafka.admin()
  await admin.connect()
  const id = randomUUID().slice(0, 8)
  const topics = { events: `bench-events-${id}`, alerts: `bench-alerts-${id}`, dlq: `bench-dlq-${id}`, state: `bench-state-${id}` }
  try {
    await admin.createTopics({
      topics: [{ topic: topics.events, numPartitions: PARTITIONS }, { topic: topics.alerts, numPartitions: 1 }, { topic: topics.dlq, numPartitions: 1 },
        { topic: topics.state, numPartitions: PARTITIONS, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
      ],
      waitForLeaders: true,
    })
    const producer = createProducer(kafka)
    await producer.connect()
    const produced = await produceFiles({ producer, topic: topics.events, inputs: [FLEET], format: 'auto', speed: 0 })
    await producer.disconnect()
    const total = produced.records

    // Ceiling: Kafka's own Java consumer performance tool over the same topic.
    const version = readdirSync(`${ROOT}.kafka/lib`).sort().at(0) ?? '3.9.1'
    const perf = await promisify(execFile)('java', [
      '-cp', `${ROOT}.kafka/lib/${version}/*`, 'org.apache.kafka.tools.ConsumerPerformance',
      '--bootstrap-server', brokers, '--topic', topics.events, '--messages', String(total), '--group', `bench-perf-${id}`,
    ], { timeout: 300_000 })
    // Columns: start.time, end.time, MB, MB.sec, nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms,
    // fetch.MB.sec, fetch.nMsg.sec: the last leaves the group join out, as the timings below do.
    const row = perf.stdout.trim().split('\n').at(-1)?.split(',').map((c) => c.trim()) ?? []
    const ceiling = Number(row[9])

    // Baseline: a bare kafkajs consumer, reading and nothing else.
    const bare = kafka.consumer({ groupId: `bench-bare-${id}` })
    await bare.connect()
    await bare.subscribe({ topic: topics.events, fromBeginning: true })
    let read = 0
    let started = 0
    const bareSeconds = await new Promise<number>((resolve) => {
      void bare.run({
        eachBatch: async ({ batch }) => {
          if (started === 0) started = performance.now()
          read += batch.messages.length
          if (read >= total) resolve(seconds(started))
        },
      })
    })
    await bare.disconnect()

    // The service: decode, detect, and per batch one transaction of alerts, dead letters, device state
    // and offsets; timed from its
    // first batch (group join left out, as for the others).
    const group = `bench-service-${id}`
    const settings = serviceSettings({ brokers }, {
      EGRESS_GROUP_ID: group, EGRESS_TOPIC_EVENTS: topics.events, EGRESS_TOPIC_TELEMETRY: topics.events,
      EGRESS_TOPIC_ALERTS: topics.alerts, EGRESS_TOPIC_DLQ: topics.dlq, EGRESS_TOPIC_STATE: topics.state, EGRESS_HTTP_PORT: '0',
    })
    const service = await startService(loadConfig(undefined, DETECTORS), settings, DETECTORS)
    while (service.counters.records === 0) await new Promise((r) => setTimeout(r, 5))
    const t0 = performance.now()
    for (;;) {
      const offsets = await admin.fetchOffsets({ groupId: group, topics: [topics.events] })
      const committed = offsets[0]!.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0)
      if (committed >= total) break
      await new Promise((r) => setTimeout(r, 20))
    }
    const serviceSeconds = seconds(t0)
    const alerts = service.counters.alerts
    await service.stop()

    // Latency at half the rate the service just reached.
    const latency = await alertLatency(kafka, brokers, FLEET, PARTITIONS, total / serviceSeconds / 2)
    return {
      records: total,
      partitions: PARTITIONS,
      ceilingPerSecond: Math.round(ceiling),
      barePerSecond: Math.round(total / bareSeconds),
      servicePerSecond: Math.round(total / serviceSeconds),
      serviceVsBare: Math.round((bareSeconds / serviceSeconds) * 1000) / 1000,
      bareVsCeiling: Math.round((total / bareSeconds / ceiling) * 1000) / 1000,
      alerts,
      latencyRatePerSecond: latency.ratePerSecond,
      latencyAchievedPerSecond: latency.achievedPerSecond,
      latencyAlerts: latency.alerts,
      latencyP50Ms: latency.p50Ms,
      latencyP99Ms: latency.p99Ms,
      latencyMaxMs: latency.maxMs,
    }
  } finally {
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined)
    await admin.disconnect()
    await stop()
  }
}
