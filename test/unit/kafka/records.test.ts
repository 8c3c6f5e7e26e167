// Specification of the Kafka path's record handling: any bytes up to a topic's limit decode, skip or become a dead letter that fits its topic, and the shard goes on.
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DETECTORS } from '../../../detectors/index.ts'
import { parseConfig } from '../../../src/config/load.ts'
import type { DecodeFailureReason, SkipReason } from '../../../src/decode/result.ts'
import { ingestRecord } from '../../../src/kafka/records.ts'
import type { RecordContext } from '../../../src/kafka/records.ts'
import { createPipeline } from '../../../src/pipeline.ts'
import { MIN_DEAD_LETTER_BYTES, deadLetterValue } from '../../../src/sinks/dead-letter.ts'
import { sendRecords } from '../../../src/sinks/kafka.ts'
import type { OutRecord } from '../../../src/sinks/kafka.ts'
import type { ProducerBatch } from 'kafkajs'
import { T0 } from '../../helpers/events.ts'

const config = parseConfig({}, DETECTORS)
/** Kafka's default max.message.bytes: what an input topic takes at most. */
const TOPIC_LIMIT = 1_048_588
const REASONS: readonly DecodeFailureReason[] = ['invalid_json', 'schema', 'unknown_format', 'too_large', 'ts_future', 'ts_past', 'too_many_errors']

const valid = (deviceId: string, ts = T0): Buffer =>
  Buffer.from(JSON.stringify({ type: 'egress', ts, deviceId, dstIp: '198.51.100.7', dstPort: 443, proto: 'tcp', bytesOut: 100 }))

interface Seen {
  accepted: number
  late: number
  skipped: SkipReason[]
  dead: { reason: DecodeFailureReason; error: string; value: string; bytes: Buffer }[]
}

/** Runs records through one shard's pipeline as the service does, dead letters built for a DLQ topic of `dlqLimit` bytes. */
const shard = (dlqLimit = TOPIC_LIMIT) => {
  const pipeline = createPipeline(config, DETECTORS, () => undefined)
  const ctx: RecordContext = { target: pipeline, config, format: 'auto', nowMs: T0 + 86_400_000, position: { from: 0, line: 0 } }
  const limits = { maxRawBytes: config.input.deadLetterRawBytes, maxRecordBytes: dlqLimit - 1024 }
  const seen: Seen = { accepted: 0, late: 0, skipped: [], dead: [] }
  const outcomes = {
    accepted: () => void seen.accepted++,
    late: () => void seen.late++,
    skipped: (reason: SkipReason) => void seen.skipped.push(reason),
    dead: (reason: DecodeFailureReason, error: string, bytes: Buffer) =>
      void seen.dead.push({ reason, error, bytes, value: deadLetterValue(reason, error, { topic: 'events', partition: 0, offset: '7' }, bytes, limits) }),
  }
  return { seen, ingest: (value: Buffer | null) => ingestRecord(value, ctx, outcomes) }
}

/** Bytes that are hard on a dead letter: one character repeated (`"`, `\\`, a control byte, a multi-byte one) up to the topic's limit. */
const repeated = fc
  .tuple(fc.constantFrom('"', '\\', '\u0001', '\u0000', 'é', '\u2028', '{', '\n', ' ', '\ud83d\ude00'), fc.integer({ min: 1, max: TOPIC_LIMIT }))
  .map(([c, n]) => {
    const one = Buffer.from(c, 'utf8')
    return Buffer.alloc(n - (n % one.length) || one.length, one)
  })
const arbitraryBytes = fc.uint8Array({ maxLength: 4096 }).map((a) => Buffer.from(a))
const jsonish = fc
  .array(fc.oneof(fc.json(), fc.constantFrom('#fields\tts', '\t', '', '{"deviceId":"x"}', 'null')), { maxLength: 8 })
  .map((parts) => Buffer.from(parts.join('\n')))
const hostile = fc.oneof(repeated, arbitraryBytes, jsonish)

describe('a Kafka record', () => {
  it('of any bytes up to the topic limit decodes, skips or becomes a dead letter that fits its topic, and the shard takes the next event', () => {
    fc.assert(
      fc.property(hostile, fc.integer({ min: MIN_DEAD_LETTER_BYTES + 1024, max: TOPIC_LIMIT }), (bytes, dlqLimit) => {
        const { seen, ingest } = shard(dlqLimit)
        ingest(bytes)
        for (const d of seen.dead) {
          expect(Buffer.byteLength(d.value)).toBeLessThanOrEqual(dlqLimit - 1024)
          const letter = JSON.parse(d.value) as { reason: string; rawBytes: number; rawSha256: string }
          expect(REASONS).toContain(letter.reason)
          expect(letter.rawBytes).toBe(d.bytes.length)
          expect(letter.rawSha256).toBe(createHash('sha256').update(d.bytes).digest('hex'))
        }
        const before = seen.accepted
        ingest(valid('after-the-storm', T0 + 3_600_000))
        expect(seen.accepted).toBe(before + 1)
      }),
      { numRuns: 150 },
    )
  })

  it('above input.maxRecordBytes is a too_large dead letter before anything reads it', () => {
    const { seen, ingest } = shard()
    const bytes = Buffer.alloc(config.input.maxRecordBytes + 1, '"')
    ingest(bytes)
    expect(seen.dead.map((d) => [d.reason, d.error])).toEqual([['too_large', 'record of 262145 bytes exceeds input.maxRecordBytes (262144)']])
    const letter = JSON.parse(seen.dead[0]!.value) as { raw: string; rawTruncated: boolean }
    expect([letter.raw.length, letter.rawTruncated]).toEqual([config.input.deadLetterRawBytes, true])
  })

  it('is decoded on its own: a #fields record is a skipped header and does not make a later TSV row decodable', () => {
    const { seen, ingest } = shard()
    ingest(Buffer.from('#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\torig_ip_bytes'))
    ingest(Buffer.from('1795563420.1\tC1\t192.168.1.20\t5000\t203.0.113.5\t25\ttcp\t399'))
    ingest(Buffer.from('  \t '))
    ingest(Buffer.from('{"event_type":"purge_init","seq":1}'))
    expect(seen.skipped).toEqual(['header', 'blank', 'marker'])
    expect(seen.dead.map((d) => d.reason)).toEqual(['unknown_format'])
    expect(seen.dead[0]!.error).toMatch(/^a tab-separated row: records are decoded one by one/)
  })

  it('holding several lines gives each line its own outcome, a failing line its own bytes in its dead letter', () => {
    const { seen, ingest } = shard()
    ingest(Buffer.concat([valid('a'), Buffer.from('\n\nnot json\n'), valid('b'), Buffer.from('\n')]))
    expect(seen.accepted).toBe(2)
    expect(seen.skipped).toEqual(['blank'])
    expect(seen.dead.map((d) => [d.reason, d.bytes.toString()])).toEqual([['invalid_json', 'not json']])
  })

  it('of many failing lines gives dead letters to the first 64 and one of the whole record for the rest', () => {
    const { seen, ingest } = shard()
    const record = Buffer.from('x\n'.repeat(1000))
    ingest(record)
    expect(seen.dead).toHaveLength(65)
    expect(seen.dead.slice(0, 64).every((d) => d.reason === 'invalid_json' && d.bytes.toString() === 'x')).toBe(true)
    expect(seen.dead[64]!.reason).toBe('too_many_errors')
    expect(seen.dead[64]!.error).toBe('1000 of the record\'s 1000 lines failed: the first 64 have dead letters of their own')
    expect(seen.dead[64]!.bytes).toBe(record)
    // The newline that ends the last line is no blank line.
    expect(seen.skipped).toEqual([])
  })

  it('gives a failing line of a record of several its own original bytes, invalid UTF-8 included', () => {
    const { seen, ingest } = shard()
    const bad = Buffer.from([0x7b, 0xff, 0xfe, 0x7d])
    ingest(Buffer.concat([valid('a'), Buffer.from('\n'), bad, Buffer.from('\n')]))
    expect(seen.dead.map((d) => d.bytes)).toEqual([bad])
    const letter = JSON.parse(seen.dead[0]!.value) as { raw: string; rawEncoding: string }
    expect([letter.raw, letter.rawEncoding]).toEqual([bad.toString('base64'), 'base64'])
  })

  it('dated past engine.maxFutureSeconds of the wall clock is a ts_future dead letter and moves no clock', () => {
    const { seen, ingest } = shard()
    ingest(valid('d', T0 + 86_400_000 + 301_000))
    ingest(valid('d', T0))
    expect(seen.dead.map((d) => d.reason)).toEqual(['ts_future'])
    expect(seen.dead[0]!.error).toMatch(/^ts: 2026-11-03T00:05:01\.000Z is 301 s ahead of the clock \(2026-11-03T00:00:00\.000Z\); engine\.maxFutureSeconds is 300$/)
    expect([seen.accepted, seen.late]).toEqual([1, 0])
  })

  it('from a device whose clock runs ahead within engine.maxFutureSeconds does not make other devices\' events late', () => {
    const { seen, ingest } = shard()
    const now = T0 + 86_400_000
    // Four minutes ahead, crossing an epoch's end (10 min) by more than the lateness (60 s) ...
    ingest(valid('skewed', now - 120_000 + 240_000))
    // ... while the others' flows of the last two minutes are still arriving, in time by the wall clock.
    ingest(valid('a', now - 110_000))
    ingest(valid('b', now - 70_000))
    expect(seen.dead).toEqual([])
    expect([seen.accepted, seen.late]).toEqual([3, 0])
  })
})

describe('sendRecords', () => {
  it('keeps each topic part of a request under that topic\'s max.message.bytes', async () => {
    const requests: ProducerBatch[] = []
    const sender = {
      sendBatch: async (b: ProducerBatch) => {
        requests.push(b)
        return []
      },
    }
    const dead: OutRecord[] = Array.from({ length: 10 }, (_, i) => ({ key: null, value: 'x'.repeat(20_000 + i) }))
    const alerts: OutRecord[] = [{ key: 'a', value: 'y'.repeat(100) }]
    await sendRecords(sender, [{ topic: 'alerts', records: alerts }, { topic: 'dlq', records: dead }], new Map([['dlq', 65_536]]))
    const dlqParts = requests.flatMap((r) => r.topicMessages!.filter((t) => t.topic === 'dlq'))
    expect(dlqParts.map((t) => t.messages.length)).toEqual([3, 3, 3, 1])
    expect(dlqParts.flatMap((t) => t.messages.map((m) => m.value))).toEqual(dead.map((d) => d.value))
  })
})
