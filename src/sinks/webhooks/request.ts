// The HTTP request one webhook attempt sends for an alert record: the body per target format, and the Standard Webhooks signature.
import { createHmac } from 'node:crypto'
import type { WebhookTarget } from '../../config/webhooks.ts'
import type { Alert } from '../../types.ts'

export interface WebhookRequest {
  readonly body: string
  readonly headers: Record<string, string>
}

/**
 * Standard Webhooks: base64 HMAC-SHA256, keyed by the secret's bytes, of `id.timestamp.body`,
 * as `v1,<signature>`.
 */
export const signature = (key: Buffer, id: string, timestampSeconds: number, body: string): string =>
  `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`

/** The message id of an alert record: the same on every attempt, distinct for its firing and its resolution. */
export const messageId = (alert: Pick<Alert, 'id' | 'status'>): string => `${alert.id}_${alert.status}`

const PAGERDUTY_SEVERITY = { low: 'info', medium: 'warning', high: 'error', critical: 'critical' } as const

const slackBody = (alert: Alert): unknown => {
  const head = alert.status === 'firing' ? `:rotating_light: ${alert.severity} ${alert.detector} on ${alert.deviceId}` : `:white_check_mark: resolved: ${alert.detector} on ${alert.deviceId}`
  const facts = [
    `*device* ${alert.deviceId}${alert.model === null ? '' : ` (${alert.model})`}`,
    `*detector* ${alert.detector}`,
    `*severity* ${alert.severity} (score ${alert.score})`,
    `*since* ${alert.startsAt}${alert.endsAt === null ? '' : ` *until* ${alert.endsAt}`}`,
    `*alert id* ${alert.id}`,
  ]
  return {
    text: `${head}: ${alert.summary}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*${head}*\n${alert.summary}` } },
      { type: 'section', fields: facts.map((text) => ({ type: 'mrkdwn', text })) },
    ],
  }
}

/** PagerDuty Events API v2: the alert id is the dedup key, so its resolution closes the incident its firing opened. */
const pagerDutyBody = (alert: Alert, routingKey: string): unknown =>
  alert.status === 'firing'
    ? {
        routing_key: routingKey,
        event_action: 'trigger',
        dedup_key: alert.id,
        payload: {
          summary: `${alert.deviceId}: ${alert.summary}`.slice(0, 1024),
          source: alert.deviceId,
          severity: PAGERDUTY_SEVERITY[alert.severity],
          timestamp: alert.detectedAt,
          component: alert.model ?? undefined,
          group: alert.detector,
          class: alert.detector,
          custom_details: { score: alert.score, startsAt: alert.startsAt, evidence: alert.evidence },
        },
      }
    : { routing_key: routingKey, event_action: 'resolve', dedup_key: alert.id }

/**
 * The request for one attempt. `record` is the alert record as read from the alerts topic: the
 * standard format sends it byte for byte. Signed with the attempt's own timestamp.
 */
export const buildRequest = (target: WebhookTarget, alert: Alert, record: string, nowMs: number): WebhookRequest => {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'egress-sentinel' }
  switch (target.format) {
    case 'standard': {
      const id = messageId(alert)
      const timestamp = Math.floor(nowMs / 1000)
      headers['webhook-id'] = id
      headers['webhook-timestamp'] = String(timestamp)
      headers['webhook-signature'] = signature(target.signingKey!, id, timestamp, record)
      return { body: record, headers }
    }
    case 'slack':
      return { body: JSON.stringify(slackBody(alert)), headers }
    case 'pagerduty':
      return { body: JSON.stringify(pagerDutyBody(alert, target.routingKey!)), headers }
  }
}
