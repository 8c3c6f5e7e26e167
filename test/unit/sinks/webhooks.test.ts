// Webhook delivery against a real HTTP receiver on loopback: signatures a Standard Webhooks verifier accepts, Slack and PagerDuty bodies, retries on schedule, Retry-After, timeouts, no redirects, order per alert, concurrency, the bounded queue, answers read up to a cap, and non-public addresses refused.
import { readFileSync } from 'node:fs'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { Webhook } from 'standardwebhooks'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { DETECTORS } from '../../../detectors/index.ts'
import { loadConfig, parseConfig } from '../../../src/config/load.ts'
import { redactWebhookTarget, resolveWebhookTargets } from '../../../src/config/webhooks.ts'
import type { WebhookTarget, WebhookTargetConfig } from '../../../src/config/webhooks.ts'
import { replay } from '../../../src/replay.ts'
import { classifyAddress } from '../../../src/sinks/webhooks/address.ts'
import type { AddressCategory } from '../../../src/sinks/webhooks/address.ts'
import { backoffMs, RESPONSE_BODY_CAP, retryAfterMs, TargetDelivery } from '../../../src/sinks/webhooks/target.ts'
import type { AttemptResult, DeliveryItem } from '../../../src/sinks/webhooks/target.ts'
import { correlateAll } from '../../../src/correlate/campaigns.ts'
import type { Alert, AlertRecord, CampaignRecord } from '../../../src/types.ts'
import { signatureHeaders, startReceiver } from '../../helpers/receiver.ts'
import type { Answer, Receiver } from '../../helpers/receiver.ts'

const DEMO = fileURLToPath(new URL('../../../fixtures/demo/demo.ndjson', import.meta.url))
/** A Standard Webhooks secret: whsec_ and the base64 of 32 bytes. */
const SECRET = `whsec_${Buffer.from('egress-sentinel test secret, 32b').toString('base64')}`

/** The demo fixture's alert records, as the alerts topic carries them. */
let alerts: Alert[] = []
beforeAll(async () => {
  const config = loadConfig(undefined, DETECTORS)
  await replay({ inputs: [DEMO], format: 'auto', config, detectors: DETECTORS, onAlert: (a) => alerts.push(a) })
  alerts = alerts.map((a) => JSON.parse(JSON.stringify(a)) as Alert)
})

const receivers: Receiver[] = []
const deliveries: TargetDelivery[] = []
afterEach(async () => {
  await Promise.all(deliveries.splice(0).map((d) => d.stop(0)))
  await Promise.all(receivers.splice(0).map((r) => r.close()))
})

const receiver = async (answer: (index: number) => Answer = () => ({ status: 204 })): Promise<Receiver> => {
  const r = await startReceiver((_, i) => answer(i))
  receivers.push(r)
  return r
}

const target = (url: string, over: Partial<WebhookTargetConfig> = {}): WebhookTarget =>
  resolveWebhookTargets([
    {
      name: 'test', format: 'standard', url, secret: SECRET, allowHttp: true, allowPrivateNetworks: true, scopes: ['device', 'fleet'], kinds: ['alert', 'notice'], campaignUpdates: false, escalations: false, statuses: ['firing', 'resolved'], minSeverity: 'low',
      timeoutSeconds: 5, maxAttempts: 4, backoff: { initialSeconds: 0.05, maxSeconds: 1 }, maxRetryAfterSeconds: 600, concurrency: 4, queueSize: 100,
      ...over,
    },
  ])[0]!

interface Outcome {
  readonly attempts: AttemptResult[]
  readonly dead: { id: string; error: string; attempts: number }[]
  readonly done: string[]
  readonly warnings: string[]
  rooms: number
}

/** A delivery to `t` whose hooks record what happened; `random` fixes the jitter. */
const deliver = (t: WebhookTarget, random = () => 1) => {
  const out: Outcome = { attempts: [], dead: [], done: [], warnings: [], rooms: 0 }
  const d = new TargetDelivery(
    t,
    {
      attempted: (result) => void out.attempts.push(result),
      deadLetter: async (item, error, attempts) => void out.dead.push({ id: `${item.alert.id}_${item.alert.status}`, error, attempts }),
      room: () => void out.rooms++,
      warn: (message) => void out.warnings.push(message),
    },
    { random },
  )
  deliveries.push(d)
  let finished: () => void = () => undefined
  let expected = 0
  const push = (alert: AlertRecord, live: () => boolean = () => true): void => {
    expected++
    const item: DeliveryItem = {
      alert,
      record: JSON.stringify(alert),
      done: () => {
        out.done.push(`${alert.id}_${alert.status}`)
        if (out.done.length === expected) finished()
      },
      live,
    }
    d.push(item)
  }
  const allDone = (timeoutMs = 20_000) =>
    new Promise<void>((resolve, reject) => {
      if (out.done.length === expected) return resolve()
      const timer = setTimeout(() => reject(new Error(`${out.done.length} of ${expected} records done`)), timeoutMs)
      finished = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  return { d, out, push, allDone }
}

describe('webhook requests', () => {
  it('signs the alert record per the Standard Webhooks spec: a verifier with the secret accepts every request, one message id per record', async () => {
    const r = await receiver()
    const { push, allDone } = deliver(target(`${r.url}/hook`))
    for (const a of alerts) push(a)
    await allDone()
    const verifier = new Webhook(SECRET)
    expect(r.requests).toHaveLength(alerts.length)
    for (const req of r.requests) {
      const headers = signatureHeaders(req)
      expect(verifier.verify(req.body, headers)).toEqual(JSON.parse(req.body))
      expect(req.headers['content-type']).toBe('application/json')
    }
    // The body is the alert record byte for byte; the id tells a firing from its escalations and its resolution.
    expect(r.requests.map((q) => q.body).sort()).toEqual(alerts.map((a) => JSON.stringify(a)).sort())
    expect(alerts.some((a) => a.revision > 1 && a.status === 'firing')).toBe(true)
    expect(r.requests.map((q) => q.headers['webhook-id']).sort()).toEqual(alerts.map((a) => `${a.id}_${a.status === 'firing' && a.revision > 1 ? `r${a.revision}` : a.status}`).sort())
    // A wrong secret or a changed body fails verification.
    const first = r.requests[0]!
    const h = signatureHeaders(first)
    expect(() => new Webhook(`whsec_${Buffer.from('another secret of thirty-two b!!').toString('base64')}`).verify(first.body, h)).toThrow()
    expect(() => verifier.verify(first.body.replace('"firing"', '"resolved"'), h)).toThrow()
  })

  it('sends Slack an incoming-webhook message with text and blocks', async () => {
    const r = await receiver()
    const firing = alerts.find((a) => a.status === 'firing')!
    const { push, allDone } = deliver(target(r.url, { format: 'slack', secret: undefined }))
    push(firing)
    await allDone()
    const body = JSON.parse(r.requests[0]!.body) as { text: string; blocks: { type: string }[] }
    expect(body.text).toBe(`:rotating_light: ${firing.severity} ${firing.detector} on ${firing.deviceId}: ${firing.summary}`)
    expect(body.blocks.map((b) => b.type)).toEqual(['section', 'section'])
    expect(r.requests[0]!.headers['webhook-signature']).toBeUndefined()
  })

  it('tells Slack an escalation and a notice from a new alert', async () => {
    const r = await receiver()
    const escalated = alerts.find((a) => a.status === 'firing' && a.revision > 1)!
    const notice: Alert = { ...alerts.find((a) => a.status === 'firing' && a.revision === 1)!, kind: 'notice', severity: 'low' }
    const { push, allDone } = deliver(target(r.url, { format: 'slack', secret: undefined }))
    push(escalated)
    push(notice)
    await allDone()
    const texts = r.requests.map((q) => (JSON.parse(q.body) as { text: string }).text)
    expect(texts).toContain(`:arrow_up: escalated to ${escalated.severity} (was ${escalated.previousSeverity}): ${escalated.detector} on ${escalated.deviceId}: ${escalated.summary}`)
    expect(texts).toContain(`:information_source: low ${notice.detector} notice on ${notice.deviceId}: ${notice.summary}`)
  })

  it('escapes what Slack would read as a mention or a link in a device id or summary', async () => {
    const r = await receiver()
    const firing = alerts.find((a) => a.status === 'firing')!
    const { push, allDone } = deliver(target(r.url, { format: 'slack', secret: undefined }))
    push({ ...firing, deviceId: '<!channel> & co', summary: 'see <https://evil.example|here>' })
    await allDone()
    const body = JSON.parse(r.requests[0]!.body) as { text: string }
    expect(body.text).toBe(`:rotating_light: ${firing.severity} ${firing.detector} on &lt;!channel&gt; &amp; co: see &lt;https://evil.example|here&gt;`)
  })

  it('sends PagerDuty Events v2: trigger then resolve with the alert id as dedup_key', async () => {
    const r = await receiver(() => ({ status: 202 }))
    const resolved = alerts.find((a) => a.status === 'resolved')!
    const firing = alerts.find((a) => a.status === 'firing' && a.id === resolved.id)!
    const { push, allDone } = deliver(target(r.url, { format: 'pagerduty', secret: undefined, routingKey: 'R0UTINGKEY' }))
    push(firing)
    push(resolved)
    await allDone()
    const [trigger, resolve] = r.requests.map((q) => JSON.parse(q.body) as Record<string, unknown>)
    expect(trigger).toMatchObject({
      routing_key: 'R0UTINGKEY', event_action: 'trigger', dedup_key: firing.id,
      payload: { source: firing.deviceId, severity: { low: 'info', medium: 'warning', high: 'error', critical: 'critical' }[firing.severity], timestamp: firing.detectedAt, group: firing.detector },
    })
    expect(resolve).toEqual({ routing_key: 'R0UTINGKEY', event_action: 'resolve', dedup_key: firing.id })
  })

  it('leaves out the records a target does not want (statuses, minimum severity), and of an alert\'s firing records sends the first that reaches the minimum', () => {
    const t = target('http://127.0.0.1:9/', { statuses: ['firing'], minSeverity: 'high' })
    const { d } = deliver(t)
    const want = alerts.filter((a) => d.wants(a))
    expect(want.length).toBeGreaterThan(0)
    const high = (s: string | null): boolean => s === 'high' || s === 'critical'
    expect(want).toEqual(alerts.filter((a) => a.status === 'firing' && high(a.severity) && !high(a.previousSeverity)))
    // One page per alert, whatever its escalations.
    expect(new Set(want.map((a) => a.id)).size).toBe(want.length)
  })

  it('pages a critical target once for the demo fridge\'s spam burst, which fires high and escalates to critical: its escalation, then its resolution', () => {
    const escalated = alerts.filter((a) => a.status === 'firing' && a.revision > 1)
    expect(escalated.map((a) => [a.detector, a.severity, a.previousSeverity])).toContainEqual(['smtp-burst', 'critical', 'high'])
    const burst = escalated.find((a) => a.detector === 'smtp-burst' && a.severity === 'critical')!
    const critical = deliver(target('http://127.0.0.1:9/', { minSeverity: 'critical' })).d
    expect(alerts.filter((a) => a.id === burst.id && critical.wants(a)).map((a) => [a.status, a.revision, a.previousSeverity])).toEqual([
      ['firing', burst.revision, 'high'], ['resolved', burst.revision + 1, 'critical'],
    ])
    // A target for every severity had its page at the first record; an archive (escalations) gets every record.
    const every = deliver(target('http://127.0.0.1:9/')).d
    expect(alerts.filter((a) => a.id === burst.id && every.wants(a)).map((a) => a.revision)).toEqual([1, burst.revision + 1])
    const archive = deliver(target('http://127.0.0.1:9/', { escalations: true })).d
    expect(alerts.filter((a) => a.id === burst.id && archive.wants(a)).map((a) => a.revision)).toEqual(Array.from({ length: burst.revision + 1 }, (_, i) => i + 1))
  })

  it('leaves out notices for a target of alerts only (kinds), and sends them by default', () => {
    const notice: Alert = { ...alerts[0]!, kind: 'notice' }
    expect(deliver(target('http://127.0.0.1:9/', { kinds: ['alert'] })).d.wants(notice)).toBe(false)
    expect(deliver(target('http://127.0.0.1:9/')).d.wants(notice)).toBe(true)
    expect(deliver(target('http://127.0.0.1:9/', { kinds: ['notice'] })).d.wants(alerts[0]!)).toBe(false)
  })
})

describe('campaign pages', () => {
  /** The demo's first smtp-burst alert on six fridges a minute apart: a campaign opens at the fifth, the sixth joins it. */
  const campaign = (): CampaignRecord[] => {
    const base = alerts.find((a) => a.detector === 'smtp-burst' && a.status === 'firing')!
    const spread = Array.from({ length: 6 }, (_, i): Alert => ({
      ...base, id: `${base.id.slice(0, 30)}0${i}`, deviceId: `fridge-${i}`,
      detectedAt: new Date(Date.parse(base.detectedAt) + i * 60_000).toISOString(),
    }))
    const records = correlateAll(spread, { minDevices: 5, windowMs: 86_400_000, quietMs: 21_600_000 })
    return [...records, { ...records.at(-1)!, status: 'resolved', revision: 3, endsAt: records.at(-1)!.updatedAt }]
  }

  it('sends a paging target (scopes [fleet]) a campaign\'s opening and resolution, not its device alerts nor its growth', () => {
    const records = campaign()
    expect(records.map((r) => [r.status, r.revision, r.deviceCount])).toEqual([['firing', 1, 5], ['firing', 2, 6], ['resolved', 3, 6]])
    const paging = deliver(target('http://127.0.0.1:9/', { scopes: ['fleet'] })).d
    expect([...alerts, ...records].filter((a) => paging.wants(a)).map((r) => `${r.status} ${(r as CampaignRecord).revision}`)).toEqual(['firing 1', 'resolved 3'])
    const updates = deliver(target('http://127.0.0.1:9/', { scopes: ['fleet'], campaignUpdates: true })).d
    expect(records.filter((a) => updates.wants(a))).toHaveLength(3)
    const devices = deliver(target('http://127.0.0.1:9/', { scopes: ['device'] })).d
    // Every device record but the escalations: its page was the alert's first record.
    expect([...alerts, ...records].filter((a) => devices.wants(a))).toEqual(alerts.filter((a) => a.revision === 1 || a.status === 'resolved'))
  })

  it('pages a target with a minimum severity when the campaign first reaches it, and sends the resolution only of what it paged', () => {
    const [opened, grown, resolved] = campaign()
    const quiet = { ...opened!, severity: 'medium' as const, previousSeverity: null }
    const raised = { ...grown!, severity: 'high' as const, previousSeverity: 'medium' as const }
    const again = { ...grown!, revision: 3, severity: 'high' as const, previousSeverity: 'high' as const }
    const over = { ...resolved!, revision: 4, severity: 'high' as const, previousSeverity: 'high' as const }
    const pager = deliver(target('http://127.0.0.1:9/', { scopes: ['fleet'], minSeverity: 'high' })).d
    expect([quiet, raised, again, over].filter((r) => pager.wants(r)).map((r) => r.revision)).toEqual([2, 4])
    const lowOnly = { ...over, severity: 'medium' as const }
    expect(pager.wants(lowOnly)).toBe(false)
  })

  it('pages PagerDuty once per campaign (its id the dedup key) and gives Slack a digest of the campaign', async () => {
    const [opened, , resolved] = campaign()
    const pd = await receiver(() => ({ status: 202 }))
    const pager = deliver(target(pd.url, { format: 'pagerduty', secret: undefined, routingKey: 'R0UTINGKEY', scopes: ['fleet'] }))
    pager.push(opened!)
    pager.push(resolved!)
    await pager.allDone()
    const [trigger, resolve] = pd.requests.map((q) => JSON.parse(q.body) as Record<string, unknown>)
    expect(trigger).toMatchObject({
      event_action: 'trigger', dedup_key: opened!.id,
      payload: { source: 'fleet', summary: opened!.summary, class: opened!.behaviour, custom_details: { deviceCount: 5, models: opened!.models } },
    })
    expect(resolve).toEqual({ routing_key: 'R0UTINGKEY', event_action: 'resolve', dedup_key: opened!.id })

    const sl = await receiver()
    const chat = deliver(target(sl.url, { format: 'slack', secret: undefined, scopes: ['fleet'] }))
    chat.push(opened!)
    await chat.allDone()
    const body = JSON.parse(sl.requests[0]!.body) as { text: string; blocks: { fields?: { text: string }[] }[] }
    expect(body.text).toContain(`campaign: 5 devices, ${opened!.behaviour}`)
    expect(body.blocks[1]!.fields!.map((f) => f.text)).toContain('*devices* 5: fridge-0, fridge-1, fridge-2, fridge-3, fridge-4')
  })

  it('signs each campaign revision under its own message id', async () => {
    const r = await receiver()
    const records = campaign()
    const { push, allDone } = deliver(target(r.url, { scopes: ['fleet'], campaignUpdates: true }))
    for (const c of records) push(c)
    await allDone()
    expect(r.requests.map((q) => q.headers['webhook-id'])).toEqual(records.map((c) => `${c.id}_r${c.revision}`))
    expect(r.requests.map((q) => q.body)).toEqual(records.map((c) => JSON.stringify(c)))
  })
})

describe('webhook retries', () => {
  it('retries a 503 with exponential backoff (full jitter up to initial × 2^n), the same webhook-id each time, until a 2xx', async () => {
    const r = await receiver((i) => (i < 3 ? { status: 503 } : { status: 200 }))
    // random() = 1: the longest delay jitter allows, 50, 100, 200 ms.
    const { push, allDone, out } = deliver(target(r.url), () => 1)
    push(alerts[0]!)
    await allDone()
    expect(out.attempts).toEqual(['retry', 'retry', 'retry', 'success'])
    expect(new Set(r.requests.map((q) => q.headers['webhook-id']))).toEqual(new Set([`${alerts[0]!.id}_${alerts[0]!.status}`]))
    const gaps = r.requests.slice(1).map((q, i) => q.at - r.requests[i]!.at)
    gaps.forEach((g, i) => expect(g).toBeGreaterThanOrEqual(50 * 2 ** i - 5))
    expect(out.dead).toEqual([])
  })

  it('computes full-jitter delays and reads Retry-After as seconds or a date', () => {
    const t = { backoffInitialMs: 1000, backoffMaxMs: 30_000 }
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffMs(t, n, 1))).toEqual([1000, 2000, 4000, 8000, 16000, 30000])
    expect(backoffMs(t, 3, 0.25)).toBe(1000)
    expect(backoffMs(t, 3, 0)).toBe(0)
    expect(retryAfterMs('7', 0)).toBe(7000)
    expect(retryAfterMs('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(10_000)
    expect(retryAfterMs('soon', 0)).toBeNull()
    expect(retryAfterMs(null, 0)).toBeNull()
  })

  it('waits what a 429 Retry-After says, then gives the record to the dead-letter hook after the last attempt', async () => {
    const r = await receiver(() => ({ status: 429, headers: { 'retry-after': '1' } }))
    // random() = 0: without Retry-After the retries would be immediate.
    const { push, allDone, out } = deliver(target(r.url, { maxAttempts: 3 }), () => 0)
    push(alerts[0]!)
    await allDone()
    expect(out.attempts).toEqual(['retry', 'retry', 'failed'])
    expect(r.requests).toHaveLength(3)
    for (let i = 1; i < 3; i++) expect(r.requests[i]!.at - r.requests[i - 1]!.at).toBeGreaterThanOrEqual(995)
    expect(out.dead).toEqual([{ id: `${alerts[0]!.id}_${alerts[0]!.status}`, error: 'HTTP 429', attempts: 3 }])
    expect(out.done).toEqual([`${alerts[0]!.id}_${alerts[0]!.status}`])
  })

  it('gives up on an attempt with no answer within the timeout, and retries it', async () => {
    const r = await receiver(() => 'hang')
    const { push, allDone, out } = deliver(target(r.url, { timeoutSeconds: 0.2, maxAttempts: 2 }), () => 0)
    push(alerts[0]!)
    await allDone()
    expect(out.attempts).toEqual(['retry', 'failed'])
    expect(out.dead).toEqual([{ id: `${alerts[0]!.id}_${alerts[0]!.status}`, error: 'no answer within 0.2 s', attempts: 2 }])
  })

  it('does not retry a 4xx other than 408 and 429, and does not follow a redirect', async () => {
    const gone = await receiver(() => ({ status: 404 }))
    const a = deliver(target(gone.url))
    a.push(alerts[0]!)
    await a.allDone()
    expect(a.out.attempts).toEqual(['failed'])
    expect(a.out.dead[0]!.error).toBe('HTTP 404')

    const elsewhere = await receiver()
    const moved = await receiver(() => ({ status: 302, headers: { location: `${elsewhere.url}/stolen` } }))
    const b = deliver(target(moved.url))
    b.push(alerts[0]!)
    await b.allDone()
    expect(b.out.attempts).toEqual(['failed'])
    expect(b.out.dead[0]!.error).toBe('HTTP 302: redirects are not followed')
    expect(elsewhere.requests).toEqual([])
  })

  it('retries a refused connection', async () => {
    const r = await receiver()
    const url = r.url
    await r.close()
    receivers.splice(receivers.indexOf(r), 1)
    const { push, allDone, out } = deliver(target(url, { maxAttempts: 2 }), () => 0)
    push(alerts[0]!)
    await allDone()
    expect(out.attempts).toEqual(['retry', 'failed'])
    expect(out.dead[0]!.error).toBe('connection refused (ECONNREFUSED)')
  })

  it('names a TLS failure as one: a self-signed certificate is refused, with its code', async () => {
    // A test-only certificate for localhost (test/helpers/tls), not trusted by anyone.
    const tls = (file: string) => readFileSync(fileURLToPath(new URL(`../../helpers/tls/${file}`, import.meta.url)))
    const server = createHttpsServer({ key: tls('self-signed.key'), cert: tls('self-signed.crt') }, (_req, res) => res.end())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const { push, allDone, out } = deliver(target(`https://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, { maxAttempts: 1 }), () => 0)
      push(alerts[0]!)
      await allDone()
      expect(out.dead[0]!.error).toBe('TLS (DEPTH_ZERO_SELF_SIGNED_CERT)')
      expect(out.warnings).toEqual(['webhook target test: 1 failed attempt(s) since the last report, the latest: TLS (DEPTH_ZERO_SELF_SIGNED_CERT)'])
    } finally {
      server.close()
    }
  })
})

describe('webhook queue', () => {
  it('delivers the records of one alert in order: a resolution waits for its firing to get through', async () => {
    const resolved = alerts.find((a) => a.status === 'resolved')!
    const firing = alerts.find((a) => a.status === 'firing' && a.id === resolved.id)!
    // The firing fails twice; the resolution, pushed right after, would otherwise arrive first.
    let firingSeen = 0
    const r = await startReceiver((req) => ((JSON.parse(req.body) as Alert).status === 'firing' && firingSeen++ < 2 ? { status: 500 } : { status: 200 }))
    receivers.push(r)
    const { push, allDone } = deliver(target(r.url))
    push(firing)
    push(resolved)
    await allDone()
    expect(r.requests.map((q) => (JSON.parse(q.body) as Alert).status)).toEqual(['firing', 'firing', 'firing', 'resolved'])
  })

  it('keeps at most `concurrency` requests in flight', async () => {
    const slow = await startReceiver(() => 'hang')
    receivers.push(slow)
    const { push, d } = deliver(target(slow.url, { concurrency: 2, timeoutSeconds: 30 }))
    for (const a of alerts.slice(0, 6)) push(a)
    await slow.waitFor(2)
    await new Promise((r) => setTimeout(r, 200))
    expect(slow.requests).toHaveLength(2)
    expect(slow.concurrent.max).toBe(2)
    expect(d.depth).toBe(6)
  })

  it('is full at queueSize records and says when it has half its room again', async () => {
    const r = await receiver()
    const distinct = alerts.filter((a, i) => alerts.findIndex((b) => b.id === a.id) === i)
    const { push, d, out, allDone } = deliver(target(r.url, { queueSize: 4, concurrency: 1 }))
    for (const a of distinct.slice(0, 3)) push(a)
    expect(d.full).toBe(false)
    push(distinct[3]!)
    expect(d.full).toBe(true)
    await allDone()
    expect(d.depth).toBe(0)
    expect(out.rooms).toBe(1)
    expect(r.requests).toHaveLength(4)
  })
})

describe('webhook delivery when records move or the service stops', () => {
  it('drops the records of a partition this member lost: no retry, no dead letter, not done (the new owner sends them)', async () => {
    let owned = true
    const r = await receiver(() => {
      owned = false // the partition goes to another member while the first attempt is answered
      return { status: 503 }
    })
    // One attempt: without the ownership check the record would go to the dead-letter topic.
    const { push, out, d } = deliver(target(r.url, { maxAttempts: 1 }))
    push(alerts[0]!, () => owned)
    await r.waitFor(1)
    await new Promise((res) => setTimeout(res, 300))
    expect(r.requests).toHaveLength(1)
    expect(out.dead).toEqual([])
    expect(out.done).toEqual([])
    expect(d.depth).toBe(0)
  })

  it('stops at once though a retry is due in ten minutes, and attempts nothing after', async () => {
    const r = await receiver(() => ({ status: 429, headers: { 'retry-after': '600' } }))
    const { push, out, d } = deliver(target(r.url))
    push(alerts[0]!)
    await r.waitFor(1)
    await new Promise((res) => setTimeout(res, 50))
    await d.stop(1_000)
    push(alerts[1]!)
    await new Promise((res) => setTimeout(res, 200))
    expect(r.requests).toHaveLength(1)
    expect(out.attempts).toEqual(['retry'])
    expect(out.done).toEqual([])
  })
})

describe('webhook bounds: answers read up to a cap, non-public addresses refused', () => {
  const MiB = 1024 * 1024

  it('reads at most 4 KiB of an answer, then closes the connection: a 200 with a 100 MB body is delivered without taking the body in', async () => {
    expect(RESPONSE_BODY_CAP).toBe(4096)
    const r = await receiver(() => ({ status: 200, bodyBytes: 100 * MiB }))
    const { push, allDone, out } = deliver(target(r.url))
    push(alerts[0]!)
    await allDone()
    expect(out.attempts).toEqual(['success'])
    expect(out.dead).toEqual([])
    // The receiver writes only as fast as the client reads: what it got out is the cap plus the
    // socket and stream buffers (a few MB), then the client closed the connection (a whole-body read takes all 100 MB).
    const sent = await r.sent[0]!
    expect(sent.complete).toBe(false)
    expect(sent.bodyBytes).toBeLessThan(25 * MiB)
  })

  it('refuses an IP literal to loopback or link-local without allowPrivateNetworks when connecting: one attempt, no retry, dead-lettered with the reason, nothing reaches the receiver, no URL in the warning', async () => {
    const r = await receiver()
    const port = new URL(r.url).port
    // resolveWebhookTargets refuses these URLs already; the delivery checks again on its own.
    const cases = [
      [`${r.url}/hooks/T0KEN`, 'address 127.0.0.1 is loopback: refused (allowPrivateNetworks: false)'],
      [`http://[::ffff:127.0.0.1]:${port}/hooks/T0KEN`, 'address ::ffff:7f00:1 is loopback: refused (allowPrivateNetworks: false)'],
      ['http://169.254.169.254/latest/meta-data/T0KEN', 'address 169.254.169.254 is link-local: refused (allowPrivateNetworks: false)'],
    ] as const
    for (const [url, error] of cases) {
      const { push, allDone, out } = deliver({ ...target(url), allowPrivateNetworks: false })
      push(alerts[0]!)
      await allDone()
      expect(out.attempts).toEqual(['failed'])
      expect(out.dead).toEqual([{ id: `${alerts[0]!.id}_${alerts[0]!.status}`, error, attempts: 1 }])
      expect(out.warnings).toEqual([`webhook target test: 1 failed attempt(s) since the last report, the latest: ${error}`])
    }
    expect(r.requests).toEqual([])
  })

  it('refuses a name that resolves to loopback (localhost) after resolving it, and delivers to it with allowPrivateNetworks', async () => {
    const r = await receiver()
    const url = `${r.url.replace('127.0.0.1', 'localhost')}/hook`
    // A name passes the configuration: only what it resolves to, when connecting, tells.
    const refused = deliver(target(url, { allowPrivateNetworks: false }))
    refused.push(alerts[0]!)
    await refused.allDone()
    expect(refused.out.attempts).toEqual(['failed'])
    expect(refused.out.dead).toHaveLength(1)
    expect(refused.out.dead[0]!.error).toMatch(/^address (127\.0\.0\.1|::1) is loopback: refused \(allowPrivateNetworks: false\)$/)
    expect(r.requests).toEqual([])

    const allowed = deliver(target(url, { allowPrivateNetworks: true }))
    allowed.push(alerts[0]!)
    await allowed.allDone()
    expect(allowed.out.attempts).toEqual(['success'])
    expect(r.requests).toHaveLength(1)
  })

  it('classifies addresses: public ones allowed; unspecified, loopback, link-local, private, CGNAT, multicast, broadcast, reserved, and their IPv4-mapped and NAT64 forms refused', () => {
    const table: readonly (readonly [string, AddressCategory | null])[] = [
      ['8.8.8.8', null],
      ['1.1.1.1', null],
      ['172.15.255.255', null],
      ['172.32.0.1', null],
      ['100.128.0.1', null],
      ['2606:4700::1', null],
      ['::ffff:8.8.8.8', null],
      ['64:ff9b::8.8.8.8', null],
      ['169.254.169.254', 'link-local'],
      ['fe80::1', 'link-local'],
      ['fe80::1%eth0', 'link-local'],
      ['::ffff:169.254.169.254', 'link-local'],
      ['::ffff:a9fe:a9fe', 'link-local'],
      ['64:ff9b::a9fe:a9fe', 'link-local'],
      ['127.0.0.1', 'loopback'],
      ['127.255.0.9', 'loopback'],
      ['::1', 'loopback'],
      ['::ffff:127.0.0.1', 'loopback'],
      ['10.1.2.3', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.0.1', 'private'],
      ['192.168.0.1', 'private'],
      ['fd00::1', 'private'],
      ['fc00::1', 'private'],
      ['::ffff:10.0.0.1', 'private'],
      ['100.64.0.1', 'carrier-grade NAT'],
      ['100.127.255.255', 'carrier-grade NAT'],
      ['0.0.0.0', 'unspecified'],
      ['::', 'unspecified'],
      ['::ffff:0.0.0.0', 'unspecified'],
      ['224.0.0.1', 'multicast'],
      ['239.255.255.250', 'multicast'],
      ['ff02::1', 'multicast'],
      ['255.255.255.255', 'broadcast'],
      ['240.0.0.1', 'reserved'],
      ['192.0.2.1', 'reserved'],
      ['2001:db8::1', 'reserved'],
      ['2002:a9fe:a9fe::1', 'reserved'],
      ['::127.0.0.1', 'reserved'],
      ['100::1', 'reserved'],
    ]
    expect(table.map(([address]) => [address, classifyAddress(address)])).toEqual(table)
  })
})

describe('webhook targets in the configuration', () => {
  const base = { name: 'soc', format: 'standard', url: 'https://hooks.example.com/egress/T0KEN', secret: '${SOC_SECRET}' }

  it('fills ${VAR} from the environment and names the field and the variable when it is missing, never a value', () => {
    const config = parseConfig({ webhooks: { targets: [base] } }, DETECTORS)
    expect(resolveWebhookTargets(config.webhooks.targets, { SOC_SECRET: SECRET })[0]!.signingKey).toEqual(Buffer.from('egress-sentinel test secret, 32b'))
    expect(() => resolveWebhookTargets(config.webhooks.targets, {})).toThrow('webhooks.targets.0.secret (target soc): environment variable SOC_SECRET is not set')
    const message = (() => {
      try {
        resolveWebhookTargets(config.webhooks.targets, { SOC_SECRET: 'not-a-secret' })
        return 'no error'
      } catch (err) {
        return (err as Error).message
      }
    })()
    expect(message).toBe('webhooks.targets.0.secret (target soc): expected whsec_ followed by the base64 of 24 to 64 random bytes')
  })

  it('takes https only, http:// with allowHttp', () => {
    const http = { ...base, url: 'http://hooks.example.com/egress', secret: SECRET }
    expect(() => resolveWebhookTargets(parseConfig({ webhooks: { targets: [http] } }, DETECTORS).webhooks.targets, {})).toThrow(
      'webhooks.targets.0.url (target soc): expected https:// (http:// only with allowHttp: true, for local testing)',
    )
    expect(resolveWebhookTargets(parseConfig({ webhooks: { targets: [{ ...http, allowHttp: true }] } }, DETECTORS).webhooks.targets, {})[0]!.url.href).toBe(
      'http://hooks.example.com/egress',
    )
  })

  it('refuses an IP-literal URL to a non-public address without allowPrivateNetworks, naming the field and the address, never the URL', () => {
    const resolve = (url: string, over: Record<string, unknown> = {}) =>
      resolveWebhookTargets(parseConfig({ webhooks: { targets: [{ ...base, url, secret: SECRET, ...over }] } }, DETECTORS).webhooks.targets, {})
    expect(() => resolve('https://169.254.169.254/latest/T0KEN')).toThrow(
      'webhooks.targets.0.url (target soc): address 169.254.169.254 is link-local; set allowPrivateNetworks: true to deliver to it',
    )
    expect(() => resolve('https://10.1.2.3/T0KEN')).toThrow('webhooks.targets.0.url (target soc): address 10.1.2.3 is private; set allowPrivateNetworks: true to deliver to it')
    expect(() => resolve('https://[fd00::1]:8443/T0KEN')).toThrow('webhooks.targets.0.url (target soc): address fd00::1 is private; set allowPrivateNetworks: true to deliver to it')
    // The URL parser reads 0x7f.1 as 127.0.0.1: the literal checked is the one connected to.
    expect(() => resolve('https://0x7f.1/T0KEN')).toThrow('webhooks.targets.0.url (target soc): address 127.0.0.1 is loopback; set allowPrivateNetworks: true to deliver to it')
    expect(resolve('https://10.1.2.3/T0KEN', { allowPrivateNetworks: true })[0]!.allowPrivateNetworks).toBe(true)
    // A public literal, and a name (checked on what it resolves to, when connecting), pass.
    expect(resolve('https://8.8.8.8/T0KEN')[0]!.allowPrivateNetworks).toBe(false)
    expect(resolve('https://localhost/T0KEN')[0]!.url.hostname).toBe('localhost')
  })

  it('names the field a format needs, and a name used twice', () => {
    expect(() => parseConfig({ webhooks: { targets: [{ name: 'pd', format: 'pagerduty' }] } }, DETECTORS)).toThrow('webhooks.targets.0.routingKey: required for format pagerduty')
    expect(() => parseConfig({ webhooks: { targets: [{ name: 's', format: 'slack' }] } }, DETECTORS)).toThrow('webhooks.targets.0.url: required for format slack')
    expect(() => parseConfig({ webhooks: { targets: [base, base] } }, DETECTORS)).toThrow('webhooks.targets.1.name: "soc" names another target too')
  })

  it('shows placeholders as written and hides inline secrets and URL paths when printed', () => {
    const t = parseConfig({ webhooks: { targets: [base, { ...base, name: 'inline', secret: SECRET }] } }, DETECTORS).webhooks.targets
    expect(redactWebhookTarget(t[0]!)).toMatchObject({ url: 'https://hooks.example.com/<redacted>', secret: '${SOC_SECRET}' })
    expect(redactWebhookTarget(t[1]!)).toMatchObject({ secret: '<redacted>' })
    const slack = parseConfig({ webhooks: { targets: [{ name: 'chat', format: 'slack', url: '${HOOKS}/services/T0/B0/XYZ' }] } }, DETECTORS).webhooks.targets[0]!
    expect(redactWebhookTarget(slack).url).toBe('${HOOKS}/<redacted>')
  })
})
