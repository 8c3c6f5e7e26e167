// The one place kafkajs is configured: brokers, TLS and SASL from flags or the environment, Java-compatible partitioning, quiet logs.
import { readFileSync } from 'node:fs'
import kafkajs, { Kafka, Partitioners, logLevel } from 'kafkajs'
import type { ConsumerConfig, LogEntry, Producer, SASLOptions } from 'kafkajs'
import { z } from 'zod'
import { AppError } from '../errors.ts'
import { requireAbortedFilter } from './aborted.ts'
import { logger, logLevelOf } from '../log.ts'
import type { Logger } from '../log.ts'

/** How the client authenticates: TLS (with an optional CA bundle) and SASL PLAIN or SCRAM. */
export interface KafkaSecurity {
  readonly tls: boolean
  readonly caFile: string | undefined
  readonly sasl: { readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; readonly username: string; readonly password: string } | undefined
}

export interface KafkaSettings {
  readonly brokers: readonly string[]
  readonly clientId: string
  readonly security?: KafkaSecurity | undefined
}

const securityEnv = z.strictObject({
  KAFKA_TLS: z.enum(['true', 'false', '1', '0']).optional(),
  KAFKA_TLS_CA_FILE: z.string().min(1).optional(),
  KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512'], { error: 'expected plain, scram-sha-256 or scram-sha-512' }).optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD_FILE: z.string().min(1).optional(),
})

/**
 * TLS and SASL settings from KAFKA_TLS, KAFKA_TLS_CA_FILE, KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME
 * and KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE). Errors name the variable, never its value.
 */
export const kafkaSecurity = (env: NodeJS.ProcessEnv = process.env): KafkaSecurity => {
  const pick = (name: keyof z.input<typeof securityEnv>): string | undefined => (env[name] === undefined || env[name] === '' ? undefined : env[name])
  const r = securityEnv.safeParse({
    KAFKA_TLS: pick('KAFKA_TLS')?.toLowerCase(),
    KAFKA_TLS_CA_FILE: pick('KAFKA_TLS_CA_FILE'),
    KAFKA_SASL_MECHANISM: pick('KAFKA_SASL_MECHANISM')?.toLowerCase(),
    KAFKA_SASL_USERNAME: pick('KAFKA_SASL_USERNAME'),
    KAFKA_SASL_PASSWORD: pick('KAFKA_SASL_PASSWORD'),
    KAFKA_SASL_PASSWORD_FILE: pick('KAFKA_SASL_PASSWORD_FILE'),
  })
  if (!r.success) {
    throw new AppError('EGD_USAGE', `invalid Kafka security settings:\n${r.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`)
  }
  const e = r.data
  let sasl: KafkaSecurity['sasl']
  if (e.KAFKA_SASL_MECHANISM !== undefined) {
    if (e.KAFKA_SASL_USERNAME === undefined) throw new AppError('EGD_USAGE', 'KAFKA_SASL_USERNAME: required with KAFKA_SASL_MECHANISM')
    let password = e.KAFKA_SASL_PASSWORD
    if (password === undefined && e.KAFKA_SASL_PASSWORD_FILE !== undefined) {
      try {
        password = readFileSync(e.KAFKA_SASL_PASSWORD_FILE, 'utf8').trim()
      } catch (err) {
        throw new AppError('EGD_USAGE', `KAFKA_SASL_PASSWORD_FILE: cannot read ${e.KAFKA_SASL_PASSWORD_FILE}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
      }
    }
    if (password === undefined || password === '') throw new AppError('EGD_USAGE', 'KAFKA_SASL_PASSWORD: required with KAFKA_SASL_MECHANISM (or KAFKA_SASL_PASSWORD_FILE)')
    sasl = { mechanism: e.KAFKA_SASL_MECHANISM, username: e.KAFKA_SASL_USERNAME, password }
  }
  return { tls: e.KAFKA_TLS === 'true' || e.KAFKA_TLS === '1' || e.KAFKA_TLS_CA_FILE !== undefined, caFile: e.KAFKA_TLS_CA_FILE, sasl }
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
 * kafkajs' log through the command's logger (never payloads or credentials), at most as warnings:
 * what kafkajs reports as an error it also retries (a connection closed under a request at a
 * rebalance, a coordinator still loading, a transaction still ending), and a failure that outlasts
 * its retries reaches our code as an exception, which says so as an error. Its info and its
 * retried noise (a response for a request already gone, a write on a closed connection, a send
 * while the coordinator still ends the previous transaction) are debug.
 */
const NOISE = [
  /^Response /, /^Connection error: write after end/, /^Response without match/,
  // CONCURRENT_TRANSACTIONS: the coordinator still ends the shard's previous transaction; the send is retried.
  /^Failed to send messages: The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing/,
]
export const kafkaLog = (log: Logger) => () => (entry: LogEntry) => {
  const { namespace, label, log: e } = entry
  const error = typeof e.error === 'string' ? `: ${e.error}` : ''
  const line = `kafkajs [${namespace}] ${e.message}${error}`
  if ((label === 'ERROR' || label === 'WARN') && !NOISE.some((n) => n.test(e.message))) log.warn(line)
  else log.debug(line)
}

export const createKafka = (settings: KafkaSettings): Kafka => {
  requireAbortedFilter()
  const level = logLevelOf()
  const sec = settings.security
  let ssl: boolean | { ca: string[] } = false
  if (sec?.tls) {
    try {
      ssl = sec.caFile === undefined ? true : { ca: [readFileSync(sec.caFile, 'utf8')] }
    } catch (err) {
      throw new AppError('EGD_USAGE', `KAFKA_TLS_CA_FILE: cannot read ${sec.caFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
    }
  }
  return new Kafka({
    clientId: settings.clientId,
    brokers: [...settings.brokers],
    ssl,
    ...(sec?.sasl === undefined ? {} : { sasl: { ...sec.sasl } as SASLOptions }),
    // kafkajs' info is our debug: it is asked for its info lines only then.
    logLevel: level === 'debug' ? logLevel.INFO : logLevel.WARN,
    logCreator: kafkaLog(logger()),
    connectionTimeout: 5_000,
    retry: { retries: 5 },
  })
}

/**
 * Runs a first call against the brokers, turning kafkajs' connection and authentication failures into
 * errors that say what to check (the user and mechanism, never the password).
 */
export const explainConnect = async <T>(settings: KafkaSettings, call: () => Promise<T>): Promise<T> => {
  try {
    return await call()
  } catch (err) {
    const name = (err as Error).name
    const sasl = settings.security?.sasl
    if (name === 'KafkaJSSASLAuthenticationError' || name === 'KafkaJSAuthenticationError') {
      throw new AppError('EGD_KAFKA', `Kafka authentication failed for user "${sasl?.username ?? '?'}" with ${sasl?.mechanism ?? 'SASL'} at ${settings.brokers.join(',')}: check KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD`, { cause: err })
    }
    if ((err as { type?: unknown }).type === 'UNSUPPORTED_SASL_MECHANISM' || /SASL mechanism/i.test((err as Error).message)) {
      throw new AppError('EGD_KAFKA', `the Kafka brokers at ${settings.brokers.join(',')} do not accept SASL mechanism ${sasl?.mechanism ?? '(none)'}: check KAFKA_SASL_MECHANISM`, { cause: err })
    }
    if (name === 'KafkaJSConnectionError' || name === 'KafkaJSNonRetriableError' || name === 'KafkaJSNumberOfRetriesExceeded') {
      const message = (err as Error).message
      // A certificate the client refuses is a setting to fix; a broker that does not answer may answer later.
      const certificate = /certificate/i.test(message)
      const hint = certificate ? ' (KAFKA_TLS_CA_FILE names the PEM of the CA that signed the brokers\' certificates)' : ''
      throw new AppError(certificate ? 'EGD_KAFKA' : 'EGD_KAFKA_UNREACHABLE', `cannot reach the Kafka brokers at ${settings.brokers.join(',')}: ${message}${hint}`, { cause: err })
    }
    // Any other refusal of the brokers is said in a line, not a stack trace.
    if (name.startsWith('KafkaJS')) throw new AppError('EGD_KAFKA', `the Kafka brokers at ${settings.brokers.join(',')} refused: ${name}: ${(err as Error).message}`, { cause: err })
    throw err
  }
}

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

/**
 * What every long-lived consumer-group member of the service shares (run's input consumer, the
 * webhook followers): no topic creation, committed transactions only (their markers skipped),
 * heartbeats well inside the session timeout, and idle fetches that return within a second, since
 * a stop waits for the fetch in flight.
 */
export const memberConsumerConfig = (groupId: string, sessionTimeoutMs: number): ConsumerConfig => ({
  groupId,
  allowAutoTopicCreation: false,
  readUncommitted: false,
  sessionTimeout: sessionTimeoutMs,
  heartbeatInterval: Math.min(3_000, Math.floor(sessionTimeoutMs / 3)),
  maxWaitTimeInMs: 1_000,
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

/**
 * The transactional producer of one detection shard. Its id is stable for the shard (group, topic,
 * partition): whoever owns the shard next initialises the same id, which fences this producer and
 * aborts its open transaction.
 */
export const createTransactionalProducer = (kafka: Kafka, transactionalId: string): Producer =>
  kafka.producer({
    transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    // A send retries until the transaction times out on the coordinator, which then aborts it.
    retry: { retries: Number.MAX_SAFE_INTEGER },
    transactionTimeout: 60_000,
    createPartitioner: Partitioners.DefaultPartitioner,
  })

/**
 * The input topics must have one partition count (co-partitioned), and the state topic must be
 * compacted (a deleting retention would forget devices) and have a partition for every input
 * partition (shard p keeps its state in partition p).
 */
/**
 * Checks the inputs, the state topic and the models topic, and returns the inputs' partition count
 * (every input has the same). Co-partitioned inputs (as Kafka Streams requires of a join): a device's
 * events and telemetry, keyed by its id, land in the same partition number of each. The state topic
 * has a partition per input partition; both it and the models topic are compacted.
 */
export const requireStateTopic = async (kafka: Kafka, state: string, inputs: readonly string[], models: string): Promise<number> => {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: [state, models, ...inputs] })
    const count = new Map(topics.map((t) => [t.name, t.partitions.length]))
    const [first, ...others] = inputs
    for (const other of others) {
      if (count.get(other) !== count.get(first!)) {
        throw new AppError('EGD_KAFKA', `input topics "${first}" (${count.get(first!)} partitions) and "${other}" (${count.get(other)} partitions) must have as many partitions: a device's records, keyed by its id, must land in the same partition of each`)
      }
    }
    const needed = count.get(first!) ?? 0
    const has = count.get(state) ?? 0
    if (has < needed) {
      throw new AppError('EGD_KAFKA', `state topic "${state}" has ${has} partitions; it needs at least ${needed}, as many as "${first}"`)
    }
    const described = await admin.describeConfigs({ resources: [state, models].map((name) => ({ type: kafkajs.ConfigResourceTypes.TOPIC, name })), includeSynonyms: false })
    for (const [topic, kind] of [[state, 'state'], [models, 'models']] as const) {
      const entries = described.resources.find((r) => r.resourceName === topic)?.configEntries ?? []
      const policy = entries.find((e) => e.configName === 'cleanup.policy')?.configValue ?? 'delete'
      // The models topic's snapshot must outlive any retention: only compaction may drop its records.
      if (!policy.split(',').includes('compact') || (kind === 'models' && policy.split(',').includes('delete'))) {
        throw new AppError('EGD_KAFKA', `${kind} topic "${topic}" has cleanup.policy=${policy}; it must be compact (create it with --config cleanup.policy=compact)`)
      }
    }
    return needed
  } finally {
    await admin.disconnect()
  }
}

/** Kafka's default max.message.bytes (a record batch's size at most), when a topic's cannot be read. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588

/**
 * Each topic's max.message.bytes (its own, or the broker's default it inherits): the largest record
 * batch it accepts. Writers stay under it, so a record is never refused for its size.
 */
export const topicMessageLimits = async (kafka: Kafka, topics: readonly string[]): Promise<Map<string, number>> => {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const described = await admin.describeConfigs({
      resources: [...new Set(topics)].map((name) => ({ type: kafkajs.ConfigResourceTypes.TOPIC, name })),
      includeSynonyms: false,
    })
    const limits = new Map<string, number>()
    for (const r of described.resources) {
      const value = Number(r.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue)
      limits.set(r.resourceName, Number.isInteger(value) && value > 0 ? value : DEFAULT_MAX_MESSAGE_BYTES)
    }
    return limits
  } finally {
    await admin.disconnect()
  }
}
