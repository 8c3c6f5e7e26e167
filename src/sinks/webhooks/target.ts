// One webhook target's delivery: a bounded queue, a concurrency limit, retries with full-jitter backoff and Retry-After, then the dead-letter hook; answers read up to a cap, addresses checked per connection.
import { setMaxListeners } from 'node:events'
import { fetch } from 'undici'
import type { Agent } from 'undici'
import type { WebhookTarget } from '../../config/webhooks.ts'
import { kindOf, SEVERITIES } from '../../types.ts'
import type { AlertRecord } from '../../types.ts'
import { RefusedAddressError } from './address.ts'
import { createDispatcher } from './dispatcher.ts'
import { buildRequest } from './request.ts'

export interface DeliveryItem {
  readonly alert: AlertRecord
  /** The alert record as read from the alerts topic. */
  readonly record: string
  /** Called once, when the record is delivered or dead-lettered. */
  readonly done: () => void
  /** False once the record is no longer this member's (its partition went to another): it is then dropped, undone. */
  readonly live: () => boolean
}

/** What one attempt came to: success (2xx); retry (failed, another attempt follows); failed (failed, no attempt follows). */
export type AttemptResult = 'success' | 'retry' | 'failed'

export interface DeliveryHooks {
  attempted(result: AttemptResult, seconds: number): void
  /** Stores a record no attempt delivered; resolves once it is stored (it retries on its own). */
  deadLetter(item: DeliveryItem, error: string, attempts: number): Promise<void>
  /** The queue was full and has half its room again. */
  room(): void
  /** Failures, at most one line a minute, never a URL or a secret. */
  warn(message: string): void
}

export interface DeliveryOptions {
  readonly random?: () => number
  readonly now?: () => number
}

interface Job {
  readonly item: DeliveryItem
  attempts: number
  lastError: string
  /** Whether this job holds its alert id (later records of the alert wait for it). */
  holdsId: boolean
}

class TimeoutError extends Error {}

/**
 * The most of an answer's body read: only its status counts, and a receiver answering with a huge
 * body once took the service to 4.85 GB when bodies were read whole.
 */
export const RESPONSE_BODY_CAP = 4096

/** Reads a body until its end or `cap` bytes (the chunk crossing it included); the caller cancels the rest. */
const readUpTo = async (body: ReadableStreamDefaultReader<Uint8Array>, cap: number): Promise<void> => {
  for (let read = 0; read < cap; ) {
    const chunk = await body.read()
    if (chunk.done) return
    read += chunk.value.byteLength
  }
}

/** Answers worth another attempt: too many requests, request timeout, server errors. */
const retryable = (status: number): boolean => status === 408 || status === 429 || status >= 500

/** `Retry-After` in milliseconds from now: delay-seconds or an HTTP date; null when absent or unreadable. */
export const retryAfterMs = (value: string | null, nowMs: number): number | null => {
  if (value === null) return null
  const text = value.trim()
  if (/^\d+$/.test(text)) return Number(text) * 1000
  const at = Date.parse(text)
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs)
}

/** Full jitter: uniformly up to initial × 2^(attempts − 1), capped. */
export const backoffMs = (target: Pick<WebhookTarget, 'backoffInitialMs' | 'backoffMaxMs'>, attempts: number, random: number): number =>
  random * Math.min(target.backoffMaxMs, target.backoffInitialMs * 2 ** (attempts - 1))

export class TargetDelivery {
  readonly #target: WebhookTarget
  readonly #hooks: DeliveryHooks
  readonly #random: () => number
  readonly #now: () => number
  readonly #minSeverity: number
  /** Jobs ready for an attempt: retries first, then new records in order. */
  readonly #retries: Job[] = []
  readonly #fresh: Job[] = []
  #freshHead = 0
  /** Alert ids with a job under way (in flight or waiting to retry), and the later jobs for them, parked in order. */
  readonly #busy = new Map<string, Job[]>()
  readonly #timers = new Set<NodeJS.Timeout>()
  /** This target's connections, each to an address its allowPrivateNetworks permits. */
  readonly #dispatcher: Agent
  readonly #stop = new AbortController()
  #stopping = false
  readonly #inFlight = new Set<Promise<void>>()
  #depth = 0
  #wasFull = false
  #failuresSinceWarn = 0
  #lastWarnAt = -Infinity

  constructor(target: WebhookTarget, hooks: DeliveryHooks, options: DeliveryOptions = {}) {
    this.#target = target
    this.#hooks = hooks
    this.#random = options.random ?? Math.random
    this.#now = options.now ?? Date.now
    this.#minSeverity = SEVERITIES.indexOf(target.minSeverity)
    this.#dispatcher = createDispatcher(target.allowPrivateNetworks)
    // Each request in flight listens for the stop.
    setMaxListeners(0, this.#stop.signal)
  }

  get name(): string {
    return this.#target.name
  }

  /** Records held: queued, in flight, waiting to retry, being dead-lettered. */
  get depth(): number {
    return this.#depth
  }

  get full(): boolean {
    return this.#depth >= this.#target.queueSize
  }

  /**
   * Whether this target takes the record at all: its scopes, kinds, statuses and minimum severity.
   * Of an alert's or a campaign's firing records only the first that reaches the minimum severity
   * (its page: an alert escalated from medium to critical pages a critical target once), unless
   * campaignUpdates (campaigns) or escalations (device alerts); its resolution when it reaches it.
   */
  wants(alert: AlertRecord): boolean {
    const t = this.#target
    if (!t.scopes.has(alert.scope) || !t.statuses.has(alert.status) || SEVERITIES.indexOf(alert.severity) < this.#minSeverity) return false
    if (!t.kinds.has(kindOf(alert))) return false
    if (alert.status === 'resolved' || (alert.scope === 'fleet' ? t.campaignUpdates : t.escalations)) return true
    // Records from before revisions have no previousSeverity: each is its alert's one firing record.
    const previous = alert.previousSeverity ?? null
    return previous === null || SEVERITIES.indexOf(previous) < this.#minSeverity
  }

  push(item: DeliveryItem): void {
    if (this.#stopping) return
    this.#depth++
    if (this.full) this.#wasFull = true
    this.#fresh.push({ item, attempts: 0, lastError: '', holdsId: false })
    this.#pump()
  }

  /**
   * Stops: no new attempt starts, retries waiting are dropped, requests in flight are aborted
   * after `graceMs`. What is not done is read again from the alerts topic by the next owner.
   */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    this.#retries.length = 0
    this.#fresh.length = 0
    this.#freshHead = 0
    const settled = Promise.allSettled([...this.#inFlight])
    const grace = setTimeout(() => this.#stop.abort(), graceMs)
    await settled
    clearTimeout(grace)
    this.#stop.abort()
    await this.#dispatcher.destroy().catch(() => undefined)
  }

  #next(): Job | undefined {
    if (this.#retries.length > 0) return this.#retries.shift()
    if (this.#freshHead < this.#fresh.length) {
      const job = this.#fresh[this.#freshHead]!
      this.#fresh[this.#freshHead++] = undefined as never
      if (this.#freshHead > 1024 && this.#freshHead * 2 > this.#fresh.length) {
        this.#fresh.splice(0, this.#freshHead)
        this.#freshHead = 0
      }
      return job
    }
    return undefined
  }

  #pump(): void {
    while (this.#inFlight.size < this.#target.concurrency && !this.#stopping) {
      const job = this.#next()
      if (job === undefined) return
      if (!job.item.live()) {
        this.#drop(job)
        continue
      }
      if (!job.holdsId) {
        // Records of one alert go in order: a resolution never overtakes its firing.
        const parked = this.#busy.get(job.item.alert.id)
        if (parked !== undefined) {
          parked.push(job)
          continue
        }
        this.#busy.set(job.item.alert.id, [])
        job.holdsId = true
      }
      // A dead letter not written when stopping leaves the record unfinished: the next owner has it.
      const p: Promise<void> = this.#attempt(job).catch((err: Error) => {
        if (this.#stopping) return
        this.#hooks.warn(`webhook target ${this.#target.name}: ${err.message}; the record is left to the next owner`)
        this.#drop(job)
      }).finally(() => {
        this.#inFlight.delete(p)
        this.#pump()
      })
      this.#inFlight.add(p)
    }
  }

  async #attempt(job: Job): Promise<void> {
    job.attempts++
    const started = performance.now()
    let status = 0
    let retryAfter: number | null = null
    /** An address this target may not connect to: no later attempt would get further. */
    let refused = false
    // The attempt's own timer, raced against the request rather than trusted to abort it: a fetch
    // may miss an abort signal that was garbage-collected (nodejs/node#55428).
    const abort = new AbortController()
    let timer: NodeJS.Timeout | undefined
    const onStop = (): void => abort.abort(new Error('stopping'))
    const ended = new Promise<never>((_, reject) => {
      timer = setTimeout(() => abort.abort(new TimeoutError()), this.#target.timeoutMs)
      abort.signal.addEventListener('abort', () => reject(abort.signal.reason as Error), { once: true })
    })
    ended.catch(() => undefined)
    this.#stop.signal.addEventListener('abort', onStop, { once: true })
    try {
      const req = buildRequest(this.#target, job.item.alert, job.item.record, this.#now())
      const res = await Promise.race([
        fetch(this.#target.url, { method: 'POST', headers: req.headers, body: req.body, redirect: 'manual', signal: abort.signal, dispatcher: this.#dispatcher }),
        ended,
      ])
      status = res.status
      retryAfter = retryAfterMs(res.headers.get('retry-after'), this.#now())
      const body = res.body?.getReader()
      try {
        await Promise.race([body === undefined ? undefined : readUpTo(body, RESPONSE_BODY_CAP), ended])
      } finally {
        // Past the cap, on a timeout or when stopping: cancelling closes the connection rather than reading on.
        void body?.cancel().catch(() => undefined)
      }
      job.lastError = `HTTP ${status}`
    } catch (err) {
      if (this.#stop.signal.aborted) return // stopping: the next owner delivers it
      const e = err as Error & { cause?: { code?: string } }
      if (e.cause instanceof RefusedAddressError) {
        refused = true
        job.lastError = e.cause.message
      } else {
        const why = e instanceof TimeoutError ? `no answer within ${this.#target.timeoutMs / 1000} s` : failureOf(e)
        // An answer whose body did not come keeps its status: a 2xx is delivered, a 404 is not retried.
        job.lastError = status === 0 ? why : `HTTP ${status} (${why} reading the body)`
      }
    } finally {
      clearTimeout(timer)
      this.#stop.signal.removeEventListener('abort', onStop)
    }
    const seconds = (performance.now() - started) / 1000
    if (status >= 200 && status < 300) {
      this.#hooks.attempted('success', seconds)
      this.#finish(job)
      return
    }
    if (status >= 300 && status < 400) job.lastError = `HTTP ${status}: redirects are not followed`
    this.#noteFailure(job.lastError)
    if (this.#stopping) return // the next owner delivers it
    if (!job.item.live()) {
      this.#hooks.attempted('retry', seconds)
      this.#drop(job) // its new owner has it
      return
    }
    if (!refused && (status === 0 || retryable(status)) && job.attempts < this.#target.maxAttempts) {
      this.#hooks.attempted('retry', seconds)
      const delay = retryAfter !== null ? Math.min(retryAfter, this.#target.maxRetryAfterMs) : backoffMs(this.#target, job.attempts, this.#random())
      const timer = setTimeout(() => {
        this.#timers.delete(timer)
        this.#retries.push(job)
        this.#pump()
      }, delay)
      this.#timers.add(timer)
      return
    }
    this.#hooks.attempted('failed', seconds)
    await this.#hooks.deadLetter(job.item, job.lastError, job.attempts)
    this.#finish(job)
  }

  /** Forgets a record without marking it done: it is read again, here or by another member. */
  #drop(job: Job): void {
    this.#release(job)
    this.#shrink()
  }

  #finish(job: Job): void {
    this.#release(job)
    job.item.done()
    this.#shrink()
  }

  #release(job: Job): void {
    if (!job.holdsId) return
    const id = job.item.alert.id
    const next = this.#busy.get(id)?.shift()
    if (next === undefined) this.#busy.delete(id)
    else {
      // The next record of the same alert takes over the id, ahead of new records.
      next.holdsId = true
      this.#retries.unshift(next)
    }
  }

  #shrink(): void {
    this.#depth--
    if (this.#wasFull && this.#depth <= this.#target.queueSize / 2) {
      this.#wasFull = false
      this.#hooks.room()
    }
  }

  #noteFailure(error: string): void {
    this.#failuresSinceWarn++
    const now = this.#now()
    if (now - this.#lastWarnAt < 60_000) return
    this.#hooks.warn(`webhook target ${this.#target.name}: ${this.#failuresSinceWarn} failed attempt(s) since the last report, the latest: ${error}`)
    this.#failuresSinceWarn = 0
    this.#lastWarnAt = now
  }
}

/** What a failed request ran into, in words an operator acts on, with the system's code: the network, DNS, TLS. */
const failureOf = (e: Error & { cause?: { code?: string; message?: string } }): string => {
  const code = e.cause?.code
  if (code === undefined) return e.cause?.message ?? e.name
  const words = FAILURES[code] ?? (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_|HOSTNAME_MISMATCH|ALTNAME/.test(code) ? 'TLS' : null)
  return words === null ? code : `${words} (${code})`
}
const FAILURES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed',
  UND_ERR_SOCKET: 'connection closed',
  ETIMEDOUT: 'connect timeout',
  UND_ERR_CONNECT_TIMEOUT: 'connect timeout',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'DNS: no address for the host',
  EAI_AGAIN: 'DNS: lookup failed for now',
  ENODATA: 'DNS: no address for the host',
}
