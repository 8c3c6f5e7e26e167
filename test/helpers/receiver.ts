// A real HTTP receiver on loopback for webhook tests: it records every request and answers as the test scripts it.
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Received {
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
  /** performance.now() when the request's body was in. */
  readonly at: number
}

/** The three Standard Webhooks headers of a request, as a verifier takes them. */
export const signatureHeaders = (r: Received): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> => ({
  'webhook-id': String(r.headers['webhook-id']),
  'webhook-timestamp': String(r.headers['webhook-timestamp']),
  'webhook-signature': String(r.headers['webhook-signature']),
})

/**
 * How to answer: a status (and headers), after `delayMs` when given, or `hang` to never answer.
 * `bodyBytes`: a body of that many bytes, written only as fast as the client takes it.
 */
export type Answer = { readonly status: number; readonly headers?: Record<string, string>; readonly delayMs?: number; readonly bodyBytes?: number } | 'hang'

/** What went out of one answer by the time its connection closed. */
export interface Sent {
  /** Body bytes handed to the socket: at most the client's reads plus the socket buffers. */
  readonly bodyBytes: number
  /** Whether the whole answer went out. */
  readonly complete: boolean
}

export interface Receiver {
  readonly url: string
  readonly requests: Received[]
  /** Per request, in order: resolves once its answer is over (sent, or its connection closed). */
  readonly sent: Promise<Sent>[]
  /** Requests being answered right now, and the most at once. */
  readonly concurrent: { now: number; max: number }
  /** Resolves once `count` requests (on `path`, when given) have arrived. */
  waitFor(count: number, path?: string, timeoutMs?: number): Promise<Received[]>
  close(): Promise<void>
}

export const startReceiver = async (answer: (req: Received, index: number) => Answer): Promise<Receiver> => {
  const requests: Received[] = []
  const sent: Promise<Sent>[] = []
  const concurrent = { now: 0, max: 0 }
  const hanging = new Set<ServerResponse>()
  const waiters = new Set<() => void>()
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const received: Received = { path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: performance.now() }
      const index = requests.push(received) - 1
      let bodyBytes = 0
      sent[index] = new Promise((resolve) => res.on('close', () => resolve({ bodyBytes, complete: res.writableFinished })))
      concurrent.now++
      concurrent.max = Math.max(concurrent.max, concurrent.now)
      res.on('close', () => concurrent.now--)
      for (const w of waiters) w()
      const a = answer(received, index)
      if (a === 'hang') {
        hanging.add(res)
        return
      }
      const total = a.bodyBytes ?? 0
      const chunk = Buffer.alloc(Math.min(total, 64 * 1024), 'x')
      // Waits for 'drain' after each full socket buffer: what is written is what the client has taken, give or take those buffers.
      const writeBody = (): void => {
        while (bodyBytes < total && !res.destroyed) {
          const part = chunk.subarray(0, Math.min(chunk.length, total - bodyBytes))
          bodyBytes += part.length
          if (!res.write(part)) return void res.once('drain', writeBody)
        }
        if (!res.destroyed) res.end()
      }
      const send = (): void => {
        res.writeHead(a.status, { ...(total > 0 ? { 'content-length': String(total) } : {}), ...a.headers })
        if (total === 0) res.end()
        else {
          hanging.add(res)
          writeBody()
        }
      }
      if (a.delayMs === undefined) send()
      else {
        hanging.add(res)
        setTimeout(() => {
          hanging.delete(res)
          if (!res.destroyed) send()
        }, a.delayMs)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    sent,
    concurrent,
    waitFor: (count, path, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const matching = () => requests.filter((r) => path === undefined || r.path === path)
        const check = () => {
          if (matching().length < count) return
          waiters.delete(check)
          clearTimeout(timer)
          resolve(matching())
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`${matching().length} of ${count} requests${path === undefined ? '' : ` to ${path}`} within ${timeoutMs} ms`))
        }, timeoutMs)
        waiters.add(check)
        check()
      }),
    close: async () => {
      for (const res of hanging) res.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
