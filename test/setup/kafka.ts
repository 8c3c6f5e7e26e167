// Global setup of the integration project: one real Kafka broker for the whole suite (scripts/kafka-local.sh), unless KAFKA_BROKERS names one.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string
  }
}

const SCRIPT = fileURLToPath(new URL('../../scripts/kafka-local.sh', import.meta.url))
const run = (command: string) => promisify(execFile)('bash', [SCRIPT, command], { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 })

let startedHere = false

export const setup = async (project: TestProject): Promise<void> => {
  let brokers = process.env.KAFKA_BROKERS
  if (brokers === undefined || brokers === '') {
    // A broker the developer already runs is used and left running; one started here is stopped after.
    const running = await run('status').then(() => true, () => false)
    const { stdout } = await run('start')
    const last = stdout.trim().split('\n').at(-1) ?? ''
    if (!last.startsWith('KAFKA_BROKERS=')) throw new Error(`kafka-local.sh start printed no KAFKA_BROKERS line:\n${stdout}`)
    brokers = last.slice('KAFKA_BROKERS='.length)
    startedHere = !running
  }
  project.provide('kafkaBrokers', brokers)
}

export const teardown = async (): Promise<void> => {
  if (startedHere) await run('stop')
}
