// Event-to-alert latency through a real broker at a steady rate: from sending the record whose processing emits an alert to reading that alert, committed, from the alerts topic.
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { Partitioners } from 'kafkajs'
import type { Kafka } from 'kafkajs'
import { DETECTORS } from '../detectors/index.ts'
import { loadConfig } from '../src/config/load.ts'
import { createLineDecoder } from '../src/decode/formats.ts'
import { partitionOf } from '../src/partition.ts'
import { replay } from '../src/replay.ts'
import { DEFAULT_MAX_LINE_BYTES, forEachLine } from '../src/sources/file.ts'
import { createTopics, runOutputTopics } from '../scripts/kafka/topics.ts'
import { cpuSeconds } from './scale-out.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const BIN = `${ROOT}bin/egress-sentinel.js`
/** Sends per second of the paced producer. */
const TICKS = 50

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

interface Line {
  readonly key: string
  readonly value: string
}

/**
 * For each alert record (`id/status`), the index of the input line whose processing emits it, found
 * by replaying the fixture over the same partitions with one fleet view, as `run` shares one (the
 * engine is deterministic); an alert a line's clock move emits in another shard counts from that line.
 */
const triggers = async (fixture: string, partitions: number): Promise<Map<string, number>> => {
  const out = new Map<string, number>()
  let current = 0
  await replay({
    inputs: [fixture], format: 'auto', config: loadConfig(undefined, DETECTORS), detectors: DETECTORS, partitions, flush: false,
    onAlert: (a) => out.set(`${a.id}/${a.status}`, current),
    onEvent: () => void current++,
  })
  return out
}

const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!

export interface LatencyResult {
  readonly ratePerSecond: number
  readonly achievedPerSecond: number
  readonly alerts: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  /** Records per CPU second of the `run` member while it followed the paced producer (NaN off Linux). */
  readonly memberRecordsPerCpuSecond: number
  /** Share of one core the member and this process (the paced producer and the alert reader) used meanwhile. */
  readonly memberCores: number
  readonly benchCores: number
}

export const alertLatency = async (kafka: Kafka, brokers: string, fixture: string, partitions: number, ratePerSecond: number): Promise<LatencyResult> => {
  const lines: Line[] = []
  const decoder = createLineDecoder('auto')
  await forEachLine(fixture, (value) => {
    const r = decoder.decode(value)
    if (r.ok === true) lines.push({ key: r.event.deviceId, value })
  }, { maxLineBytes: DEFAULT_MAX_LINE_BYTES, onOversize: () => undefined })
  const expected = await triggers(fixture, partitions)

  const admin = kafka.admin()
  await admin.connect()
  const id = randomUUID().slice(0, 8)
  const topics = { events: `lat-events-${id}`, alerts: `lat-alerts-${id}`, dlq: `lat-dlq-${id}`, state: `lat-state-${id}`, models: `lat-models-${id}` }
  // Not idempotent (that allows one request in flight): the senders of the partitions overlap; each awaits its own sends.
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  const reader = kafka.consumer({ groupId: `lat-reader-${id}`, readUncommitted: false })
  let service: ReturnType<typeof spawn> | null = null
  try {
    await createTopics(admin, [
      { topic: topics.events, numPartitions: partitions }, { topic: topics.dlq, numPartitions: 1 }, ...runOutputTopics(topics, partitions),
    ])
    // The service in a process of its own, as deployed; ready once its group is joined and shards restored.
    // BENCH_MEMBER_NODE_ARGS: node options for the member (e.g. --cpu-prof --cpu-prof-dir=DIR to profile it).
    const nodeArgs = process.env.BENCH_MEMBER_NODE_ARGS?.split(' ').filter((a) => a.length > 0) ?? []
    const child = spawn(process.execPath, [...nodeArgs, BIN, 'run'], {
      env: {
        ...process.env, KAFKA_BROKERS: brokers, EGRESS_GROUP_ID: `lat-service-${id}`, EGRESS_TOPIC_EVENTS: topics.events,
        EGRESS_TOPIC_TELEMETRY: topics.events, EGRESS_TOPIC_ALERTS: topics.alerts, EGRESS_TOPIC_DLQ: topics.dlq,
        EGRESS_TOPIC_STATE: topics.state, EGRESS_TOPIC_MODELS: topics.models, EGRESS_HTTP_PORT: '0',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    service = child
    let stderr = ''
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    for (let ready = false; !ready; await sleep(50)) {
      const address = /http on (\S+)/.exec(stderr)?.[1]
      ready = address !== undefined && (await fetch(`http://${address}/readyz`).then((r) => r.status === 200, () => false))
      if (child.exitCode !== null) throw new Error(`run exited: ${stderr}`)
    }

    const received = new Map<string, number>()
    let allReceived: () => void = () => undefined
    const done = new Promise<void>((resolve) => (allReceived = resolve))
    await reader.connect()
    await reader.subscribe({ topic: topics.alerts, fromBeginning: true })
    await reader.run({
      eachMessage: async ({ message }) => {
        const at = performance.now()
        const a = JSON.parse(message.value!.toString()) as { id: string; status: string }
        const key = `${a.id}/${a.status}`
        if (!received.has(key)) received.set(key, at)
        if (received.size >= expected.size) allReceived()
      },
    })

    // The paced producer: one sender per partition (records of a partition keep their order, as the
    // offline trigger map assumes; partitions are independent shards), TICKS sends a second each, on
    // an absolute schedule that keeps the file's interleaving of partitions.
    await producer.connect()
    const sentAt = new Float64Array(lines.length)
    const perTick = Math.max(1, Math.round(ratePerSecond / TICKS))
    const byPartition = Array.from({ length: partitions }, () => [] as number[])
    lines.forEach((line, i) => byPartition[partitionOf(line.key, partitions)]!.push(i))
    const cpu0 = cpuSeconds(child.pid)
    const own0 = process.cpuUsage()
    const t0 = performance.now()
    const tickOf = (i: number): number => Math.floor(i / perTick)
    await Promise.all(
      byPartition.map(async (indexes, partition) => {
        for (let k = 0; k < indexes.length; ) {
          const tick = tickOf(indexes[k]!)
          const wait = t0 + (tick * 1000) / TICKS - performance.now()
          if (wait > 0) await sleep(wait)
          let end = k
          while (end < indexes.length && tickOf(indexes[end]!) <= tick) end++
          const now = performance.now()
          const messages = indexes.slice(k, end).map((i) => {
            sentAt[i] = now
            return { ...lines[i]!, partition }
          })
          await producer.send({ topic: topics.events, acks: -1, messages })
          k = end
        }
      }),
    )
    const achieved = lines.length / ((performance.now() - t0) / 1000)
    await Promise.race([done, sleep(120_000).then(() => Promise.reject(new Error(`${received.size} of ${expected.size} alerts read in 2 min`)))])
    const wallSeconds = (performance.now() - t0) / 1000
    const memberCpu = cpuSeconds(child.pid) - cpu0
    const own = process.cpuUsage(own0)

    const latencies = [...expected].map(([key, line]) => received.get(key)! - sentAt[line]!).sort((a, b) => a - b)
    return {
      ratePerSecond: Math.round(ratePerSecond),
      achievedPerSecond: Math.round(achieved),
      alerts: latencies.length,
      p50Ms: Math.round(percentile(latencies, 50)),
      p99Ms: Math.round(percentile(latencies, 99)),
      maxMs: Math.round(latencies.at(-1)!),
      memberRecordsPerCpuSecond: Math.round(lines.length / memberCpu),
      memberCores: Math.round((memberCpu / wallSeconds) * 100) / 100,
      benchCores: Math.round(((own.user + own.system) / 1e6 / wallSeconds) * 100) / 100,
    }
  } finally {
    service?.kill('SIGTERM')
    await reader.disconnect().catch(() => undefined)
    await producer.disconnect().catch(() => undefined)
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined)
    await admin.disconnect()
  }
}
