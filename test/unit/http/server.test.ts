// The HTTP endpoints on loopback: liveness, readiness, and /metrics behind its bearer token.
import { afterEach, describe, expect, it } from 'vitest'
import { startHealthServer } from '../../../src/http/server.ts'
import type { HealthServer } from '../../../src/http/server.ts'

const TOKEN = 'metrics-token-0123456789'
let server: HealthServer | null = null
afterEach(async () => {
  await server?.close()
  server = null
})

const start = async (ready: boolean, metricsToken?: string): Promise<string> => {
  server = await startHealthServer('127.0.0.1', 0, {
    ready: () => ready,
    metrics: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: 'egress_up 1\n' }),
    metricsToken,
  })
  return `http://${server.address}`
}

describe('HTTP endpoints', () => {
  it('answer /livez always, /readyz and /healthz only when ready', async () => {
    const base = await start(false)
    expect((await fetch(`${base}/livez`)).status).toBe(200)
    expect((await fetch(`${base}/readyz`)).status).toBe(503)
    expect((await fetch(`${base}/healthz`)).status).toBe(503)
    expect((await fetch(`${base}/nope`)).status).toBe(404)
    expect((await fetch(`${base}/livez`, { method: 'POST' })).status).toBe(405)
  })

  it('say on /readyz why the member is not ready, or what waits while it is', async () => {
    let ready = false
    let detail = 'restoring state'
    server = await startHealthServer('127.0.0.1', 0, { ready: () => ready, detail: () => detail, metrics: async () => ({ contentType: 'text/plain', body: '' }) })
    const base = `http://${server.address}`
    expect(await (await fetch(`${base}/readyz`)).text()).toBe('not ready: restoring state\n')
    ready = true
    detail = '2 of 3 shards wait for the fleet view: another shard is behind'
    const waiting = await fetch(`${base}/readyz`)
    expect([waiting.status, await waiting.text()]).toEqual([200, 'ready: 2 of 3 shards wait for the fleet view: another shard is behind\n'])
    detail = ''
    expect(await (await fetch(`${base}/healthz`)).text()).toBe('ready\n')
  })

  it('serve /metrics to anyone when no token is set', async () => {
    const base = await start(true)
    const res = await fetch(`${base}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('version=0.0.4')
    expect(await res.text()).toBe('egress_up 1\n')
  })

  it('serve /metrics only with the bearer token when one is set', async () => {
    const base = await start(true, TOKEN)
    const none = await fetch(`${base}/metrics`)
    expect(none.status).toBe(401)
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="metrics"')
    expect((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}x` } })).status).toBe(401)
    expect((await fetch(`${base}/metrics`, { headers: { authorization: TOKEN } })).status).toBe(401)
    const ok = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
    expect(ok.status).toBe(200)
    expect(await ok.text()).toBe('egress_up 1\n')
    // Readiness stays open: orchestrators probe it without credentials.
    expect((await fetch(`${base}/readyz`)).status).toBe(200)
  })
})
