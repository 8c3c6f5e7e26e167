// The one place kafkajs is configured: brokers from flags or KAFKA_BROKERS, client id, Java-compatible partitioning, quiet logs.
import { Kafka, Partitioners, logLevel } from 'kafkajs'
import type { LogEntry, Producer } from 'kafkajs'
import { AppError } from '../errors.ts'

export interface KafkaSettings {
  readonly brokers: readonly string[]
  readonly clientId: string
}

/** `host:port[,host:port…]` from a flag, else from KAFKA_BROKERS; a usage error naming the source otherwise. */
export const parseBrokers = (flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string[] => {
  const source = flag !== undefined ? '--brokers' : 'KAFKA_BROKERS'
  const text = flag ?? env.KAFKA_BROKERS
  if (text === undefined || text.trim() === '') {
    throw new AppError('EGD_USAGE', 'no Kafka brokers: pass --brokers host:port or set KAFKA_BROKERS')
  }
  const brokers = text.split(',').map((b) => b.trim())
  for (const b of brokers) {
    if (!/^[^\s:[\]]+:\d{1,5}$/.test(b) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(b)) {
      throw new AppError('EGD_USAGE', `${source}: expected host:port[,host:port…], got "${b}"`)
    }
  }
  return brokers
}

/**
 * kafkajs logs warnings and errors as one short line on stderr (never payloads or credentials).
 * Error responses it retries on its own (a coordinator still loading) are left out: a failure
 * that outlasts the retries reaches the caller as an exception anyway.
 */
const stderrLog = () => (entry: LogEntry) => {
  const { namespace, label, log } = entry
  if (namespace === 'Connection' && log.message.startsWith('Response ')) return
  const error = typeof log.error === 'string' ? `: ${log.error}` : ''
  process.stderr.write(`kafkajs ${label.toLowerCase()} [${namespace}] ${log.message}${error}\n`)
}

export const createKafka = (settings: KafkaSettings): Kafka =>
  new Kafka({
    clientId: settings.clientId,
    brokers: [...settings.brokers],
    logLevel: logLevel.WARN,
    logCreator: stderrLog,
    connectionTimeout: 5_000,
    retry: { retries: 5 },
  })

/**
 * An idempotent producer (no duplicates, order kept) that is acknowledged only when every in-sync
 * replica has the batch. Idempotence needs unlimited retries of a send; connecting still fails fast.
 */
export const createProducer = (kafka: Kafka): Producer =>
  kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    retry: { retries: Number.MAX_SAFE_INTEGER },
    createPartitioner: Partitioners.DefaultPartitioner,
  })

/** Fails with a message naming the topic when it does not exist (topics are never created implicitly). */
export const requireTopics = async (kafka: Kafka, topics: readonly string[]): Promise<void> => {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const existing = new Set(await admin.listTopics())
    const missing = topics.filter((t) => !existing.has(t))
    if (missing.length > 0) {
      const names = missing.map((t) => `"${t}"`).join(', ')
      throw new AppError('EGD_KAFKA', `topic ${names} not found on the brokers: create it first (egress-sentinel never creates topics)`)
    }
  } finally {
    await admin.disconnect()
  }
}
