// The service's own settings: brokers, consumer group, topics and HTTP address, from the environment (names as in the contract).
import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { AppError } from '../errors.ts'
import { kafkaSecurity, parseBrokers } from '../kafka/client.ts'
import type { KafkaSecurity } from '../kafka/client.ts'
import { INPUT_FORMATS } from '../decode/formats.ts'
import { resolveWebhookTargets } from './webhooks.ts'
import type { WebhookTarget, WebhookTargetConfig } from './webhooks.ts'

const topic = z.string().min(1).max(249).regex(/^[a-zA-Z0-9._-]+$/, 'expected a Kafka topic name (letters, digits, ".", "_", "-")')

const schema = z.strictObject({
  groupId: z.string().min(1).default('egress-sentinel'),
  topics: z.strictObject({
    events: topic.default('egress-events'),
    telemetry: topic.default('device-telemetry'),
    alerts: topic.default('egress-alerts'),
    dlq: topic.default('egress-dlq'),
    state: topic.default('egress-sentinel-state'),
    models: topic.default('egress-sentinel-models'),
  }),
  /** How long the group waits for a silent member before giving its partitions to others. */
  sessionTimeoutSeconds: z.coerce.number().int().min(6).max(300).default(30),
  /** How often a shard that is behind its partition commits (one that has caught up commits every batch). */
  commitIntervalMs: z.coerce.number().int().min(0).max(60_000).default(500),
  /** Not ready once the consumer has had no fetch or heartbeat, or the group has been rebalancing, for this long. */
  stallTimeoutSeconds: z.coerce.number().int().min(5).max(600).default(30),
  /** The events topic's record format (the telemetry topic is read as auto): each record decoded on its own. Leave auto when one topic carries both. */
  format: z.enum(INPUT_FORMATS, { error: `expected one of ${INPUT_FORMATS.join(', ')}` }).default('auto'),
  http: z.strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.coerce.number().int().min(0).max(65535).default(8080),
    /** Bearer token /metrics requires; none when unset. */
    metricsToken: z.string().min(16, 'expected at least 16 characters').optional(),
    /** Series of egress_top_device_score (the highest-scoring devices); 0 leaves the metric out. */
    metricsTopDevices: z.coerce.number().int().min(0).max(1000).default(20),
  }),
})

export type ServiceSettings = z.output<typeof schema> & {
  readonly brokers: readonly string[]
  readonly security: KafkaSecurity
  /** Where alert records go besides the alerts topic (the configuration's `webhooks.targets`, secrets filled in). */
  readonly webhooks: readonly WebhookTarget[]
}

/** Environment variable behind each settings path, for error messages. */
const ENV: Readonly<Record<string, string>> = {
  groupId: 'EGRESS_GROUP_ID',
  'topics.events': 'EGRESS_TOPIC_EVENTS',
  'topics.telemetry': 'EGRESS_TOPIC_TELEMETRY',
  'topics.alerts': 'EGRESS_TOPIC_ALERTS',
  'topics.dlq': 'EGRESS_TOPIC_DLQ',
  'topics.state': 'EGRESS_TOPIC_STATE',
  'topics.models': 'EGRESS_TOPIC_MODELS',
  sessionTimeoutSeconds: 'EGRESS_SESSION_TIMEOUT_SECONDS',
  commitIntervalMs: 'EGRESS_COMMIT_INTERVAL_MS',
  stallTimeoutSeconds: 'EGRESS_STALL_TIMEOUT_SECONDS',
  format: 'EGRESS_INPUT_FORMAT',
  'http.host': 'EGRESS_HTTP_HOST',
  'http.port': 'EGRESS_HTTP_PORT',
  'http.metricsToken': 'EGRESS_METRICS_TOKEN',
  'http.metricsTopDevices': 'EGRESS_METRICS_TOP_DEVICES',
}

const blankToUndefined = (v: string | undefined): string | undefined => (v === undefined || v.trim() === '' ? undefined : v)

/** A secret from NAME, or from the file NAME_FILE names (trimmed); errors name the variable, never the value. */
const secret = (name: string, env: NodeJS.ProcessEnv): string | undefined => {
  const direct = blankToUndefined(env[name])
  const file = blankToUndefined(env[`${name}_FILE`])
  if (direct !== undefined || file === undefined) return direct
  try {
    return readFileSync(file, 'utf8').trim()
  } catch (err) {
    throw new AppError('EGD_USAGE', `${name}_FILE: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
  }
}

/** Reads the settings; a usage error (exit 2) names each bad variable. `webhooks` come from the configuration file. */
export const serviceSettings = (
  flags: { brokers?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
  webhooks: readonly WebhookTargetConfig[] = [],
): ServiceSettings => {
  const brokers = parseBrokers(flags.brokers, env)
  const r = schema.safeParse({
    groupId: blankToUndefined(env.EGRESS_GROUP_ID),
    topics: {
      events: blankToUndefined(env.EGRESS_TOPIC_EVENTS),
      telemetry: blankToUndefined(env.EGRESS_TOPIC_TELEMETRY),
      alerts: blankToUndefined(env.EGRESS_TOPIC_ALERTS),
      dlq: blankToUndefined(env.EGRESS_TOPIC_DLQ),
      state: blankToUndefined(env.EGRESS_TOPIC_STATE),
      models: blankToUndefined(env.EGRESS_TOPIC_MODELS),
    },
    sessionTimeoutSeconds: blankToUndefined(env.EGRESS_SESSION_TIMEOUT_SECONDS),
    commitIntervalMs: blankToUndefined(env.EGRESS_COMMIT_INTERVAL_MS),
    stallTimeoutSeconds: blankToUndefined(env.EGRESS_STALL_TIMEOUT_SECONDS),
    format: blankToUndefined(env.EGRESS_INPUT_FORMAT),
    http: {
      host: blankToUndefined(env.EGRESS_HTTP_HOST),
      port: blankToUndefined(env.EGRESS_HTTP_PORT),
      metricsToken: secret('EGRESS_METRICS_TOKEN', env),
      metricsTopDevices: blankToUndefined(env.EGRESS_METRICS_TOP_DEVICES),
    },
  })
  if (!r.success) {
    const lines = r.error.issues.map((i) => {
      const path = i.path.join('.')
      return `  ${ENV[path] ?? path}: ${i.message}`
    })
    throw new AppError('EGD_USAGE', `invalid service settings:\n${lines.join('\n')}`)
  }
  return { ...r.data, brokers, security: kafkaSecurity(env), webhooks: resolveWebhookTargets(webhooks, env) }
}
