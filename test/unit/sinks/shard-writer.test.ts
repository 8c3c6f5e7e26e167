// A shard's transaction asks for its offsets again while the coordinator still ends its previous transaction, and fails at once on anything else.
import { describe, expect, it } from 'vitest'
import type { Kafka } from 'kafkajs'
import { shardWriter } from '../../../src/sinks/kafka.ts'

/** A Kafka client whose transactions refuse `sendOffsets` with `errors` in turn, then take it; what they were asked is logged. */
const fakeKafka = (errors: Error[]) => {
  const log: string[] = []
  const producer = {
    connect: async () => undefined,
    disconnect: async () => undefined,
    transaction: async () => ({
      sendOffsets: async () => {
        log.push('offsets')
        const err = errors.shift()
        if (err !== undefined) throw err
      },
      sendBatch: async () => [],
      commit: async () => void log.push('commit'),
      abort: async () => void log.push('abort'),
    }),
  }
  return { kafka: { producer: () => producer } as unknown as Kafka, log }
}

const protocolError = (type: string): Error => Object.assign(new Error(type), { type })
const consumed = [{ groupId: 'g', topic: 'events', partition: 0, offset: '10' }]

describe('shard writer', () => {
  it("asks for a transaction's offsets again while the coordinator still ends the previous transaction, then commits", async () => {
    const { kafka, log } = fakeKafka([protocolError('CONCURRENT_TRANSACTIONS'), protocolError('CONCURRENT_TRANSACTIONS')])
    await shardWriter(kafka, 't').commit([], consumed)
    expect(log).toEqual(['offsets', 'offsets', 'offsets', 'commit'])
  })

  it('aborts at once on any other refusal, and after a few refusals of the same kind', async () => {
    const other = fakeKafka([protocolError('PRODUCER_FENCED')])
    await expect(shardWriter(other.kafka, 't').commit([], consumed)).rejects.toThrow('PRODUCER_FENCED')
    expect(other.log).toEqual(['offsets', 'abort'])
    const busy = fakeKafka(Array.from({ length: 10 }, () => protocolError('CONCURRENT_TRANSACTIONS')))
    await expect(shardWriter(busy.kafka, 't').commit([], consumed)).rejects.toThrow('CONCURRENT_TRANSACTIONS')
    expect(busy.log).toEqual([...Array.from({ length: 7 }, () => 'offsets'), 'abort'])
  })
})
