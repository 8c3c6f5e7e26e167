// Through a real broker: the service's throughput against a bare kafkajs consumer of the same topic (Kafka's own consumer performance tool as the ceiling), and its event-to-alert latency at half that rate.
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { DETECTORS } from '../detectors/index.ts'
import { loadConfig } from '../src/config/load.ts'
import { serviceSettings } from '../src/config/service.ts'
import { createKafka, createProducer, memberConsumerConfig } from '../src/kafka/client.ts'
import { produceFiles } from '../src/kafka/produce.ts'
import { readToEnd } from '../src/kafka/read.ts'
import { startService } from '../src/service.ts'
import { FETCH } from '../src/sources/kafka.ts'
import { localKafka } from '../scripts/kafka/local.ts'
import type { WebhookTargetConfig } from '../src/config/webhooks.ts'
import { alertLatency } from './latency.ts'
import { scaleOut } from './scale-out.ts'
import { createTopics, runOutputTopics } from '../scripts/kafka/topics.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const FLEET = `${ROOT}fixtures/synthetic/fleet.ndjson.gz`
const PARTITIONS = 3
/** Runs of the service with and without a dead webhook target, alternating. */
const ROUNDS = 3

const seconds = (since: number): number => (performance.now() - since) / 1000

interface ModelsSize {
  /** Records written (contributions, progress, snapshots, tombstones) and their bytes (keys and values). */
  readonly records: number
  readonly bytes: number
  /** What compaction leaves: the latest value of each key, tombstoned keys gone. */
  readonly compactedKeys: number
  readonly compactedBytes: number
}

/** The models topic a run wrote: everything, and what compaction keeps of it. */
const modelsSize = async (kafka: ReturnType<typeof createKafka>, topic: string): Promise<ModelsSize> => {
  let records = 0
  let bytes = 0
  const latest = new Map<string, number>()
  await readToEnd({
    kafka, topic, groupPrefix: 'bench-models',
    onMessage: (m) => {
      const key = m.key?.toString() ?? ''
      const size = key.length + (m.value?.length ?? 0)
      records++
      bytes += size
      if (m.value === null || m.value.length === 0) latest.delete(key)
      else latest.set(key, size)
    },
  })
  return { records, bytes, compactedKeys: latest.size, compactedBytes: [...latest.values()].reduce((n, b) => n + b, 0) }
}

export const kafkaThroughput = async (): Promise<Record<string, number | string>> => {
  const { brokers, stop } = await localKafka()
  const kafka = createKafka({ brokers: [brokers], clientId: 'egress-bench' })
  const admin = kafka.admin()
  await admin.connect()
  const id = randomUUID().slice(0, 8)
  const topics = { events: `bench-events-${id}`, dlq: `bench-dlq-${id}` }
  /** Each service run's alerts and state topics. */
  const extraTopics: string[] = []
  try {
    await createTopics(admin, [{ topic: topics.events, numPartitions: PARTITIONS }, { topic: topics.dlq, numPartitions: 1 }])
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
    // With the service's own consumer settings and fetch sizes (30 s session, its default): the baseline differs from the service only by doing nothing.
    const bare = kafka.consumer({ ...memberConsumerConfig(`bench-bare-${id}`, 30_000), ...FETCH })
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
    // and offsets; timed from its first batch (group join left out, as for the others). Each run has
    // an alerts and a state topic of its own, so that it starts from no state.
    const timeService = async (label: string, webhooks: readonly WebhookTargetConfig[]): Promise<{ seconds: number; alerts: number; models: ModelsSize }> => {
      const own = { alerts: `bench-alerts-${label}-${id}`, state: `bench-state-${label}-${id}`, models: `bench-models-${label}-${id}` }
      extraTopics.push(own.alerts, own.state, own.models)
      await createTopics(admin, runOutputTopics(own, PARTITIONS))
      const group = `bench-service-${label}-${id}`
      const settings = serviceSettings(
        { brokers },
        {
          EGRESS_GROUP_ID: group, EGRESS_TOPIC_EVENTS: topics.events, EGRESS_TOPIC_TELEMETRY: topics.events,
          EGRESS_TOPIC_ALERTS: own.alerts, EGRESS_TOPIC_DLQ: topics.dlq, EGRESS_TOPIC_STATE: own.state, EGRESS_TOPIC_MODELS: own.models, EGRESS_HTTP_PORT: '0',
        },
        webhooks,
      )
      const service = await startService(loadConfig(undefined, DETECTORS), settings, DETECTORS, () => undefined)
      while (service.counters.records === 0) await new Promise((r) => setTimeout(r, 5))
      const t0 = performance.now()
      for (;;) {
        const offsets = await admin.fetchOffsets({ groupId: group, topics: [topics.events] })
        const committed = offsets[0]!.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0)
        if (committed >= total) break
        await new Promise((r) => setTimeout(r, 20))
      }
      const result = { seconds: seconds(t0), alerts: service.counters.alerts }
      await service.stop()
      return { ...result, models: await modelsSize(kafka, own.models) }
    }
    // Runs without webhooks alternate with runs with a webhook target that never answers (its queue
    // fills and it stops reading the alerts topic; detection is not to slow down). One run varies by
    // ±10% here, so each side is the mean of ROUNDS runs; the service's figure is the plain runs' median.
    const dead = createServer(() => undefined)
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve))
    const deadTarget: WebhookTargetConfig = {
      name: 'dead', format: 'standard', url: `http://127.0.0.1:${(dead.address() as AddressInfo).port}/hook`,
      secret: `whsec_${Buffer.alloc(32, 7).toString('base64')}`, allowHttp: true, allowPrivateNetworks: true, scopes: ['device', 'fleet'], kinds: ['alert', 'notice'], campaignUpdates: false, escalations: false, statuses: ['firing', 'resolved'], minSeverity: 'low',
      timeoutSeconds: 10, maxAttempts: 8, backoff: { initialSeconds: 1, maxSeconds: 300 }, maxRetryAfterSeconds: 600, concurrency: 4, queueSize: 1000,
    }
    const plainRuns: { seconds: number; alerts: number; models: ModelsSize }[] = []
    const webhookRuns: { seconds: number; alerts: number; models: ModelsSize }[] = []
    for (let round = 0; round < ROUNDS; round++) {
      plainRuns.push(await timeService(`plain${round}`, []))
      webhookRuns.push(await timeService(`webhook${round}`, [deadTarget]))
    }
    dead.closeAllConnections()
    dead.close()
    const meanSeconds = (runs: readonly { seconds: number }[]): number => runs.reduce((n, r) => n + r.seconds, 0) / runs.length
    const serviceSeconds = [...plainRuns].sort((x, y) => x.seconds - y.seconds)[Math.floor(ROUNDS / 2)]!.seconds
    const alerts = plainRuns[0]!.alerts

    // Latency at half the rate the service just reached (the aim), and at a quarter of it: the paced
    // producer and the alert reader share the two cores with the broker and the member.
    const latency = await alertLatency(kafka, brokers, FLEET, PARTITIONS, total / serviceSeconds / 2)
    const latencyQuarter = await alertLatency(kafka, brokers, FLEET, PARTITIONS, total / serviceSeconds / 4)
    // One member and two, each a process of its own, on six partitions.
    const scale = await scaleOut(kafka, brokers, FLEET)
    const one = scale.perSecond.find((r) => r.members === 1)!
    const two = scale.perSecond.find((r) => r.members === 2)!
    return {
      records: total,
      partitions: PARTITIONS,
      ceilingPerSecond: Math.round(ceiling),
      barePerSecond: Math.round(total / bareSeconds),
      servicePerSecond: Math.round(total / serviceSeconds),
      serviceVsBare: Math.round((bareSeconds / serviceSeconds) * 1000) / 1000,
      bareVsCeiling: Math.round((total / bareSeconds / ceiling) * 1000) / 1000,
      alerts,
      modelsRecords: plainRuns[0]!.models.records,
      modelsBytes: plainRuns[0]!.models.bytes,
      modelsCompactedBytes: plainRuns[0]!.models.compactedBytes,
      modelsCompactedKeys: plainRuns[0]!.models.compactedKeys,
      webhookRounds: ROUNDS,
      webhookPlainRuns: plainRuns.map((r) => Math.round(total / r.seconds)).join(', '),
      webhookDeadRuns: webhookRuns.map((r) => Math.round(total / r.seconds)).join(', '),
      webhookPlainMeanPerSecond: Math.round(total / meanSeconds(plainRuns)),
      webhookDeadPerSecond: Math.round(total / meanSeconds(webhookRuns)),
      webhookDeadVsPlain: Math.round((meanSeconds(plainRuns) / meanSeconds(webhookRuns)) * 1000) / 1000,
      latencyRatePerSecond: latency.ratePerSecond,
      latencyAchievedPerSecond: latency.achievedPerSecond,
      latencyAlerts: latency.alerts,
      latencyP50Ms: latency.p50Ms,
      latencyP99Ms: latency.p99Ms,
      latencyMaxMs: latency.maxMs,
      latencyMemberRecordsPerCpuSecond: latency.memberRecordsPerCpuSecond,
      latencyMemberCores: latency.memberCores,
      latencyBenchCores: latency.benchCores,
      latencyQuarterRatePerSecond: latencyQuarter.ratePerSecond,
      latencyQuarterAlerts: latencyQuarter.alerts,
      latencyQuarterP50Ms: latencyQuarter.p50Ms,
      latencyQuarterP99Ms: latencyQuarter.p99Ms,
      latencyQuarterMaxMs: latencyQuarter.maxMs,
      latencyQuarterMemberRecordsPerCpuSecond: latencyQuarter.memberRecordsPerCpuSecond,
      latencyQuarterMemberCores: latencyQuarter.memberCores,
      latencyQuarterBenchCores: latencyQuarter.benchCores,
      scaleRecords: scale.records,
      scalePartitions: scale.partitions,
      scaleOnePerSecond: one.perSecond,
      scaleTwoPerSecond: two.perSecond,
      scaleOneWallSeconds: one.wallSeconds,
      scaleTwoWallSeconds: two.wallSeconds,
      scaleTwoVsOne: Math.round((two.perSecond / one.perSecond) * 100) / 100,
      scaleOnePerCpuSecond: one.recordsPerCpuSecond,
      scaleTwoPerCpuSecond: two.recordsPerCpuSecond,
    }
  } finally {
    await admin.deleteTopics({ topics: [...Object.values(topics), ...extraTopics] }).catch(() => undefined)
    await admin.disconnect()
    await stop()
  }
}
