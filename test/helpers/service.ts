// The service under test: the CLI as a child process, fresh topics for it, and the group's progress through its input.
import { execFile, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { Admin, Kafka } from 'kafkajs'
import { createTopics, runOutputTopics } from '../../scripts/kafka/topics.ts'
import { expect } from 'vitest'
import { readAll } from './kafka.ts'

export const BIN = fileURLToPath(new URL('../../bin/egress-sentinel.js', import.meta.url))

/** Runs the CLI to its end; stdout, or a rejection carrying code and stderr. */
export const cli = async (env: NodeJS.ProcessEnv, ...args: string[]): Promise<string> =>
  (await promisify(execFile)(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 })).stdout

/** Fresh topics (events, telemetry and state with `partitions`; alerts, dead letters, models) and the environment that points `run` at them. */
export const setupTopics = async (admin: Admin, brokers: string, partitions: number) => {
  const id = randomUUID()
  const t = { events: `events-${id}`, telemetry: `telemetry-${id}`, alerts: `alerts-${id}`, dlq: `dlq-${id}`, state: `state-${id}`, models: `models-${id}` }
  await createTopics(admin, [
    { topic: t.events, numPartitions: partitions }, { topic: t.telemetry, numPartitions: partitions },
    { topic: t.dlq, numPartitions: 1 }, ...runOutputTopics(t, partitions),
  ])
  const groupId = `group-${id}`
  const env = {
    KAFKA_BROKERS: brokers, EGRESS_TOPIC_EVENTS: t.events, EGRESS_TOPIC_TELEMETRY: t.telemetry, EGRESS_TOPIC_ALERTS: t.alerts,
    EGRESS_TOPIC_DLQ: t.dlq, EGRESS_TOPIC_STATE: t.state, EGRESS_TOPIC_MODELS: t.models, EGRESS_GROUP_ID: groupId, EGRESS_HTTP_PORT: '0',
    // A member killed without leaving is noticed after this long (the broker's minimum).
    EGRESS_SESSION_TIMEOUT_SECONDS: '6',
  }
  return { t, env, groupId }
}

/** `egress-sentinel run` as a child process, its stderr collected, and its exit code when it ends. */
export const startRun = (env: NodeJS.ProcessEnv, ...args: string[]) => {
  const child = spawn(process.execPath, [BIN, 'run', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
  const out = { stderr: '' }
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, out, exited }
}

/** Records of `topic` the group has committed, over all partitions. */
export const committed = async (admin: Admin, groupId: string, topic: string): Promise<number> => {
  const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] })
  return (offsets?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0)
}

/**
 * Polls the group's committed offsets on `topic` until `until(count)`; fails after `timeoutMs`. A
 * broker that is still loading the group's coordinator (a fresh broker) is asked again.
 */
export const waitCommitted = async (admin: Admin, groupId: string, topic: string, until: (count: number) => boolean, timeoutMs = 120_000): Promise<number> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const n = await committed(admin, groupId, topic).catch(() => -1)
    if (until(n)) return n
    if (Date.now() > deadline) throw new Error(`group ${groupId} committed ${n} records of ${topic} and no more`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Replay's alert records for the same input as `run` gets (`--no-flush`: no end of input), sorted. */
export const replayLines = async (...args: string[]): Promise<string[]> =>
  (await cli({}, 'replay', '-q', '--no-flush', ...args)).split('\n').filter((l) => l !== '').sort()

/** Every committed record of the alerts topic, sorted: duplicates stay in. */
export const topicLines = async (kafka: Kafka, topic: string): Promise<string[]> => (await readAll(kafka, topic)).map((r) => r.value).sort()

/**
 * Waits until `topic` holds exactly `expected` (sorted record values), then asserts it: a shard read
 * to its partition's end keeps moving with the fleet's clock for a moment after the last input
 * offset is committed, and the alerts that move closes come then. On timeout, fails with the difference.
 */
export const expectTopicLines = async (kafka: Kafka, topic: string, expected: readonly string[], timeoutMs = 60_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const lines = await topicLines(kafka, topic)
    if (lines.length === expected.length && lines.every((l, i) => l === expected[i])) return
    if (Date.now() > deadline) {
      expect(lines).toEqual(expected)
      return
    }
    await new Promise((r) => setTimeout(r, 250))
  }
}

/** Waits until a started run answers 200 on /readyz (group joined, its shards restored). */
export const waitReady = async (run: ReturnType<typeof startRun>, timeoutMs = 60_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const address = /http on (\S+)/.exec(run.out.stderr)?.[1]
    if (address !== undefined && (await fetch(`http://${address}/readyz`).then((r) => r.status, () => 0)) === 200) return
    if (Date.now() > deadline) throw new Error(`run not ready after ${timeoutMs / 1000} s:\n${run.out.stderr}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** The value of one series in a Prometheus text exposition (labels in any order), or undefined. */
export const sample = (exposition: string, name: string, labels: Record<string, string> = {}): number | undefined => {
  for (const line of exposition.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null || m[1] !== name) continue
    const have = new Map([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]))
    if (have.size === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => have.get(k) === v)) return Number(m[3])
  }
  return undefined
}
