// Scaling out: the throughput of one and of two `run` members (processes, one consumer group) on the same six-partition topic.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import type { Admin, Kafka } from 'kafkajs'
import { createProducer } from '../src/kafka/client.ts'
import { produceFiles } from '../src/kafka/produce.ts'
import { createTopics, runOutputTopics } from '../scripts/kafka/topics.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const BIN = `${ROOT}bin/egress-sentinel.js`
/** Six partitions, as `run` is deployed (and as the detection checks run). */
const PARTITIONS = 6
/** Copies of the fleet (devices renamed per copy): enough records that joining the group is a small part of a run. */
const COPIES = 4
/** The steady rate is taken between these shares of the records committed (joins and the last batches left out). */
const FROM = 0.3
const TO = 0.9

export interface ScaleOut {
  readonly records: number
  readonly partitions: number
  /** Records a second between FROM and TO of the records committed, per member count. */
  readonly perSecond: readonly { readonly members: number; readonly perSecond: number; readonly wallSeconds: number; readonly recordsPerCpuSecond: number }[]
}

/** CPU seconds (user and system) a process has used, from /proc (Linux; NaN elsewhere). Clock ticks are 100 a second on Linux. */
export const cpuSeconds = (pid: number | undefined): number => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return Number.NaN
  }
}

/** Writes the fleet `COPIES` times, each copy's devices renamed (`<id>~<k>`), copies interleaved line by line: still in event-time order. */
const writeCopies = (fleet: string, file: string): void => {
  const lines = gunzipSync(readFileSync(fleet)).toString('utf8').split('\n')
  const fd = openSync(file, 'w')
  try {
    let chunk: string[] = []
    for (const line of lines) {
      if (line.length === 0) continue
      const e = JSON.parse(line) as { deviceId: string }
      const id = e.deviceId
      for (let k = 0; k < COPIES; k++) {
        e.deviceId = k === 0 ? id : `${id}~${k}`
        chunk.push(JSON.stringify(e))
      }
      if (chunk.length >= 40_000) {
        writeSync(fd, `${chunk.join('\n')}\n`)
        chunk = []
      }
    }
    if (chunk.length > 0) writeSync(fd, `${chunk.join('\n')}\n`)
  } finally {
    closeSync(fd)
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Committed records of the group on the topic. */
const committed = async (admin: Admin, group: string, topic: string): Promise<number> => {
  const offsets = await admin.fetchOffsets({ groupId: group, topics: [topic] })
  return offsets[0]!.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0)
}

export const scaleOut = async (kafka: Kafka, brokers: string, fleet: string): Promise<ScaleOut> => {
  const admin = kafka.admin()
  await admin.connect()
  const id = randomUUID().slice(0, 8)
  const events = `scale-events-${id}`
  const dlq = `scale-dlq-${id}`
  const created: string[] = [events, dlq]
  const dir = mkdtempSync(join(tmpdir(), 'egress-scale-'))
  const children: ChildProcess[] = []
  try {
    const file = join(dir, 'fleet.ndjson')
    writeCopies(fleet, file)
    await createTopics(admin, [{ topic: events, numPartitions: PARTITIONS }, { topic: dlq, numPartitions: 1 }])
    const producer = createProducer(kafka)
    await producer.connect()
    const { records: total } = await produceFiles({ producer, topic: events, inputs: [file], format: 'auto', speed: 0 })
    await producer.disconnect()

    const perSecond: { members: number; perSecond: number; wallSeconds: number; recordsPerCpuSecond: number }[] = []
    for (const members of [1, 2]) {
      const own = { alerts: `scale-alerts-${members}-${id}`, state: `scale-state-${members}-${id}`, models: `scale-models-${members}-${id}` }
      created.push(own.alerts, own.state, own.models)
      await createTopics(admin, runOutputTopics(own, PARTITIONS))
      const group = `scale-service-${members}-${id}`
      const started = performance.now()
      const stderr: string[] = []
      for (let m = 0; m < members; m++) {
        // BENCH_MEMBER_NODE_ARGS: node options for the members (e.g. --cpu-prof --cpu-prof-dir=DIR to profile them).
        const nodeArgs = process.env.BENCH_MEMBER_NODE_ARGS?.split(' ').filter((a) => a.length > 0) ?? []
        const child = spawn(process.execPath, [...nodeArgs, BIN, 'run'], {
          env: {
            ...process.env, KAFKA_BROKERS: brokers, EGRESS_GROUP_ID: group, EGRESS_TOPIC_EVENTS: events, EGRESS_TOPIC_TELEMETRY: events,
            EGRESS_TOPIC_ALERTS: own.alerts, EGRESS_TOPIC_DLQ: dlq, EGRESS_TOPIC_STATE: own.state, EGRESS_TOPIC_MODELS: own.models, EGRESS_HTTP_PORT: '0',
          },
          stdio: ['ignore', 'ignore', 'pipe'],
        })
        stderr[m] = ''
        child.stderr!.on('data', (d: Buffer) => (stderr[m] += d.toString()))
        children.push(child)
      }
      const mine = children.slice(-members)
      let from: { t: number; n: number } | null = null
      let to: { t: number; n: number } | null = null
      for (;;) {
        const n = await committed(admin, group, events)
        const t = performance.now()
        if (from === null && n >= FROM * total) from = { t, n }
        if (to === null && n >= TO * total) to = { t, n }
        if (n >= total) break
        const dead = mine.findIndex((c) => c.exitCode !== null)
        if (dead >= 0) throw new Error(`member ${dead} of ${members} exited: ${stderr[dead]!.slice(-2000)}`)
        await sleep(100)
      }
      const wallSeconds = (performance.now() - started) / 1000
      // The members' CPU over the whole run (joining, restoring, reading, detecting, committing).
      const cpu = mine.reduce((n, c) => n + cpuSeconds(c.pid), 0)
      for (const c of mine) c.kill('SIGTERM')
      await Promise.all(mine.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => c.once('exit', r)))))
      perSecond.push({ members, perSecond: Math.round(((to!.n - from!.n) * 1000) / (to!.t - from!.t)), wallSeconds: Math.round(wallSeconds * 10) / 10, recordsPerCpuSecond: Math.round(total / cpu) })
    }
    return { records: total, partitions: PARTITIONS, perSecond }
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
    await admin.deleteTopics({ topics: created }).catch(() => undefined)
    await admin.disconnect()
  }
}
