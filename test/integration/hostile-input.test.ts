// Records nobody should send, through `run` on a real broker: each ends as a bounded dead letter, a counted skip or a device that makes room, and detection of the rest goes on exactly as replay gives it.
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import kafkajs, { Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createProducer } from '../../src/kafka/client.ts'
import { readAll } from '../helpers/kafka.ts'
import { expectTopicLines, replayLines, sample, setupTopics, startRun, topicLines, waitCommitted, waitReady } from '../helpers/service.ts'
import { CONN_LOG_HEADER } from '../helpers/zeek.ts'

const DEMO = fileURLToPath(new URL('../../fixtures/demo/demo.ndjson', import.meta.url))
const DEMO_LINES = readFileSync(DEMO, 'utf8').trimEnd().split('\n')
const TEN_YEARS_MS = 3_652 * 86_400_000

const brokers = inject('kafkaBrokers')
const kafka = new Kafka({ clientId: 'hostile-input-test', brokers: [brokers], logLevel: logLevel.NOTHING })
const admin = kafka.admin()
const producer = createProducer(kafka)

interface Input {
  readonly key: string | null
  readonly value: string | Buffer
}

/** Fixture lines as records keyed by their deviceId (so they land where replay --partitions puts them). */
const keyed = (lines: readonly string[]): Input[] => lines.map((value) => ({ key: (JSON.parse(value) as { deviceId: string }).deviceId, value }))

/** Writes the records in order, a few per request (some are large). */
const produce = async (topic: string, records: readonly Input[]): Promise<void> => {
  for (let i = 0; i < records.length; i += 200) {
    const part = records.slice(i, i + 200)
    if (part.some((r) => r.value.length > 100_000)) {
      for (const r of part) await producer.send({ topic, acks: -1, messages: [r] })
    } else {
      await producer.send({ topic, acks: -1, messages: [...part] })
    }
  }
}

const metricsOf = async (stderr: string): Promise<string> => {
  const address = /http on (\S+)/.exec(stderr)?.[1]
  return (await fetch(`http://${address}/metrics`)).text()
}

interface DeadLetter {
  readonly reason: string
  readonly error: string
  readonly offset: string
  readonly raw: string
  readonly rawBytes: number
  readonly rawSha256: string
  readonly rawTruncated: boolean
}

beforeAll(async () => {
  await admin.connect()
  await producer.connect()
})
afterAll(async () => {
  await producer.disconnect()
  await admin.disconnect()
})

describe('run, fed records meant to stop or blind it', () => {
  it('turns records whose dead letters would outgrow the DLQ topic into dead letters that fit, and detects the rest as replay does', async () => {
    const { t, env, groupId } = await setupTopics(admin, brokers, 1)
    const dlqLimit = 64 * 1024
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: t.dlq, configEntries: [{ name: 'max.message.bytes', value: String(dlqLimit) }] }],
    })
    // 600 KB of `"` (above input.maxRecordBytes: JSON-escaped, 1.2 MB), 60 KB of `"` (under it: an
    // invalid JSON record that escapes to 120 KB) and 20 KB of \x01 (escapes six-fold): before, the
    // first dead letter was refused by the broker and the consumer stopped for good.
    const hostile = [Buffer.alloc(600_000, '"'), Buffer.alloc(60_000, '"'), Buffer.alloc(20_000, 1)]
    await produce(t.events, [...hostile.map((value) => ({ key: 'attacker', value })), ...keyed(DEMO_LINES)])
    const run = startRun(env)
    try {
      await waitCommitted(admin, groupId, t.events, (n) => n === hostile.length + DEMO_LINES.length, 60_000)
      expect(await topicLines(kafka, t.alerts)).toEqual(await replayLines(DEMO))
      const dead = (await readAll(kafka, t.dlq)).map((r) => r.value)
      expect(dead.every((v) => Buffer.byteLength(v) <= dlqLimit - 1024)).toBe(true)
      const letters = dead.map((v) => JSON.parse(v) as DeadLetter)
      expect(letters.map((d) => [d.reason, d.offset, d.rawBytes, d.rawTruncated])).toEqual([
        ['too_large', '0', 600_000, true],
        ['invalid_json', '1', 60_000, true],
        ['invalid_json', '2', 20_000, true],
      ])
      letters.forEach((d, i) => expect(d.rawSha256).toBe(createHash('sha256').update(hostile[i]!).digest('hex')))
      expect(letters[0]!.error).toBe('record of 600000 bytes exceeds input.maxRecordBytes (262144)')
      // What was kept of the original is its first bytes, as they were.
      expect(hostile[1]!.toString('utf8').startsWith(letters[1]!.raw)).toBe(true)
      expect(letters[1]!.raw.length).toBeGreaterThan(1000)
      const metrics = await metricsOf(run.out.stderr)
      expect(sample(metrics, 'egress_dlq_total', { reason: 'too_large' })).toBe(1)
      expect(sample(metrics, 'egress_dlq_total', { reason: 'invalid_json' })).toBe(2)
      expect(sample(metrics, 'egress_ready')).toBe(1)
    } finally {
      run.child.kill('SIGTERM')
    }
    expect(await run.exited).toBe(0)
  })

  it('sends a dead letter the broker still refuses for its size (the DLQ topic\'s limit lowered while running) again without its raw bytes, and goes on', async () => {
    const { t, env, groupId } = await setupTopics(admin, brokers, 1)
    const run = startRun(env)
    try {
      await waitReady(run)
      await admin.alterConfigs({
        validateOnly: false,
        resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: t.dlq, configEntries: [{ name: 'max.message.bytes', value: '4096' }] }],
      })
      const junk = Buffer.alloc(20_000, '"')
      await produce(t.events, [{ key: 'attacker', value: junk }, ...keyed(DEMO_LINES)])
      await waitCommitted(admin, groupId, t.events, (n) => n === 1 + DEMO_LINES.length, 60_000)
      expect(await topicLines(kafka, t.alerts)).toEqual(await replayLines(DEMO))
      const letters = (await readAll(kafka, t.dlq)).map((r) => JSON.parse(r.value) as DeadLetter)
      expect(letters.map((d) => [d.reason, d.offset, d.raw, d.rawBytes, d.rawTruncated, d.rawSha256])).toEqual([
        ['invalid_json', '0', '', 20_000, true, createHash('sha256').update(junk).digest('hex')],
      ])
      expect(run.out.stderr).toContain('the broker refused a record for its size')
    } finally {
      run.child.kill('SIGTERM')
    }
    expect(await run.exited).toBe(0)
  })

  it('makes an event or telemetry dated ten years ahead a dead letter: its device, its shard and the checkpoint keep their time', async () => {
    const { t, env, groupId } = await setupTopics(admin, brokers, 1)
    const future = (line: string): string => {
      const e = JSON.parse(line) as { ts: number }
      return JSON.stringify({ ...e, ts: e.ts + TEN_YEARS_MS })
    }
    // The spamming fridge and the TV that reports its mail: before, every later event of each was
    // late (their alerts missed), and the shard's clock jumped ten years (every device evicted).
    const fridge = DEMO_LINES.findIndex((l) => l.includes('"frostbyte-fridge-a5e501"') && l.includes('"egress"'))
    const tv = DEMO_LINES.findIndex((l) => l.includes('"lumen-tv-cfa048"') && l.includes('"telemetry"'))
    const lines = DEMO_LINES.flatMap((l, i) => (i === fridge || i === tv ? [l, future(l)] : [l]))
    await produce(t.events, keyed(lines))
    const run = startRun(env)
    try {
      await waitCommitted(admin, groupId, t.events, (n) => n === lines.length, 60_000)
      expect(await topicLines(kafka, t.alerts)).toEqual(await replayLines(DEMO))
      const letters = (await readAll(kafka, t.dlq)).map((r) => JSON.parse(r.value) as DeadLetter)
      expect(letters.map((d) => [d.reason, d.offset])).toEqual([
        ['ts_future', String(lines.indexOf(future(DEMO_LINES[tv]!)))],
        ['ts_future', String(lines.indexOf(future(DEMO_LINES[fridge]!)))],
      ])
      expect(letters[0]!.error).toMatch(/^ts: 2036-1\d-\d\dT.* is \d+ days ahead of the clock \(.*\); engine\.maxFutureSeconds is 300$/)
      const metrics = await metricsOf(run.out.stderr)
      expect(sample(metrics, 'egress_dlq_total', { reason: 'ts_future' })).toBe(2)
      expect(sample(metrics, 'egress_devices_evicted_total', { reason: 'ttl' })).toBe(0)
      expect(sample(metrics, 'egress_devices_tracked')).toBe(8)
    } finally {
      run.child.kill('SIGTERM')
    }
    expect(await run.exited).toBe(0)
    // The state saved holds no device dated in the future.
    const state = (await readAll(kafka, t.state)).filter((r) => r.value !== '').map((r) => r.value)
    const limit = JSON.parse(DEMO_LINES.at(-1)!).ts as number
    for (const v of state) {
      const maxTs = [...v.matchAll(/"maxTs":(\d+)/g)].map((m) => Number(m[1]))
      expect(maxTs.every((ts) => ts <= limit)).toBe(true)
    }
  })

  it('bounds the devices of the whole process: a flood of fresh device ids over two partitions evicts its own kind, never the fleet', async () => {
    const { t, env, groupId } = await setupTopics(admin, brokers, 2)
    const dir = mkdtempSync(join(tmpdir(), 'egress-flood-'))
    const config = join(dir, 'config.json')
    // 8 devices in the fixture, room for 12 in the process (6 a partition before: a flood took it all).
    writeFileSync(config, JSON.stringify({ engine: { maxDevices: 12 } }))
    const at = 500
    const ts = (JSON.parse(DEMO_LINES[at - 1]!) as { ts: number }).ts
    const flood = Array.from({ length: 300 }, (_, i) =>
      JSON.stringify({ type: 'egress', ts, deviceId: `flood-${i}`, model: 'flood', dstIp: '198.51.100.7', dstPort: 443, proto: 'tcp', bytesOut: 200 }))
    const lines = [...DEMO_LINES.slice(0, at), ...flood, ...DEMO_LINES.slice(at)]
    await produce(t.events, keyed(lines))
    const run = startRun(env, '--config', config)
    try {
      await waitCommitted(admin, groupId, t.events, (n) => n === lines.length, 60_000)
      await expectTopicLines(kafka, t.alerts, await replayLines('--partitions', '2', '--config', config, DEMO))
      const metrics = await metricsOf(run.out.stderr)
      expect(sample(metrics, 'egress_devices_tracked')).toBe(12)
      expect(sample(metrics, 'egress_devices_evicted_total', { reason: 'capacity_new' })).toBe(296)
      expect(sample(metrics, 'egress_devices_evicted_total', { reason: 'capacity_learned' })).toBe(0)
    } finally {
      run.child.kill('SIGTERM')
    }
    expect(await run.exited).toBe(0)
  })

  it('decodes each record on its own: blank and # records are counted as skipped, a Zeek TSV row after a #fields record is a dead letter', async () => {
    const { t, env, groupId } = await setupTopics(admin, brokers, 1)
    const row = '1795563420.123456\tCHhAvVGS1DHFjwGM9\t192.168.1.20\t51234\t203.0.113.5\t25\ttcp\tsmtp\t0.520311\t120\t310\tSF\tT\tF\t0\tShAdDafF\t6\t399\t5\t578\t(empty)'
    const odd: Input[] = [
      { key: null, value: '   ' },
      { key: null, value: '\t\r\n ' },
      ...CONN_LOG_HEADER.map((value) => ({ key: null, value })),
      { key: null, value: row },
      { key: null, value: '# a comment' },
    ]
    await produce(t.events, [...odd, ...keyed(DEMO_LINES)])
    const run = startRun(env)
    try {
      await waitCommitted(admin, groupId, t.events, (n) => n === odd.length + DEMO_LINES.length, 60_000)
      expect(await topicLines(kafka, t.alerts)).toEqual(await replayLines(DEMO))
      const letters = (await readAll(kafka, t.dlq)).map((r) => JSON.parse(r.value) as DeadLetter)
      expect(letters.map((d) => [d.reason, d.offset, d.raw])).toEqual([['unknown_format', String(2 + CONN_LOG_HEADER.length), row]])
      const metrics = await metricsOf(run.out.stderr)
      // '\t\r\n ' is two lines of a message that holds several: both blank.
      expect(sample(metrics, 'egress_records_skipped_total', { reason: 'blank' })).toBe(3)
      expect(sample(metrics, 'egress_records_skipped_total', { reason: 'header' })).toBe(CONN_LOG_HEADER.length + 1)
      expect(sample(metrics, 'egress_events_total', { source: t.events, result: 'skipped' })).toBe(CONN_LOG_HEADER.length + 4)
      expect(sample(metrics, 'egress_events_total', { source: t.events, result: 'rejected' })).toBe(1)
      expect(sample(metrics, 'egress_events_total', { source: t.events, result: 'accepted' })).toBe(DEMO_LINES.length)
    } finally {
      run.child.kill('SIGTERM')
    }
    expect(await run.exited).toBe(0)
  })
})
