// Reading what transactions left, against the real broker: a read_committed reader never gets a record of an aborted transaction.
import { randomUUID } from 'node:crypto'
import { Kafka, logLevel } from 'kafkajs'
import type { Producer } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { readToEnd } from '../../src/kafka/read.ts'
import { createTopics } from '../../scripts/kafka/topics.ts'

const brokers = inject('kafkaBrokers')
const kafka = new Kafka({ clientId: 'transactions-test', brokers: [brokers], logLevel: logLevel.NOTHING })
const admin = kafka.admin()

beforeAll(async () => {
  await admin.connect()
})
afterAll(async () => {
  await admin.disconnect()
})

const transactional = async (): Promise<Producer> => {
  const producer = kafka.producer({ transactionalId: `tx-${randomUUID()}`, idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  return producer
}

describe('records of aborted transactions', () => {
  // The broker lists a fetch's aborted transactions in the order they ended, not the order they
  // began: a shard fenced by its new owner (its open transaction aborted late) lists after one that
  // began later and aborted first. kafkajs 2.2.4 took the list as sorted by first offset and handed
  // over the records of the transaction that began first (patches/kafkajs+2.2.4.patch).
  it('are never read, whatever order the aborted transactions ended in', async () => {
    const topic = `transactions-${randomUUID()}`
    await createTopics(admin, [{ topic, numPartitions: 1 }])
    const [early, late, after] = [await transactional(), await transactional(), await transactional()]
    try {
      const begunFirst = await early.transaction()
      await begunFirst.send({ topic, acks: -1, messages: [{ value: 'aborted, begun first' }] })
      const begunSecond = await late.transaction()
      await begunSecond.send({ topic, acks: -1, messages: [{ value: 'aborted, begun second' }] })
      await begunSecond.abort()
      await begunFirst.abort()
      const committed = await after.transaction()
      await committed.send({ topic, acks: -1, messages: [{ value: 'committed' }] })
      await committed.commit()
    } finally {
      await Promise.all([early.disconnect(), late.disconnect(), after.disconnect()])
    }
    const read: string[] = []
    await readToEnd({ kafka, topic, groupPrefix: 'transactions-test', timeoutMs: 30_000, onMessage: (m) => read.push(m.value!.toString()) })
    expect(read).toEqual(['committed'])
  })
})
