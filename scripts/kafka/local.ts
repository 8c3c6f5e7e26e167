// Node's handle on scripts/kafka-local.sh: use the broker KAFKA_BROKERS names, or start a local one and say whether to stop it after.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

/** From scripts/kafka/ (sources) or dist/scripts/kafka/ (built): the script lives at the repository's scripts/. */
const script = (): string => {
  const here = fileURLToPath(new URL('.', import.meta.url))
  return here.includes('/dist/scripts/') ? fileURLToPath(new URL('../../../scripts/kafka-local.sh', import.meta.url)) : fileURLToPath(new URL('../kafka-local.sh', import.meta.url))
}

const run = (...args: string[]) => promisify(execFile)('bash', [script(), ...args], { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 })

/** The value of `NAME=value` among the script's output lines, or ''. */
const valueOf = (stdout: string, name: string): string => stdout.split('\n').find((l) => l.startsWith(`${name}=`))?.slice(name.length + 1) ?? ''

export interface LocalKafka {
  readonly brokers: string
  /** The SASL_PLAINTEXT listener with SCRAM, or '' when the broker has none. */
  readonly scramBrokers: string
  /** The SASL_SSL listener (SCRAM over TLS) and the PEM file of its certificate, or '' when the broker has none. */
  readonly tlsBrokers: string
  readonly tlsCaFile: string
  /** Stops the broker if it was started here; a broker that was already running is left running. */
  stop(): Promise<void>
}

/** KAFKA_BROKERS (and KAFKA_SCRAM_BROKERS, KAFKA_TLS_BROKERS, KAFKA_TLS_CA_FILE) when set; else the local broker, started (with `scram`) if it is not running. */
export const localKafka = async (options: { scram?: boolean } = {}): Promise<LocalKafka> => {
  const preset = process.env.KAFKA_BROKERS
  if (preset !== undefined && preset !== '') {
    const env = (name: string): string => process.env[name] ?? ''
    return { brokers: preset, scramBrokers: env('KAFKA_SCRAM_BROKERS'), tlsBrokers: env('KAFKA_TLS_BROKERS'), tlsCaFile: env('KAFKA_TLS_CA_FILE'), stop: async () => {} }
  }
  // A running broker is used as it is: asking it for a SCRAM listener it lacks would be refused.
  const running = await run('status').then(() => true, () => false)
  const { stdout } = await run(...(running || options.scram !== true ? ['start'] : ['start', '--scram']))
  const brokers = valueOf(stdout, 'KAFKA_BROKERS')
  if (brokers === '') throw new Error(`kafka-local.sh start printed no KAFKA_BROKERS line:\n${stdout}`)
  return {
    brokers,
    scramBrokers: valueOf(stdout, 'KAFKA_SCRAM_BROKERS'),
    tlsBrokers: valueOf(stdout, 'KAFKA_TLS_BROKERS'),
    tlsCaFile: valueOf(stdout, 'KAFKA_TLS_CA_FILE'),
    stop: async () => void (running ? undefined : await run('stop')),
  }
}
