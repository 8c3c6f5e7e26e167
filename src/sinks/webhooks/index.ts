// Webhook delivery for `run`: each target follows the alerts topic (committed records only) in a consumer group of its own, so a slow or dead target never slows detection, nor the other targets.
import type { WebhookTarget } from '../../config/webhooks.ts'
import { createProducer } from '../../kafka/client.ts'
import type { createKafka } from '../../kafka/client.ts'
import { startTail } from '../../kafka/tail.ts'
import type { Tail } from '../../kafka/tail.ts'
import type { ServiceMetrics } from '../../metrics.ts'
import { WEBHOOK_RESULTS } from '../../metrics.ts'
import type { AlertRecord } from '../../types.ts'
import { TargetDelivery } from './target.ts'
import type { DeliveryItem } from './target.ts'

export interface WebhooksOptions {
  readonly kafka: ReturnType<typeof createKafka>
  /** The service's consumer group; each target's group is `<groupId>.webhook.<target>`. */
  readonly groupId: string
  readonly alertsTopic: string
  readonly dlqTopic: string
  readonly sessionTimeoutMs: number
  readonly targets: readonly WebhookTarget[]
  readonly metrics: ServiceMetrics
  readonly warn: (message: string) => void
  /** A target's reader of the alerts topic stopped for good (a non-retriable error): its deliveries would stall. */
  readonly onDead?: (error: Error) => void
  /** A record given up on is on the dead-letter topic. */
  readonly onDeadLetter?: () => void
}

export interface Webhooks {
  /** Records each target holds. */
  forEachTarget(visit: (target: string, depth: number) => void): void
  /** Stops reading; deliveries in flight get `graceMs` to finish; the rest is read again by the next owner. */
  stop(graceMs: number): Promise<void>
}

/** The reason of webhook dead letters on the dead-letter topic and in `egress_dlq_total`. */
export const WEBHOOK_DLQ_REASON = 'webhook_undeliverable'

export const startWebhooks = async (opts: WebhooksOptions): Promise<Webhooks> => {
  const { metrics, warn } = opts
  const producer = createProducer(opts.kafka)
  await producer.connect()
  /** Aborted when stopping: a dead letter not written by then is left to the next owner. */
  const stopping = new AbortController()
  const stopped = new Promise<never>((_, reject) => stopping.signal.addEventListener('abort', () => reject(new Error('stopping')), { once: true }))
  stopped.catch(() => undefined)
  const pause = (ms: number) => Promise.race([new Promise((r) => setTimeout(r, ms).unref()), stopped])

  const started: { delivery: TargetDelivery; tail: Tail }[] = []
  /** One target: its delivery, and its follower of the alerts topic (the targets start side by side). */
  const startTarget = async (target: WebhookTarget): Promise<void> => {
    for (const result of WEBHOOK_RESULTS) metrics.webhookDeliveries.inc({ target: target.name, result }, 0)
    /** Where each record held came from, for its dead letter. */
    const origin = new WeakMap<DeliveryItem, { partition: number; offset: string }>()
    let tail: Tail | null = null
    let lastDlqWarnAt = -Infinity
    const delivery = new TargetDelivery(target, {
      attempted: (result, seconds) => {
        metrics.webhookDeliveries.inc({ target: target.name, result })
        metrics.webhookSeconds.observe({ target: target.name }, seconds)
      },
      deadLetter: async (item, error, attempts) => {
        const from = origin.get(item)!
        const value = JSON.stringify({
          reason: WEBHOOK_DLQ_REASON,
          error: `webhook target ${target.name}: ${error} after ${attempts} attempt(s)`,
          topic: opts.alertsTopic, partition: from.partition, offset: from.offset, target: target.name, raw: item.record,
        })
        // Never dropped: the record stays unfinished (and uncommitted) until the dead-letter topic has it.
        for (let tries = 1; ; tries++) {
          try {
            await Promise.race([producer.send({ topic: opts.dlqTopic, acks: -1, messages: [{ key: item.alert.scope === 'device' ? item.alert.deviceId : item.alert.id, value }] }), stopped])
            break
          } catch (err) {
            if (stopping.signal.aborted) throw err
            const now = Date.now()
            if (now - lastDlqWarnAt >= 60_000) {
              lastDlqWarnAt = now
              warn(`webhook target ${target.name}: cannot write a dead letter to ${opts.dlqTopic} (${(err as Error).message}); trying again`)
            }
            await pause(Math.min(30_000, 1_000 * 2 ** Math.min(tries - 1, 5)))
          }
        }
        metrics.webhookDeliveries.inc({ target: target.name, result: 'dead_letter' })
        metrics.dlq.inc({ reason: WEBHOOK_DLQ_REASON })
        opts.onDeadLetter?.()
      },
      room: () => tail?.resume(),
      warn,
    })
    tail = await startTail({
      kafka: opts.kafka,
      groupId: `${opts.groupId}.webhook.${target.name}`,
      topic: opts.alertsTopic,
      sessionTimeoutMs: opts.sessionTimeoutMs,
      full: () => delivery.full,
      onCrash: (error) => {
        warn(`webhook target ${target.name}: its reader of ${opts.alertsTopic} stopped (${error.message})`)
        opts.onDead?.(error)
      },
      onRecord: (record, done, live) => {
        const text = record.value?.toString('utf8') ?? ''
        let alert: AlertRecord | null = null
        try {
          alert = JSON.parse(text) as AlertRecord
        } catch {
          // left null
        }
        // The service writes every record of the alerts topic: anything else there is not an alert to send.
        if (typeof alert !== 'object' || alert === null || typeof alert.id !== 'string' || typeof alert.status !== 'string' ||
          (alert.scope !== 'device' && alert.scope !== 'fleet')) return done()
        if (!delivery.wants(alert)) return done()
        const item: DeliveryItem = { alert, record: text, done, live }
        origin.set(item, { partition: record.partition, offset: record.offset })
        delivery.push(item)
      },
    })
    started.push({ delivery, tail })
  }
  const results = await Promise.allSettled(opts.targets.map(startTarget))
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed !== undefined) {
    const err = failed.reason as Error
    stopping.abort()
    await Promise.allSettled(started.map((s) => s.tail.stop(() => s.delivery.stop(0))))
    await producer.disconnect().catch(() => undefined)
    throw err
  }

  return {
    forEachTarget: (visit) => {
      for (const s of started) visit(s.delivery.name, s.delivery.depth)
    },
    stop: async (graceMs) => {
      stopping.abort()
      await Promise.allSettled(started.map((s) => s.tail.stop(() => s.delivery.stop(graceMs))))
      await producer.disconnect().catch(() => undefined)
    },
  }
}
