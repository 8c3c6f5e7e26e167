// The service's HTTP endpoints: /livez (the process), /readyz and /healthz (ready to consume), /metrics (Prometheus, optionally behind a bearer token).
import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface HealthServer {
  /** The address actually bound (port 0 picks a free one). */
  readonly address: string
  close(): Promise<void>
}

export interface Endpoints {
  readonly ready: () => boolean
  /** What /readyz says after `ready` or `not ready` (why not; what waits). */
  readonly detail?: () => string
  /** The metrics exposition and its content type. */
  readonly metrics: () => Promise<{ readonly contentType: string; readonly body: string }>
  /** When set, /metrics answers 401 unless the request carries `Authorization: Bearer <token>`. */
  readonly metricsToken?: string | undefined
}

/** Compares two secrets in constant time (digests first, so lengths do not leak either). */
const sameSecret = (a: string, b: string): boolean =>
  timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest())

export const startHealthServer = async (host: string, port: number, endpoints: Endpoints): Promise<HealthServer> => {
  const { ready, metrics, metricsToken, detail } = endpoints
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    const reply = (status: number, body: string, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers })
      res.end(body + '\n')
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'method not allowed')
    if (path === '/livez') return reply(200, 'ok')
    if (path === '/readyz' || path === '/healthz') {
      const more = detail?.() ?? ''
      return ready() ? reply(200, more === '' ? 'ready' : `ready: ${more}`) : reply(503, more === '' ? 'not ready' : `not ready: ${more}`)
    }
    if (path === '/metrics') {
      if (metricsToken !== undefined) {
        const auth = req.headers.authorization ?? ''
        if (!auth.startsWith('Bearer ') || !sameSecret(auth.slice(7), metricsToken)) {
          return reply(401, 'unauthorized', { 'www-authenticate': 'Bearer realm="metrics"' })
        }
      }
      metrics().then(
        ({ contentType, body }) => {
          res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' })
          res.end(body)
        },
        () => reply(500, 'metrics unavailable'),
      )
      return
    }
    return reply(404, 'not found')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  const a = server.address() as AddressInfo
  return {
    address: `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
