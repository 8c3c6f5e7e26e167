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

interface Read {
  readonly partition: number
  readonly key: string | null
  readonly value: string
}

/** Reads `n` records of a topic from the beginning. */
const readTopic = async (topic: string, n: number): Promise<Read[]> => {
  const consumer = kafka.consumer({ groupId: `reader-${randomUUID()}` })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const out: Read[] = []
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`read ${out.length} of ${n} records`)), 60_000)
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        out.push({ partition, key: message.key?.toString() ?? null, value: message.value?.toString() ?? '' })
        if (out.length >= n) {
          clearTimeout(timer)
          resolve()
        }
      },
    })
  })
  await consumer.disconnect()
  return out
}

beforeAll(async () => {
  await admin.connect()
})
afterAll(async () => {
  await admin.disconnect()
})

describe('egress-sentinel produce', () => {
  it('writes every line, keyed by deviceId, each device in one partition in file order; an undecodable line gets a null key', async () => {
    const topic = `produce-${randomUUID()}`
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true })
    const dir = mkdtempSync(join(tmpdir(), 'egress-produce-'))
    const bad = join(dir, 'bad.ndjson')
    writeFileSync(bad, '{"deviceId": "x", "ts": \n')
    const r = await cli('produce', '--topic', topic, DEMO, bad)
    expect(r.stderr).toMatch(/^produced 856 records to produce-.* 1 undecodable, sent with a null key\n$/)
    expect(r.code).toBe(0)

    const lines = readFileSync(DEMO, 'utf8').trimEnd().split('\n')
    const records = await readTopic(topic, lines.length + 1)
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
