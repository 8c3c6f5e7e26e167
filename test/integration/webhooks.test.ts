// Webhooks from `egress-sentinel run` to real HTTP receivers on loopback: every record signed and delivered in each format; a target that fails, answers 429 with Retry-After or never answers gets its retries, then the dead-letter topic holds the record; the alerts topic is unchanged; no secret is printed.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Kafka, logLevel } from 'kafkajs'
import { Webhook } from 'standardwebhooks'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { stringify } from 'yaml'
import { readAll } from '../helpers/kafka.ts'
import { signatureHeaders, startReceiver } from '../helpers/receiver.ts'
import type { Receiver, Received } from '../helpers/receiver.ts'
import { cli, replayLines, sample, setupTopics, startRun, topicLines, waitCommitted } from '../helpers/service.ts'

const DEMO = fileURLToPath(new URL('../../fixtures/demo/demo.ndjson', import.meta.url))
const SECRET = `whsec_${Buffer.from('integration webhook secret, 32b!').toString('base64')}`
const ROUTING_KEY = 'R0UTING-KEY-never-printed'

const brokers = inject('kafkaBrokers')
const kafka = new Kafka({ clientId: 'webhooks-test', brokers: [brokers], logLevel: logLevel.NOTHING })
const admin = kafka.admin()

interface Alert {
  readonly id: string
  readonly status: string
  readonly revision: number
  readonly severity: string
  readonly previousSeverity: string | null
}
const body = (r: Received): Alert => JSON.parse(r.body) as Alert
const messageId = (a: Alert): string => (a.status === 'firing' && a.revision > 1 ? `${a.id}_r${a.revision}` : `${a.id}_${a.status}`)
/** What a target of every severity is sent: an alert's first firing record (its page) and its resolution, not its escalations. */
const paged = (a: Alert): boolean => a.status === 'resolved' || a.revision === 1

/** A receiver's requests by webhook-id, in arrival order. */
const byId = (r: Receiver): Map<string, Received[]> => {
  const groups = new Map<string, Received[]>()
  for (const q of r.requests) {
    const id = String(q.headers['webhook-id'])
    groups.set(id, [...(groups.get(id) ?? []), q])
  }
  return groups
}

const receivers: Receiver[] = []
const receiver = async (answer: Parameters<typeof startReceiver>[0]): Promise<Receiver> => {
  const r = await startReceiver(answer)
  receivers.push(r)
  return r
}

beforeAll(async () => {
  await admin.connect()
})
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()))
  await admin.disconnect()
})

describe('webhooks from run', () => {
  it('delivers every alert record a target wants to it, pages a critical target once at an escalation, retries failing ones on schedule and dead-letters what no attempt delivered', async () => {
    const { t, env, groupId } = await setupTopics(admin, brokers, 1)
    const topic = await replayLines(DEMO)
    const expected = topic.filter((l) => paged(JSON.parse(l) as Alert))
    const alerts = expected.map((l) => JSON.parse(l) as Alert)
    const n = alerts.length
    expect(alerts.map((a) => a.status).sort()).toContain('resolved')
    // The demo's escalations: an alert that fires high and rises to critical.
    const escalations = topic.map((l) => JSON.parse(l) as Alert).filter((a) => a.status === 'firing' && a.revision > 1)
    expect(escalations.map((a) => [a.severity, a.previousSeverity])).toContainEqual(['critical', 'high'])

    const standard = await receiver(() => ({ status: 200 }))
    const slack = await receiver(() => ({ status: 200 }))
    const pagerduty = await receiver(() => ({ status: 202 }))
    const failing = await receiver(() => ({ status: 500 }))
    const throttled = await receiver(() => ({ status: 429, headers: { 'retry-after': '1' } }))
    const silent = await receiver(() => 'hang')
    const critical = await receiver(() => ({ status: 200 }))
    const fast = { initialSeconds: 0.05, maxSeconds: 0.2 }
    const dir = mkdtempSync(join(tmpdir(), 'egress-webhooks-'))
    const config = join(dir, 'webhooks.yml')
    writeFileSync(
      config,
      stringify({
        webhooks: {
          targets: [
            { name: 'soc', url: `${standard.url}/soc/T0KEN-IN-PATH`, secret: '${SOC_SECRET}', allowHttp: true, allowPrivateNetworks: true },
            { name: 'chat', format: 'slack', url: `${slack.url}/services/T0/B0/XYZ`, allowHttp: true, allowPrivateNetworks: true },
            { name: 'oncall', format: 'pagerduty', url: `${pagerduty.url}/v2/enqueue`, routingKey: '${PD_ROUTING_KEY}', allowHttp: true, allowPrivateNetworks: true, statuses: ['firing', 'resolved'] },
            { name: 'failing', url: failing.url, secret: '${SOC_SECRET}', allowHttp: true, allowPrivateNetworks: true, maxAttempts: 3, backoff: fast },
            { name: 'throttled', url: throttled.url, secret: '${SOC_SECRET}', allowHttp: true, allowPrivateNetworks: true, maxAttempts: 2, backoff: fast },
            { name: 'silent', url: silent.url, secret: '${SOC_SECRET}', allowHttp: true, allowPrivateNetworks: true, maxAttempts: 2, timeoutSeconds: 0.3, backoff: fast },
            { name: 'critical', url: critical.url, secret: '${SOC_SECRET}', allowHttp: true, allowPrivateNetworks: true, minSeverity: 'critical' },
          ],
        },
      }),
    )

    const run = startRun({ ...env, SOC_SECRET: SECRET, PD_ROUTING_KEY: ROUTING_KEY }, '--config', config)
    try {
      await cli(env, 'produce', '-q', '--topic', t.events, DEMO)
      const produced = Number((await admin.fetchTopicOffsets(t.events))[0]!.high)
      // Within the test's time, and saying what run said if it does not get there.
      await waitCommitted(admin, groupId, t.events, (c) => c === produced, 90_000).catch((err: Error) => {
        throw new Error(`${err.message}; run's last words: ${run.out.stderr.slice(-3000)}`)
      })
      // The critical target: of each alert that reached critical, the first firing record to do so (one page), then its resolution.
      const toCritical = topic.map((l) => JSON.parse(l) as Alert).filter((a) => a.severity === 'critical' && (a.status === 'resolved' || a.previousSeverity !== 'critical'))
      expect(toCritical.filter((a) => a.status === 'firing' && a.revision > 1).length).toBeGreaterThan(0)
      await Promise.all([standard.waitFor(n), slack.waitFor(n), pagerduty.waitFor(n), failing.waitFor(3 * n), throttled.waitFor(2 * n), silent.waitFor(2 * n), critical.waitFor(toCritical.length)])
      // Every record of the failing targets, once each, in the dead-letter topic.
      const deadline = Date.now() + 30_000
      let dead: Record<string, unknown>[] = []
      while (dead.length < 3 * n && Date.now() < deadline) {
        dead = (await readAll(kafka, t.dlq)).map((r) => JSON.parse(r.value) as Record<string, unknown>)
        await new Promise((r) => setTimeout(r, 200))
      }

      // The signed target: every record, byte for byte, with a signature the Standard Webhooks verifier accepts.
      const verifier = new Webhook(SECRET)
      expect(standard.requests.map((r) => r.body).sort()).toEqual(expected)
      for (const r of standard.requests) {
        const headers = signatureHeaders(r)
        expect(verifier.verify(r.body, headers)).toEqual(JSON.parse(r.body))
        expect(headers['webhook-id']).toBe(messageId(body(r)))
      }
      expect(critical.requests.map((r) => r.body).sort()).toEqual(toCritical.map((a) => JSON.stringify(a)).sort())
      const pages = critical.requests.map(body).filter((a) => a.status === 'firing')
      expect(new Set(pages.map((a) => a.id)).size).toBe(pages.length)
      // Slack: one message per record; PagerDuty: a trigger per firing, a resolve per resolution, after its trigger.
      expect(slack.requests).toHaveLength(n)
      const pd = pagerduty.requests.map((r) => JSON.parse(r.body) as { event_action: string; dedup_key: string; routing_key: string })
      expect(pd.map((e) => `${e.dedup_key}_${e.event_action === 'trigger' ? 'firing' : 'resolved'}`).sort()).toEqual(alerts.map(messageId).sort())
      for (const [i, e] of pd.entries()) {
        expect(e.routing_key).toBe(ROUTING_KEY)
        if (e.event_action === 'resolve') expect(pd.slice(0, i).some((x) => x.dedup_key === e.dedup_key && x.event_action === 'trigger')).toBe(true)
      }

      // Failing targets: every record tried maxAttempts times under one id, then dead-lettered with the reason.
      const attemptsById = (r: Receiver) => [...byId(r).values()].map((g) => g.length)
      expect(attemptsById(failing)).toEqual(Array(n).fill(3))
      expect(attemptsById(throttled)).toEqual(Array(n).fill(2))
      expect(attemptsById(silent)).toEqual(Array(n).fill(2))
      // Retry-After: 1 is honoured: the second attempt of a record comes at least a second after its first.
      for (const g of byId(throttled).values()) expect(g[1]!.at - g[0]!.at).toBeGreaterThanOrEqual(995)

      const errors = { failing: 'HTTP 500 after 3 attempt(s)', throttled: 'HTTP 429 after 2 attempt(s)', silent: 'no answer within 0.3 s after 2 attempt(s)' }
      expect(dead).toHaveLength(3 * n)
      for (const [target, error] of Object.entries(errors)) {
        const mine = dead.filter((d) => d.target === target)
        expect(mine.map((d) => d.raw).sort()).toEqual(expected)
        for (const d of mine) {
          expect(d).toMatchObject({ reason: 'webhook_undeliverable', error: `webhook target ${target}: ${error}`, topic: t.alerts, partition: 0 })
        }
      }

      // The metrics count what happened.
      const address = /http on (\S+)/.exec(run.out.stderr)![1]!
      const metrics = await (await fetch(`http://${address}/metrics`)).text()
      expect(sample(metrics, 'egress_webhook_deliveries_total', { target: 'soc', result: 'success' })).toBe(n)
      expect(sample(metrics, 'egress_webhook_deliveries_total', { target: 'failing', result: 'retry' })).toBe(2 * n)
      expect(sample(metrics, 'egress_webhook_deliveries_total', { target: 'failing', result: 'failed' })).toBe(n)
      expect(sample(metrics, 'egress_webhook_deliveries_total', { target: 'failing', result: 'dead_letter' })).toBe(n)
      expect(sample(metrics, 'egress_dlq_total', { reason: 'webhook_undeliverable' })).toBe(3 * n)
      expect(sample(metrics, 'egress_webhook_queue_depth', { target: 'soc' })).toBe(0)
    } finally {
      run.child.kill('SIGTERM')
    }
    expect(await run.exited, run.out.stderr.slice(-3000)).toBe(0)
    // The stop summary counts the webhook dead letters with the others (the demo has no bad record).
    expect(run.out.stderr).toMatch(new RegExp(`stopped after \\d+ records, \\d+ events, \\d+ alerts, ${3 * n} dead letters, ${3 * n} of them undeliverable webhook records `))
    // The alerts topic is what it is without webhooks.
    expect(await topicLines(kafka, t.alerts)).toEqual(topic)
    // Secrets and the tokens in URLs are never printed.
    for (const secret of [SECRET, ROUTING_KEY, 'T0KEN-IN-PATH', '/services/T0/B0/XYZ']) expect(run.out.stderr).not.toContain(secret)
    expect(run.out.stderr).toContain('webhooks to soc (standard), chat (slack), oncall (pagerduty), failing (standard), throttled (standard), silent (standard), critical (standard)')
  }, 180_000)

  it('loses no record when run is killed with deliveries under way: the next run sends the rest, under the same message ids', async () => {
    const { t, env, groupId } = await setupTopics(admin, brokers, 1)
    const expected = (await replayLines(DEMO)).filter((l) => paged(JSON.parse(l) as Alert))
    const ids = expected.map((l) => messageId(JSON.parse(l) as Alert)).sort()
    // Slow: a record every 300 ms, one at a time, so the kill comes with most records undelivered.
    const slow = await receiver(() => ({ status: 200, delayMs: 300 }))
    const dir = mkdtempSync(join(tmpdir(), 'egress-webhooks-'))
    const config = join(dir, 'webhooks.yml')
    writeFileSync(config, stringify({ webhooks: { targets: [{ name: 'soc', url: slow.url, secret: '${SOC_SECRET}', allowHttp: true, allowPrivateNetworks: true, concurrency: 1 }] } }))
    const started = (): ReturnType<typeof startRun> => startRun({ ...env, SOC_SECRET: SECRET }, '--config', config)

    const first = started()
    await cli(env, 'produce', '-q', '--topic', t.events, DEMO)
    const produced = Number((await admin.fetchTopicOffsets(t.events))[0]!.high)
    await waitCommitted(admin, groupId, t.events, (c) => c === produced)
    // Past a commit of the follower (every second), with records still to send.
    await slow.waitFor(5)
    first.child.kill('SIGKILL')
    await first.exited
    expect(new Set(slow.requests.map((r) => String(r.headers['webhook-id']))).size).toBeLessThan(ids.length)

    const second = started()
    try {
      const deadline = Date.now() + 60_000
      while (new Set(slow.requests.map((r) => String(r.headers['webhook-id']))).size < ids.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    } finally {
      second.child.kill('SIGTERM')
    }
    expect(await second.exited).toBe(0)
    // Every record arrived at least once, each time under its own id and with a valid signature.
    expect([...new Set(slow.requests.map((r) => String(r.headers['webhook-id'])))].sort()).toEqual(ids)
    const verifier = new Webhook(SECRET)
    for (const r of slow.requests) {
      const headers = signatureHeaders(r)
      expect(messageId(verifier.verify(r.body, headers) as Alert)).toBe(headers['webhook-id'])
    }
  })
})

