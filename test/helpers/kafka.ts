// Reading a topic in integration tests: from the beginning, in a group of its own, until the test has what it waits for.
import { randomUUID } from 'node:crypto'
import type { Kafka } from 'kafkajs'
import { readToEnd } from '../../src/kafka/read.ts'

export interface Read {
  readonly partition: number
  readonly key: string | null
  readonly value: string
}

/** Reads `topic` from the beginning until `done` says enough, or fails after a minute. */
export const readTopic = async (kafka: Kafka, topic: string, done: (records: readonly Read[]) => boolean): Promise<Read[]> => {
  const consumer = kafka.consumer({ groupId: `reader-${randomUUID()}` })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const records: Read[] = []
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`gave up after reading ${records.length} records of ${topic}`)), 60_000)
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          records.push({ partition, key: message.key?.toString() ?? null, value: message.value?.toString() ?? '' })
          if (done(records)) {
            clearTimeout(timer)
            resolve()
          }
        },
      })
    })
  } finally {
    await consumer.disconnect()
  }
  return records
}

/** Every committed record of `topic`, from the beginning to where it ends now. */
export const readAll = async (kafka: Kafka, topic: string): Promise<Read[]> => {
  const records: Read[] = []
  await readToEnd({
    kafka,
    topic,
    groupPrefix: 'reader',
    timeoutMs: 60_000,
    onMessage: (m, partition) => records.push({ partition, key: m.key?.toString() ?? null, value: m.value?.toString() ?? '' }),
  })
  return records
}
