// `egress-sentinel run` against a real broker: alerts of a fixture reach the alerts topic as replay gives them, bad records the DLQ.
import { randomUUID } from 'node:crypto'
import { connect, createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import kafkajs, { Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { readTopic } from '../helpers/kafka.ts'
import { cli, expectTopicLines, replayLines, sample, setupTopics, startRun, topicLines, waitCommitted } from '../helpers/service.ts'
import { until } from '../helpers/wait.ts'
import { createTopics } from '../../scripts/kafka/topics.ts'

const DEMO = fileURLToPath(new URL('../../fixtures/demo/demo.ndjson', import.meta.url))

const METRICS_TOKEN = 'metrics-token-for-the-run-test'
const brokers = inject('kafkaBrokers')
const kafka = new Kafka({ clientId: 'run-test', brokers: [brokers], logLevel: logLevel.NOTHING })
const admin = kafka.admin()

/** The values of `topic` from the beginning, until `done` says enough. */
const readUntil = async (topic: string, done: (values: string[]) => boolean): Promise<string[]> =>
  (await readTopic(kafka, topic, (records) => done(records.map((r) => r.value)))).map((r) => r.value)

beforeAll(async () => {
  await admin.connect()
})
afterAll(async () => {
  await admin.disconnect()
})

/** A TCP port nothing listens on now (taken and given back). */
const freePort = async (): Promise<number> => {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as AddressInfo
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  return port
}

describe('egress-sentinel run', () => {
  it('answers /livez at once and /readyz 503 while no broker answers, tries again with backoff, and is ready once one does', async () => {
    const setup = await setupTopics(admin, brokers, 1)
    // The service's bootstrap address: nothing there at first, then a relay to the test broker
    // (kafkajs bootstraps through it and then talks to the broker's advertised address).
    const port = await freePort()
    const { child: service, out, exited } = startRun({ ...setup.env, KAFKA_BROKERS: `127.0.0.1:${port}` })
    const relay = createServer((client) => {
      const [host, brokerPort] = brokers.split(':') as [string, string]
      const upstream = connect(Number(brokerPort), host)
      client.pipe(upstream).pipe(client)
      client.on('error', () => upstream.destroy())
      upstream.on('error', () => client.destroy())
    })
    try {
      await until(() => /trying again in 2 s \(attempt 2\)/.test(out.stderr), () => `no second attempt: ${out.stderr}`, 90_000)
      const address = /http on (\S+)/.exec(out.stderr)![1]!
      expect((await fetch(`http://${address}/livez`)).status).toBe(200)
      expect((await fetch(`http://${address}/readyz`)).status).toBe(503)
      expect(out.stderr).toMatch(/cannot reach the Kafka brokers at 127\.0\.0\.1:\d+: .*; trying again in 1 s \(attempt 1\)/)
      await new Promise<void>((resolve) => relay.listen(port, '127.0.0.1', resolve))
      await until(async () => (await fetch(`http://${address}/readyz`)).status === 200, () => `not ready once the broker answers: ${out.stderr}`, 90_000)
      service.kill('SIGTERM')
      expect(await exited).toBe(0)
    } finally {
      service.kill('SIGKILL')
      relay.close()
    }
  })


  it('sends exactly the alerts replay gives to the alerts topic, bad records to the DLQ with their reason, and stops on SIGTERM with exit 0', async () => {
    // One partition each: one detection shard, as in a replay of the file.
    const setup = await setupTopics(admin, brokers, 1)
    const { t, groupId } = setup
    const env = { ...setup.env, EGRESS_METRICS_TOKEN: METRICS_TOKEN }
    const dir = mkdtempSync(join(tmpdir(), 'egress-run-'))
    const lines = readFileSync(DEMO, 'utf8').trimEnd().split('\n')
    const bad = ['not json', '{"type":"egress","ts":1762106400000,"deviceId":"d","dstIp":"10.0.0.1","dstPort":99999,"proto":"tcp","bytesOut":1}']
    const mixed = [...lines.slice(0, 300), bad[0]!, ...lines.slice(300, 600), bad[1]!, ...lines.slice(600)]
    writeFileSync(join(dir, 'mixed.ndjson'), mixed.join('\n') + '\n')
    await cli(env, 'produce', '-q', '--topic', t.events, join(dir, 'mixed.ndjson'))

    const { child: service, out, exited } = startRun(env)
    try {
      await waitCommitted(admin, groupId, t.events, (n) => n === mixed.length)
      const expected = await replayLines(DEMO)
      expect(expected.filter((l) => l.includes('"status":"firing"')).length).toBeGreaterThanOrEqual(3)
      expect(await topicLines(kafka, t.alerts)).toEqual(expected)

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

      // What Prometheus scrapes: every record accounted for, each alert counted once it is committed.
      expect((await fetch(`http://${address}/metrics`)).status).toBe(401)
      const metrics = await (await fetch(`http://${address}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text()
      expect(sample(metrics, 'egress_events_total', { source: t.events, result: 'accepted' })).toBe(lines.length)
      expect(sample(metrics, 'egress_events_total', { source: t.events, result: 'rejected' })).toBe(2)
      expect(sample(metrics, 'egress_dlq_total', { reason: 'invalid_json' })).toBe(1)
      expect(sample(metrics, 'egress_dlq_total', { reason: 'schema' })).toBe(1)
      const records = expected.map((l) => JSON.parse(l) as { status: string; revision: number })
      const firing = records.filter((a) => a.status === 'firing' && a.revision === 1).length
      const escalated = records.filter((a) => a.status === 'firing' && a.revision > 1).length
      const resolved = records.filter((a) => a.status === 'resolved').length
      const counted = (status: string): number =>
        [...metrics.matchAll(new RegExp(`^egress_alerts_total\\{.*status="${status}".*\\} (\\d+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0)
      expect(escalated).toBeGreaterThan(0)
      expect([counted('firing'), counted('escalated'), counted('resolved')]).toEqual([firing, escalated, resolved])
      const open = [...metrics.matchAll(/^egress_alerts_firing\{.*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0)
      expect(open).toBe(firing - resolved)
      expect(sample(metrics, 'egress_devices_tracked')).toBe(8)
      expect(sample(metrics, 'egress_consumer_lag', { topic: t.events, partition: '0' })).toBe(0)
      expect(sample(metrics, 'egress_ready')).toBe(1)
      expect(sample(metrics, 'egress_event_lag_seconds_count')).toBe(lines.length)
      expect(metrics).not.toContain(METRICS_TOKEN)
    } finally {
      service.kill('SIGTERM')
    }
    expect(await exited).toBe(0)
    expect(out.stderr).toMatch(/stopped after 8\d\d records, \d+ events, \d+ alerts, 2 dead letters/)
    // Nothing failed: no line at error level (kafkajs' retried errors included).
    expect(out.stderr.split('\n').filter((l) => /\berror\b/i.test(l) && !l.includes('dead letter')), out.stderr).toEqual([])
  })

  it('over three partitions gives exactly the alerts of a replay sharded the same way (--partitions 3: one fleet view)', async () => {
    const { t, env, groupId } = await setupTopics(admin, brokers, 3)
    await cli(env, 'produce', '-q', '--topic', t.events, DEMO)
    const total = readFileSync(DEMO, 'utf8').trimEnd().split('\n').length
    const { child: service, exited } = startRun(env)
    try {
      await waitCommitted(admin, groupId, t.events, (n) => n === total)
      await expectTopicLines(kafka, t.alerts, await replayLines('--partitions', '3', DEMO))
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

  it('exits 1 naming both input topics when their partition counts differ (a device\'s events and telemetry would land in different shards)', async () => {
    const setup = await setupTopics(admin, brokers, 2)
    const telemetry = `telemetry-3-${randomUUID()}`
    await createTopics(admin, [{ topic: telemetry, numPartitions: 3 }])
    let failure: { code?: number; stderr?: string } = {}
    try {
      await cli({ ...setup.env, EGRESS_TOPIC_TELEMETRY: telemetry }, 'run')
    } catch (err) {
      failure = err as { code?: number; stderr?: string }
    }
    expect(failure.code).toBe(1)
    expect(failure.stderr).toContain(`input topics "${setup.t.events}" (2 partitions) and "${telemetry}" (3 partitions) must have as many partitions`)
  })

  it('exits 1 at the first commit that holds a record over its topic\'s max.message.bytes, naming the record, what it holds and the command that raises the limit', async () => {
    const { t, env } = await setupTopics(admin, brokers, 1)
    // A state topic that takes records of 2,048 bytes at most (its whole configuration: it stays compacted).
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: t.state, configEntries: [{ name: 'cleanup.policy', value: 'compact' }, { name: 'max.message.bytes', value: '2048' }] }],
    })
    await cli(env, 'produce', '-q', '--topic', t.events, DEMO)
    const run = startRun(env)
    expect(await run.exited).toBe(1)
    expect(run.out.stderr).toMatch(new RegExp(`${t.events}/0: record "${t.events}/0[^"]*" for topic "${t.state}" is \\d+ bytes, more than its max\\.message\\.bytes \\(2048\\) takes; it is (the shard record|a device's state)`))
    expect(run.out.stderr).toContain(`--alter --entity-type topics --entity-name ${t.state} --add-config max.message.bytes=`)
    // Nothing of it was committed: no alert is out.
    expect(await topicLines(kafka, t.alerts)).toEqual([])
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
