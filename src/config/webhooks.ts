// The `webhooks` section of the configuration: its schema, and the targets `run` delivers to, with ${VAR} secrets filled in from the environment.
import { isIP } from 'node:net'
import { z } from 'zod'
import { AppError } from '../errors.ts'
import { classifyAddress } from '../sinks/webhooks/address.ts'
import { ALERT_KINDS, SEVERITIES } from '../types.ts'
import type { AlertKind, AlertStatus, Severity } from '../types.ts'

export const WEBHOOK_FORMATS = ['standard', 'slack', 'pagerduty'] as const
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number]

const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue'
/** `${NAME}`: the value of environment variable NAME, filled in when `run` starts. */
const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g
/** A value that is one placeholder, and one that starts with one. */
const ONLY_PLACEHOLDER = new RegExp(`^${PLACEHOLDER.source}$`)
const LEADING_PLACEHOLDER = new RegExp(`^${PLACEHOLDER.source}`)

const targetSchema = z
  .strictObject({
    /** Names the target in metrics, logs and dead letters: never the URL, which may hold a token. */
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'expected lower-case letters, digits, "_" or "-" (at most 63)'),
    /** standard: the alert record signed per the Standard Webhooks spec; slack: an incoming-webhook message; pagerduty: Events API v2. */
    format: z.enum(WEBHOOK_FORMATS).default('standard'),
    /** Where to POST (https). PagerDuty's Events API when absent for format pagerduty. */
    url: z.string().min(1).optional(),
    /** Standard Webhooks signing secret, `whsec_<base64>` (format standard). */
    secret: z.string().min(1).optional(),
    /** PagerDuty integration (routing) key (format pagerduty). */
    routingKey: z.string().min(1).optional(),
    /** Allow an http:// URL: for local testing only, the alert and its signature travel in clear. */
    allowHttp: z.boolean().default(false),
    /**
     * Allow loopback, private, link-local (cloud metadata at 169.254.169.254), CGNAT and other
     * non-public addresses: for a receiver inside your own network. Checked on the addresses the
     * name resolves to, when connecting.
     */
    allowPrivateNetworks: z.boolean().default(false),
    /** Device alerts, campaign records (fleet), or both. A paging target takes `[fleet]`: one page per campaign instead of one per device. */
    scopes: z.array(z.enum(['device', 'fleet'])).min(1).default(['device', 'fleet']),
    /** Alerts, notices (expected changes: a model's rollout and its devices' adoptions), or both. A paging target takes `[alert]`. */
    kinds: z.array(z.enum(ALERT_KINDS)).min(1).default(['alert', 'notice']),
    /** Also send a campaign's firing record each time a device joins it (not only its opening and resolution). */
    campaignUpdates: z.boolean().default(false),
    /** Also send a device alert's escalations (its later firing records of a higher severity), not only the first record that reaches minSeverity: for an archive. */
    escalations: z.boolean().default(false),
    /** Which alert records go to this target. */
    statuses: z.array(z.enum(['firing', 'resolved'])).min(1).default(['firing', 'resolved']),
    /** Alerts below this severity are not sent here. */
    minSeverity: z.enum(SEVERITIES).default('low'),
    /** One attempt's limit, connection to last byte of the answer. */
    timeoutSeconds: z.number().positive().max(300).default(10),
    /** Attempts per alert record before it goes to the dead-letter topic. */
    maxAttempts: z.number().int().min(1).max(100).default(8),
    /** Retry delays: a random time up to initialSeconds × 2^(attempt − 1), at most maxSeconds ("full jitter"). */
    backoff: z
      .strictObject({ initialSeconds: z.number().positive().max(3600).default(1), maxSeconds: z.number().positive().max(86_400).default(300) })
      .prefault({}),
    /** The longest `Retry-After` honoured; a longer one is cut to this. */
    maxRetryAfterSeconds: z.number().positive().max(86_400).default(600),
    /** Requests in flight at once. */
    concurrency: z.number().int().min(1).max(256).default(4),
    /** Alert records held (queued, in flight, waiting to retry); the target reads no more of the alerts topic while full. */
    queueSize: z.number().int().min(1).max(1_000_000).default(1000),
  })
  .superRefine((t, ctx) => {
    if (t.format === 'standard' && t.secret === undefined) ctx.addIssue({ code: 'custom', path: ['secret'], message: 'required for format standard' })
    if (t.format === 'pagerduty' && t.routingKey === undefined) ctx.addIssue({ code: 'custom', path: ['routingKey'], message: 'required for format pagerduty' })
    if (t.format !== 'pagerduty' && t.url === undefined) ctx.addIssue({ code: 'custom', path: ['url'], message: `required for format ${t.format}` })
  })

export const webhooksSchema = z
  .strictObject({ targets: z.array(targetSchema).default([]) })
  .superRefine((w, ctx) => {
    const seen = new Set<string>()
    w.targets.forEach((t, i) => {
      if (seen.has(t.name)) ctx.addIssue({ code: 'custom', path: ['targets', i, 'name'], message: `"${t.name}" names another target too` })
      seen.add(t.name)
    })
  })

export type WebhookTargetConfig = z.output<typeof targetSchema>

/** A target ready to deliver to: secrets filled in and checked, URL parsed. */
export interface WebhookTarget {
  readonly name: string
  readonly format: WebhookFormat
  readonly url: URL
  /** Whether the URL may lead to a non-public address (checked on each connection). */
  readonly allowPrivateNetworks: boolean
  /** The HMAC key (the secret's base64 part, decoded). */
  readonly signingKey: Buffer | null
  readonly routingKey: string | null
  readonly scopes: ReadonlySet<'device' | 'fleet'>
  readonly kinds: ReadonlySet<AlertKind>
  readonly campaignUpdates: boolean
  readonly escalations: boolean
  readonly statuses: ReadonlySet<AlertStatus>
  readonly minSeverity: Severity
  readonly timeoutMs: number
  readonly maxAttempts: number
  readonly backoffInitialMs: number
  readonly backoffMaxMs: number
  readonly maxRetryAfterMs: number
  readonly concurrency: number
  readonly queueSize: number
}

/**
 * Fills in `${NAME}` from the environment and checks what only then can be: the URL's scheme and
 * the secret's form. Errors name the field and the variable, never a value.
 */
export const resolveWebhookTargets = (targets: readonly WebhookTargetConfig[], env: NodeJS.ProcessEnv = process.env): WebhookTarget[] =>
  targets.map((t, i) => {
    const field = (name: string): string => `webhooks.targets.${i}.${name} (target ${t.name})`
    const fill = (name: string, value: string): string =>
      value.replace(PLACEHOLDER, (_, variable: string) => {
        const v = env[variable]
        if (v === undefined || v === '') throw new AppError('EGD_USAGE', `${field(name)}: environment variable ${variable} is not set`)
        return v
      })

    const urlText = t.url === undefined ? PAGERDUTY_EVENTS_URL : fill('url', t.url)
    let url: URL
    try {
      url = new URL(urlText)
    } catch {
      throw new AppError('EGD_USAGE', `${field('url')}: not a URL`)
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && t.allowHttp)) {
      throw new AppError('EGD_USAGE', `${field('url')}: expected https:// (http:// only with allowHttp: true, for local testing)`)
    }
    // An IP literal is known now (a name is checked on what it resolves to, when connecting).
    const literal = url.hostname.replace(/^\[(.*)\]$/, '$1')
    const category = t.allowPrivateNetworks || isIP(literal) === 0 ? null : classifyAddress(literal)
    if (category !== null) {
      throw new AppError('EGD_USAGE', `${field('url')}: address ${literal} is ${category}; set allowPrivateNetworks: true to deliver to it`)
    }

    let signingKey: Buffer | null = null
    if (t.secret !== undefined) {
      const secret = fill('secret', t.secret)
      const base64 = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : ''
      const key = Buffer.from(base64, 'base64')
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || key.length < 24 || key.length > 64) {
        throw new AppError('EGD_USAGE', `${field('secret')}: expected whsec_ followed by the base64 of 24 to 64 random bytes`)
      }
      signingKey = key
    }

    return {
      name: t.name,
      format: t.format,
      url,
      allowPrivateNetworks: t.allowPrivateNetworks,
      signingKey,
      routingKey: t.routingKey === undefined ? null : fill('routingKey', t.routingKey),
      scopes: new Set(t.scopes),
      kinds: new Set(t.kinds),
      campaignUpdates: t.campaignUpdates,
      escalations: t.escalations,
      statuses: new Set(t.statuses),
      minSeverity: t.minSeverity,
      timeoutMs: t.timeoutSeconds * 1000,
      maxAttempts: t.maxAttempts,
      backoffInitialMs: t.backoff.initialSeconds * 1000,
      backoffMaxMs: t.backoff.maxSeconds * 1000,
      maxRetryAfterMs: t.maxRetryAfterSeconds * 1000,
      concurrency: t.concurrency,
      queueSize: t.queueSize,
    }
  })

/** What check-config may print of a target: `${VAR}` placeholders as written, other secrets hidden, a URL's path and query hidden (Slack's carries its token). */
export const redactWebhookTarget = (t: WebhookTargetConfig): WebhookTargetConfig => {
  const hide = (v: string | undefined): string | undefined => (v === undefined || ONLY_PLACEHOLDER.test(v) ? v : '<redacted>')
  let url = t.url
  const placeholder = url === undefined ? null : LEADING_PLACEHOLDER.exec(url)
  if (url !== undefined && placeholder !== null) {
    url = url === placeholder[0] ? url : `${placeholder[0]}/<redacted>`
  } else if (url !== undefined) {
    try {
      const u = new URL(url)
      url = u.pathname === '/' && u.search === '' ? u.origin : `${u.origin}/<redacted>`
    } catch {
      url = '<redacted>'
    }
  }
  return { ...t, url, secret: hide(t.secret), routingKey: hide(t.routingKey) }
}
