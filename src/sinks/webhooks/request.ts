// The HTTP request one webhook attempt sends for an alert record: the body per target format, and the Standard Webhooks signature.
import { createHmac } from 'node:crypto'
import type { WebhookTarget } from '../../config/webhooks.ts'
import type { Alert, AlertRecord, CampaignRecord } from '../../types.ts'

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

/**
 * The message id of an alert record: the same on every attempt, distinct for each record: a
 * campaign's revisions; an alert's firing, its escalations (`_r<revision>`) and its resolution.
 */
export const messageId = (alert: AlertRecord): string =>
  alert.scope === 'fleet' ? `${alert.id}_r${alert.revision}` : alert.status === 'firing' && (alert.revision ?? 1) > 1 ? `${alert.id}_r${alert.revision}` : `${alert.id}_${alert.status}`

const PAGERDUTY_SEVERITY = { low: 'info', medium: 'warning', high: 'error', critical: 'critical' } as const

/** Slack mrkdwn: `&`, `<` and `>` escaped (no `<!channel>` from a device id), at most `max` characters. */
const mrkdwn = (text: string, max = 3000): string => {
  const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
  return escaped.length <= max ? escaped : `${escaped.slice(0, max - 1)}…`
}

/** A Slack message: `head` (escaped) and the summary as text, then a section of facts. */
const slackMessage = (head: string, summary: string, facts: readonly string[]): unknown => ({
  text: `${head}: ${summary}`,
  blocks: [
    { type: 'section', text: { type: 'mrkdwn', text: `*${head}*\n${summary}` } },
    { type: 'section', fields: facts.map((text) => ({ type: 'mrkdwn', text })) },
  ],
})

/** A PagerDuty Events v2 event: a trigger with its payload while firing, a resolve of the same dedup key after. */
const pagerDutyEvent = (routingKey: string, dedupKey: string, payload: Record<string, unknown> | null): unknown =>
  payload === null
    ? { routing_key: routingKey, event_action: 'resolve', dedup_key: dedupKey }
    : { routing_key: routingKey, event_action: 'trigger', dedup_key: dedupKey, payload }

const slackBody = (alert: Alert): unknown => {
  const device = mrkdwn(alert.deviceId, 200)
  const head = alert.status !== 'firing'
    ? `:white_check_mark: resolved: ${alert.detector} on ${device}`
    : (alert.revision ?? 1) > 1
      ? `:arrow_up: escalated to ${alert.severity} (was ${alert.previousSeverity ?? 'lower'}): ${alert.detector} on ${device}`
      : alert.kind === 'notice'
        ? `:information_source: ${alert.severity} ${alert.detector} notice on ${device}`
        : `:rotating_light: ${alert.severity} ${alert.detector} on ${device}`
  const summary = mrkdwn(alert.summary, 2500)
  const facts = [
    `*device* ${device}${alert.model === null ? '' : ` (${mrkdwn(alert.model, 200)})`}`,
    `*detector* ${alert.detector}`,
    `*severity* ${alert.severity} (score ${alert.score})`,
    `*since* ${alert.startsAt}${alert.endsAt === null ? '' : ` *until* ${alert.endsAt}`}`,
    `*alert id* ${alert.id}`,
  ]
  return slackMessage(head, summary, facts)
}

/** A campaign's digest: how many devices, which models and firmware, what they share, a few of them. */
const slackCampaignBody = (c: CampaignRecord): unknown => {
  const what = c.kind === 'rollout' ? 'rollout notice' : 'campaign'
  const head = c.status === 'firing'
    ? `${c.kind === 'rollout' ? ':information_source:' : ':rotating_light:'} ${c.severity} ${what}: ${c.deviceCount} devices, ${c.behaviour}`
    : `:white_check_mark: ${what} over: ${c.deviceCount} devices, ${c.behaviour}`
  const summary = mrkdwn(c.summary, 2500)
  const devices = c.evidence.devices
  const facts = [
    `*devices* ${c.deviceCount}${Array.isArray(devices) ? `: ${mrkdwn(devices.slice(0, 5).join(', '), 400)}${c.deviceCount > 5 ? ', …' : ''}` : ''}`,
    `*models* ${mrkdwn(c.models.join(', '), 400)}`,
    `*firmware* ${mrkdwn(c.firmware.join(', ') || 'unknown', 400)}`,
    `*indicators* ${mrkdwn(c.indicators.slice(0, 5).join('; '), 600)}`,
    `*since* ${c.startsAt}${c.endsAt === null ? '' : ` *until* ${c.endsAt}`}`,
    `*campaign id* ${c.id}`,
  ]
  return slackMessage(mrkdwn(head, 400), summary, facts)
}

/** PagerDuty: one incident per campaign (its id the dedup key: a later revision updates it, the resolution closes it). */
const pagerDutyCampaignBody = (c: CampaignRecord, routingKey: string): unknown =>
  pagerDutyEvent(routingKey, c.id, c.status !== 'firing' ? null : {
    summary: c.summary.slice(0, 1024),
    source: 'fleet',
    severity: PAGERDUTY_SEVERITY[c.severity],
    timestamp: c.updatedAt,
    component: c.model ?? undefined,
    group: c.detector,
    class: c.behaviour,
    custom_details: { deviceCount: c.deviceCount, models: c.models, firmware: c.firmware, indicators: c.indicators, devices: c.evidence.devices },
  })

/** PagerDuty Events API v2: the alert id is the dedup key, so its resolution closes the incident its firing opened. */
const pagerDutyBody = (alert: Alert, routingKey: string): unknown =>
  pagerDutyEvent(routingKey, alert.id, alert.status !== 'firing' ? null : {
    summary: `${alert.deviceId}: ${alert.summary}`.slice(0, 1024),
    source: alert.deviceId,
    severity: PAGERDUTY_SEVERITY[alert.severity],
    timestamp: alert.detectedAt,
    component: alert.model ?? undefined,
    group: alert.detector,
    class: alert.detector,
    custom_details: { score: alert.score, startsAt: alert.startsAt, evidence: alert.evidence },
  })

/**
 * The request for one attempt. `record` is the alert record as read from the alerts topic: the
 * standard format sends it byte for byte. Signed with the attempt's own timestamp.
 */
export const buildRequest = (target: WebhookTarget, alert: AlertRecord, record: string, nowMs: number): WebhookRequest => {
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
      return { body: JSON.stringify(alert.scope === 'fleet' ? slackCampaignBody(alert) : slackBody(alert)), headers }
    case 'pagerduty':
      return { body: JSON.stringify(alert.scope === 'fleet' ? pagerDutyCampaignBody(alert, target.routingKey!) : pagerDutyBody(alert, target.routingKey!)), headers }
  }
}
