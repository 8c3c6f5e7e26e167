// The service's HTTP endpoints: /livez (the process), /readyz and /healthz (group joined, producer connected, not stopping).
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface HealthServer {
  /** The address actually bound (port 0 picks a free one). */
  readonly address: string
  close(): Promise<void>
}

export const startHealthServer = async (host: string, port: number, ready: () => boolean): Promise<HealthServer> => {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    const reply = (status: number, body: string): void => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
      res.end(body + '\n')
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'method not allowed')
    if (path === '/livez') return reply(200, 'ok')
    if (path === '/readyz' || path === '/healthz') return ready() ? reply(200, 'ready') : reply(503, 'not ready')
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
