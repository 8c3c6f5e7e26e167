// A test file's clients of the suite's broker: a kafkajs client, an admin and a producer, connected before its tests and closed after.
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll, inject } from 'vitest'

/** Call at a test file's top level: the hooks connect and disconnect around its tests. */
export const brokerClients = (clientId: string) => {
  const brokers = inject('kafkaBrokers')
  const kafka = new Kafka({ clientId, brokers: [brokers], logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  const producer = kafka.producer()
  beforeAll(async () => {
    await Promise.all([admin.connect(), producer.connect()])
  })
  afterAll(async () => {
    await Promise.all([admin.disconnect(), producer.disconnect()])
  })
  return { brokers, kafka, admin, producer }
}
