// produceFiles without a broker: what it sends (a fake producer records it) and what it counts; an over-long line is counted, not sent.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Producer, ProducerRecord } from 'kafkajs'
import { afterAll, describe, expect, it } from 'vitest'
import { produceFiles } from '../../../src/kafka/produce.ts'
import { DEFAULT_MAX_LINE_BYTES } from '../../../src/sources/file.ts'
import { at, egress } from '../../helpers/events.ts'

/** An event's JSON padded with whitespace (still valid JSON, still decodable) to `bytes` bytes. */
const padded = (deviceId: string, bytes: number): string => {
  const json = JSON.stringify(egress({ ts: at(0), deviceId }))
  return `{${' '.repeat(bytes - json.length)}${json.slice(1)}`
}

const dir = mkdtempSync(join(tmpdir(), 'egress-produce-unit-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** produceFiles only calls `send`: this one records each batch. */
const fakeProducer = (): { producer: Producer; sent: ProducerRecord[] } => {
  const sent: ProducerRecord[] = []
  const producer = { send: async (record: ProducerRecord) => void sent.push(record) } as unknown as Producer
  return { producer, sent }
}

describe('produceFiles', () => {
  it('does not send a line over maxLineBytes, counts it as oversize and goes on; blank lines are skipped, an undecodable line goes with a null key', async () => {
    const a = JSON.stringify(egress({ ts: at(0), deviceId: 'dev-a' }))
    const b = JSON.stringify(egress({ ts: at(1), deviceId: 'dev-b' }))
    const long = padded('dev-c', 1001)
    const path = join(dir, 'mixed.ndjson')
    writeFileSync(path, `${a}\n\n${long}\n{"deviceId": \n${b}\n`)
    const { producer, sent } = fakeProducer()
    const summary = await produceFiles({ producer, topic: 'events', inputs: [path], format: 'auto', speed: 0, maxLineBytes: 1000 })
    expect(summary).toEqual({ records: 3, undecodable: 1, oversize: 1, batches: 1 })
    expect(sent).toEqual([
      { topic: 'events', acks: -1, messages: [{ key: 'dev-a', value: a }, { key: null, value: '{"deviceId": ' }, { key: 'dev-b', value: b }] },
    ])
  })

  it('bounds lines at DEFAULT_MAX_LINE_BYTES (256 KiB) when maxLineBytes is not given', async () => {
    const fits = padded('dev-a', DEFAULT_MAX_LINE_BYTES)
    const over = padded('dev-b', DEFAULT_MAX_LINE_BYTES + 1)
    const path = join(dir, 'default.ndjson')
    writeFileSync(path, `${fits}\n${over}\n`)
    const { producer, sent } = fakeProducer()
    const summary = await produceFiles({ producer, topic: 'events', inputs: [path], format: 'auto', speed: 0 })
    expect(summary).toEqual({ records: 1, undecodable: 0, oversize: 1, batches: 1 })
    expect(sent.flatMap((r) => r.messages)).toEqual([{ key: 'dev-a', value: fits }])
  })

  it('sends a Zeek TSV dns.log row as the canonical dns record it decodes to, its TTL as ttl, and splits records written back to back', async () => {
    const path = join(dir, 'dns.log')
    const a = JSON.stringify(egress({ ts: at(0), deviceId: 'dev-a' }))
    writeFileSync(path, [
      '#separator \\x09',
      '#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\tanswers\tTTLs',
      '1615471020.500000\tCdNs1\t192.168.1.122\t51234\t192.168.1.1\t53\tudp\texample.com\t93.184.216.34\t60.000000',
    ].join('\n') + '\n')
    const glued = join(dir, 'glued.ndjson')
    writeFileSync(glued, `${a}${a}\n`)
    const { producer, sent } = fakeProducer()
    await produceFiles({ producer, topic: 'events', inputs: [path, glued], format: 'auto', speed: 0 })
    const messages = sent.flatMap((r) => r.messages)
    expect(messages.map((m) => m.key)).toEqual(['192.168.1.122', 'dev-a', 'dev-a'])
    expect(JSON.parse(messages[0]!.value as string)).toEqual({ type: 'dns', ts: 1615471020500, deviceId: '192.168.1.122', srcIp: '192.168.1.122', query: 'example.com', answers: ['93.184.216.34'], ttl: 60 })
    expect(messages.slice(1).map((m) => m.value)).toEqual([a, a])
  })
})
