// `egress-sentinel run` against a real broker: alerts of a fixture reach the alerts topic as replay gives them, bad records the DLQ.
import { execFile, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import type { Alert } from '../../src/types.ts'
import { readTopic } from '../helpers/kafka.ts'

const BIN = fileURLToPath(new URL('../../bin/egress-sentinel.js', import.meta.url))
const DEMO = fileURLToPath(new URL('../../fixtures/demo/demo.ndjson', import.meta.url))

const brokers = inject('kafkaBrokers')
const kafka = new Kafka({ clientId: 'run-test', brokers: [brokers], logLevel: logLevel.NOTHING })
const admin = kafka.admin()

const cli = async (env: NodeJS.ProcessEnv, ...args: string[]): Promise<string> =>
  (await promisify(execFile)(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 })).stdout

/** The values of `topic` from the beginning, until `done` says enough. */
const readUntil = async (topic: string, done: (values: string[]) => boolean): Promise<string[]> =>
  (await readTopic(kafka, topic, (records) => done(records.map((r) => r.value)))).map((r) => r.value)

/** Fresh topics (events and telemetry with `partitions`) and the environment that points `run` at them. */
const setupTopics = async (partitions: number) => {
  const id = randomUUID()
  const t = { events: `events-${id}`, telemetry: `telemetry-${id}`, alerts: `alerts-${id}`, dlq: `dlq-${id}`, state: `state-${id}` }
  await admin.createTopics({
    topics: [
      { topic: t.events, numPartitions: partitions }, { topic: t.telemetry, numPartitions: partitions },
      { topic: t.alerts, numPartitions: 1 }, { topic: t.dlq, numPartitions: 1 },
      { topic: t.state, numPartitions: partitions, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
    ],
    waitForLeaders: true,
  })
  const env = {
    KAFKA_BROKERS: brokers, EGRESS_TOPIC_EVENTS: t.events, EGRESS_TOPIC_TELEMETRY: t.telemetry, EGRESS_TOPIC_ALERTS: t.alerts,
    EGRESS_TOPIC_DLQ: t.dlq, EGRESS_TOPIC_STATE: t.state, EGRESS_GROUP_ID: `group-${id}`, EGRESS_HTTP_PORT: '0',
  }
  return { t, env }
}

/**
 * Replay's alerts for the demo, and those of them due from a service that never reaches the end of
 * its input: alerts confirmed by windows that only the end of the file closes in replay are not due
 * yet. Everything detected an hour before the end is.
 */
const replayAlerts = async (...flags: string[]): Promise<{ expected: Alert[]; due: Set<string> }> => {
  const expected = (await cli({}, 'replay', '-q', ...flags, DEMO)).trim().split('\n').map((l) => JSON.parse(l) as Alert)
  const lines = readFileSync(DEMO, 'utf8').trimEnd().split('\n')
  const end = Math.max(...lines.map((l) => (JSON.parse(l) as { ts: number }).ts))
  const due = new Set(expected.filter((a) => a.status === 'firing' && Date.parse(a.detectedAt) < end - 3_600_000).map((a) => a.id))
  return { expected, due }
}

/** Reads the alerts topic until every due alert is there; every alert read must be replay's, to the byte. */
const expectReplayAlerts = async (topic: string, expected: readonly Alert[], due: ReadonlySet<string>): Promise<void> => {
  const alerts = (await readUntil(topic, (vs) => {
    const ids = new Set(vs.map((v) => (JSON.parse(v) as Alert).id))
    return [...due].every((a) => ids.has(a))
  })).map((v) => JSON.parse(v) as Alert)
  const byKey = new Map(expected.map((a) => [`${a.id}/${a.status}`, JSON.stringify(a)]))
  for (const a of alerts) expect(JSON.stringify(a)).toBe(byKey.get(`${a.id}/${a.status}`))
}

/** `egress-sentinel run` as a child process, its stderr collected, and its exit code when it ends. */
const startRun = (env: NodeJS.ProcessEnv) => {
  const child = spawn(process.execPath, [BIN, 'run'], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
  const out = { stderr: '' }
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, out, exited }
}

beforeAll(async () => {
  await admin.connect()
})
afterAll(async () => {
  await admin.disconnect()
})

describe('egress-sentinel run', () => {
  it('sends the alerts replay gives to the alerts topic, bad records to the DLQ with their reason, and stops on SIGTERM with exit 0', async () => {
    // One partition each: one detection shard, as in a replay of the file.
    const { t, env } = await setupTopics(1)
    const dir = mkdtempSync(join(tmpdir(), 'egress-run-'))
    const lines = readFileSync(DEMO, 'utf8').trimEnd().split('\n')
    const bad = ['not json', '{"type":"egress","ts":1762106400000,"deviceId":"d","dstIp":"10.0.0.1","dstPort":99999,"proto":"tcp","bytesOut":1}']
    const mixed = [...lines.slice(0, 300), bad[0]!, ...lines.slice(300, 600), bad[1]!, ...lines.slice(600)]
    writeFileSync(join(dir, 'mixed.ndjson'), mixed.join('\n') + '\n')
    await cli(env, 'produce', '-q', '--topic', t.events, join(dir, 'mixed.ndjson'))

    const { expected, due } = await replayAlerts()
    expect(due.size).toBeGreaterThanOrEqual(3)

    const { child: service, out, exited } = startRun(env)
    try {
      await expectReplayAlerts(t.alerts, expected, due)

      const dead = (await readUntil(t.dlq, (vs) => vs.length >= 2)).map((v) => JSON.parse(v) as Record<string, unknown>)
      expect(dead.map((d) => [d.reason, d.topic, d.partition, d.raw])).toEqual([
        ['invalid_json', t.events, 0, bad[0]],
        ['schema', t.events, 0, bad[1]],
      ])
      expect(dead[1]!.error).toMatch(/^dstPort: /)
      expect(dead.map((d) => d.offset)).toEqual(['300', '601'])

      const address = /http on (\S+)/.exec(out.stderr)?.[1]
      expect(address).toBeDefined()
      const ready = await fetch(`http://${address}/readyz`)
      expect(ready.status).toBe(200)
      expect((await fetch(`http://${address}/livez`)).status).toBe(200)
    } finally {
      service.kill('SIGTERM')
    }
    expect(await exited).toBe(0)
    expect(out.stderr).toMatch(/stopped after 8\d\d records, \d+ events, \d+ alerts, 2 dead letters/)
  })

  it('over three partitions gives the alerts of a replay sharded the same way (--partitions 3)', async () => {
    const { t, env } = await setupTopics(3)
    await cli(env, 'produce', '-q', '--topic', t.events, DEMO)
    const { expected, due } = await replayAlerts('--partitions', '3')
    expect(due.size).toBeGreaterThanOrEqual(3)
    const { child: service, exited } = startRun(env)
    try {
      await expectReplayAlerts(t.alerts, expected, due)
    } finally {
      service.kill('SIGTERM')
    }
    expect(await exited).toBe(0)
  })

  it('exits 1 naming a missing input topic', async () => {
    const id = randomUUID()
    let failure: { code?: number; stderr?: string } = {}
    try {
      await cli({ KAFKA_BROKERS: brokers, EGRESS_TOPIC_EVENTS: `nope-${id}`, EGRESS_GROUP_ID: `g-${id}`, EGRESS_HTTP_PORT: '0' }, 'run')
    } catch (err) {
      failure = err as { code?: number; stderr?: string }
    }
    expect(failure.code).toBe(1)
    expect(failure.stderr).toContain(`"nope-${id}"`)
  })

  it('exits 2 naming a bad setting', async () => {
    let failure: { code?: number; stderr?: string } = {}
    try {
      await cli({ KAFKA_BROKERS: brokers, EGRESS_HTTP_PORT: 'eighty' }, 'run')
    } catch (err) {
      failure = err as { code?: number; stderr?: string }
    }
    expect(failure.code).toBe(2)
    expect(failure.stderr).toContain('EGRESS_HTTP_PORT: ')
  })
})
