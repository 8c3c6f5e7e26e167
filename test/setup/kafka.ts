// Global setup of the integration project: one real Kafka broker for the whole suite (scripts/kafka-local.sh), unless KAFKA_BROKERS names one.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string
    /** The SASL_PLAINTEXT listener with SCRAM (user sentinel), or '' when the broker has none. */
    kafkaScramBrokers: string
  }
}

const SCRIPT = fileURLToPath(new URL('../../scripts/kafka-local.sh', import.meta.url))
const run = (...args: string[]) => promisify(execFile)('bash', [SCRIPT, ...args], { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 })

/** The value of `NAME=value` among a script's output lines, or ''. */
const valueOf = (stdout: string, name: string): string => stdout.split('\n').find((l) => l.startsWith(`${name}=`))?.slice(name.length + 1) ?? ''

let startedHere = false

export const setup = async (project: TestProject): Promise<void> => {
  let brokers = process.env.KAFKA_BROKERS
  let scram = process.env.KAFKA_SCRAM_BROKERS ?? ''
  if (brokers === undefined || brokers === '') {
    // A broker the developer already runs is used as it is and left running; one started here has
    // the SCRAM listener too, and is stopped after.
    const running = await run('status').then(() => true, () => false)
    const { stdout } = await run(...(running ? ['start'] : ['start', '--scram']))
    brokers = valueOf(stdout, 'KAFKA_BROKERS')
    if (brokers === '') throw new Error(`kafka-local.sh start printed no KAFKA_BROKERS line:\n${stdout}`)
    scram = valueOf(stdout, 'KAFKA_SCRAM_BROKERS')
    startedHere = !running
  }
  project.provide('kafkaScramBrokers', scram)
  project.provide('kafkaBrokers', brokers)
}

export const teardown = async (): Promise<void> => {
  if (startedHere) await run('stop')
}
