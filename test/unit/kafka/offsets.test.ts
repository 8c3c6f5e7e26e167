// kafkajs as patched (patches/kafkajs+2.2.4.patch): a record's offset and timestamp are its batch's base plus a delta, in numbers where that is exact, and the same strings as BigInt arithmetic everywhere.
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'

const require = createRequire(import.meta.url)
interface KafkaRecord { offset: string; timestamp: string; value: Buffer }
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as { RecordBatch: (b: object) => Promise<{ buffer: Buffer }> }
const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (r: object) => unknown
const Decoder = require('kafkajs/src/protocol/decoder') as new (b: Buffer) => unknown
const decodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (d: unknown) => Promise<{ records: KafkaRecord[] }>
const Batch = require('kafkajs/src/consumer/batch') as new (topic: string, fetched: string, data: object) => { messages: { offset: string }[] }

const SAFE = 2n ** 53n
/** Offset deltas and timestamp deltas of the records of each batch (a delta past 2^32 and a negative one among them). */
const DELTAS: readonly (readonly [number, number])[] = [[0, 0], [1, 1000], [7, -5], [300, 2 ** 33], [70_000, 2 ** 40]]

const decoded = async (firstOffset: bigint, firstTimestamp: bigint): Promise<KafkaRecord[]> => {
  const records = DELTAS.map(([offsetDelta, timestampDelta]) => Record({ offsetDelta, timestampDelta, key: null, value: Buffer.from('v'), headers: {} }))
  // The encoder writes its 64-bit fields from numbers or strings (as BigInt).
  const batch = await RecordBatch({ firstOffset: firstOffset.toString(), firstTimestamp: firstTimestamp.toString(), maxTimestamp: firstTimestamp.toString(), records })
  return (await decodeBatch(new Decoder(batch.buffer))).records
}

describe('kafkajs record offsets and timestamps (patched for speed)', () => {
  for (const offset of [0n, 12_345n, 2n ** 40n, SAFE - 10n, SAFE + 3n, 2n ** 62n, -1n]) {
    for (const ts of [0n, 1_793_577_600_005n, -1n, SAFE - 5n]) {
      it(`gives a batch at offset ${offset} and time ${ts} the offsets and timestamps of 64-bit arithmetic`, async () => {
        const records = await decoded(offset, ts)
        expect(records.map((r) => [r.offset, r.timestamp])).toEqual(DELTAS.map(([o, t]) => [String(offset + BigInt(o)), String(ts + BigInt(t))]))
      })
    }
  }

  it('keeps the messages at or past the fetched offset, whether or not the offsets are safe integers', () => {
    const offsets = ['0', '4', '5', '6', String(SAFE - 1n), String(SAFE), String(SAFE + 1n), String(SAFE + 2n), '100000000000000000000']
    const kept = (fetched: string): string[] =>
      new Batch('t', fetched, { partition: 0, highWatermark: '0', abortedTransactions: [], messages: offsets.map((offset) => ({ offset, isControlRecord: false })) }).messages.map((m) => m.offset)
    for (const fetched of ['0', '5', String(SAFE - 3n), String(SAFE + 1n), '-1', '18446744073709551615']) {
      expect(kept(fetched), fetched).toEqual(offsets.filter((o) => BigInt(o) >= BigInt(fetched)))
    }
  })
})
