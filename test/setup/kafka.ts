// Global setup of the integration project: one real Kafka broker for the whole suite (scripts/kafka-local.sh), unless KAFKA_BROKERS names one.
import type { TestProject } from 'vitest/node'
import { localKafka } from '../../scripts/kafka/local.ts'
import type { LocalKafka } from '../../scripts/kafka/local.ts'

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string
    /** The SASL_PLAINTEXT listener with SCRAM (user sentinel), or '' when the broker has none. */
    kafkaScramBrokers: string
    /** The SASL_SSL listener (the same user over TLS) and the PEM of its self-signed certificate, or '' when none. */
    kafkaTlsBrokers: string
    kafkaTlsCaFile: string
  }
}

let kafka: LocalKafka | null = null

export const setup = async (project: TestProject): Promise<void> => {
  // A broker started here has the SCRAM and SCRAM-over-TLS listeners too, and is stopped after.
  kafka = await localKafka({ scram: true })
  project.provide('kafkaBrokers', kafka.brokers)
  project.provide('kafkaScramBrokers', kafka.scramBrokers)
  project.provide('kafkaTlsBrokers', kafka.tlsBrokers)
  project.provide('kafkaTlsCaFile', kafka.tlsCaFile)
}

export const teardown = async (): Promise<void> => {
  await kafka?.stop()
}
