// `egress-sentinel produce` against a real broker: every line of a fixture lands in the topic, keyed by its deviceId, in order per device.
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createTopics } from '../../scripts/kafka/topics.ts'
import { readTopic } from '../helpers/kafka.ts'
import type { Read } from '../helpers/kafka.ts'

const BIN = fileURLToPath(new URL('../../bin/egress-sentinel.js', import.meta.url))
const DEMO = fileURLToPath(new URL('../../fixtures/demo/demo.ndjson', import.meta.url))

const brokers = inject('kafkaBrokers')
const kafka = new Kafka({ clientId: 'produce-test', brokers: [brokers], logLevel: logLevel.NOTHING })
const admin = kafka.admin()

const cli = async (...args: string[]): Promise<{ code: number; stderr: string }> => {
  try {
    const { stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { env: { ...process.env, KAFKA_BROKERS: brokers } })
    return { code: 0, stderr }
  } catch (err) {
    const e = err as { code?: number; stderr?: string }
    return { code: e.code ?? -1, stderr: e.stderr ?? '' }
  }
}

/** Reads `n` records of a topic from the beginning. */
const readN = (topic: string, n: number): Promise<Read[]> => readTopic(kafka, topic, (records) => records.length >= n)

beforeAll(async () => {
  await admin.connect()
})
afterAll(async () => {
  await admin.disconnect()
})

describe('egress-sentinel produce', () => {
  it('writes every line, keyed by deviceId, each device in one partition in file order; an undecodable line gets a null key', async () => {
    const topic = `produce-${randomUUID()}`
    await createTopics(admin, [{ topic, numPartitions: 3 }])
    const dir = mkdtempSync(join(tmpdir(), 'egress-produce-'))
    const bad = join(dir, 'bad.ndjson')
    writeFileSync(bad, '{"deviceId": "x", "ts": \n')
    const r = await cli('produce', '--topic', topic, DEMO, bad)
    const demoLines = readFileSync(DEMO, 'utf8').trimEnd().split('\n').length
    expect(r.stderr).toMatch(new RegExp(`^produced ${demoLines + 1} records to produce-.* 1 undecodable, sent with a null key\\n$`))
    expect(r.code).toBe(0)

    const lines = readFileSync(DEMO, 'utf8').trimEnd().split('\n')
    const records = await readN(topic, lines.length + 1)
    expect(records).toHaveLength(lines.length + 1)
    const byDevice = new Map<string, Read[]>()
    for (const rec of records) {
      if (rec.key === null) continue
      expect((JSON.parse(rec.value) as { deviceId: string }).deviceId).toBe(rec.key)
      byDevice.set(rec.key, [...(byDevice.get(rec.key) ?? []), rec])
    }
    expect(records.filter((rec) => rec.key === null).map((rec) => rec.value)).toEqual(['{"deviceId": "x", "ts": '])
    expect(byDevice.size).toBe(8)
    for (const [device, recs] of byDevice) {
      expect(new Set(recs.map((rec) => rec.partition)).size, device).toBe(1)
      expect(recs.map((rec) => rec.value)).toEqual(lines.filter((l) => l.includes(`"deviceId":"${device}"`)))
    }
  })

  it('sends Zeek TSV rows as the canonical events they decode to: a row means nothing without its header', async () => {
    const topic = `produce-${randomUUID()}`
    await createTopics(admin, [{ topic, numPartitions: 1 }])
    const dir = mkdtempSync(join(tmpdir(), 'egress-produce-'))
    const conn = join(dir, 'conn.log')
    writeFileSync(conn, [
      '#separator \\x09',
      '#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\torig_ip_bytes',
      '#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount',
      '1795563420.123456\tC1\t192.168.1.20\t51234\t203.0.113.5\t25\ttcp\t399',
      '1795563422.5\tC2\t192.168.1.20\t40001\t198.51.100.7\t23\ttcp\t44',
    ].join('\n') + '\n')
    expect((await cli('produce', '--topic', topic, conn)).code).toBe(0)
    const records = await readN(topic, 2)
    expect(records.map((r) => [r.key, JSON.parse(r.value)])).toEqual([
      ['192.168.1.20', { type: 'egress', ts: 1795563420123, deviceId: '192.168.1.20', srcIp: '192.168.1.20', dstIp: '203.0.113.5', dstPort: 25, proto: 6, bytesOut: 399 }],
      ['192.168.1.20', { type: 'egress', ts: 1795563422500, deviceId: '192.168.1.20', srcIp: '192.168.1.20', dstIp: '198.51.100.7', dstPort: 23, proto: 6, bytesOut: 44 }],
    ])
  })

  it('fails with exit 1 naming a topic that does not exist, and never creates it', async () => {
    const topic = `missing-${randomUUID()}`
    const r = await cli('produce', '--topic', topic, DEMO)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`topic "${topic}" not found on the brokers`)
    expect(await admin.listTopics()).not.toContain(topic)
  })

  it('exits 2 naming --speed or the brokers when they are malformed', async () => {
    expect(await cli('produce', '--topic', 't', '--speed', 'fast', DEMO)).toMatchObject({ code: 2, stderr: expect.stringContaining('--speed') })
    expect(await cli('produce', '--topic', 't', '--brokers', 'localhost', DEMO)).toMatchObject({ code: 2, stderr: expect.stringContaining('--brokers: expected host:port') })
  })
})
