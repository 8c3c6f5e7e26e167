// Campaigns on the alerts topic: reads the topic's device alerts to its end, correlates them, and adds the campaign records the topic does not hold yet.
import type { createKafka } from '../kafka/client.ts'
import { createProducer } from '../kafka/client.ts'
import { readToEnd } from '../kafka/read.ts'
import { sendRecords } from '../sinks/kafka.ts'
import type { Alert } from '../types.ts'
import { alertTime, correlateAll } from './campaigns.ts'
import type { CampaignSettings } from './campaigns.ts'
import { decodeAlertRecord } from './read.ts'

export interface TopicPass {
  readonly alerts: number
  readonly invalid: number
  /** Campaigns the topic's alerts make. */
  readonly campaigns: number
  /** Campaign records written by this pass (those the topic did not hold yet). */
  readonly written: number
  /** Records held back: past the watermark, a later pass writes them. */
  readonly held: number
  /** Event time up to which the pass wrote (null: the topic holds no alert yet, or all with `complete`). */
  readonly watermark: number | null
}

export interface TopicPassOptions {
  readonly settings: CampaignSettings
  /**
   * How far behind its partition's newest alert an alert may still come (event time). Alerts
   * topic partitions fill at the pace of the shards that write them, each roughly in event-time
   * order: the watermark is the least of the partitions' newest alert times, less this.
   */
  readonly graceMs: number
  /** The topic holds every alert there will be (a finished replay through the broker, a dump): write all. */
  readonly complete: boolean
}

/**
 * One pass: every retained device alert of `topic` (committed records only), correlated in
 * `compareAlerts` order, so the result depends on the topic's content only, never on which `run`
 * member wrote which alert or in what order the partitions are read. Only records up to the
 * watermark are written (all with `complete`): an alert that a lagging partition still owes cannot
 * change them. A record whose id and revision the topic already holds is not written again: a
 * pass after a crash completes what is missing instead of repeating it. Records are keyed by
 * `<behaviour>/<model or *>`.
 */
export const correlateTopic = async (
  kafka: ReturnType<typeof createKafka>,
  topic: string,
  groupPrefix: string,
  options: TopicPassOptions,
): Promise<TopicPass> => {
  const alerts: Alert[] = []
  const written = new Set<string>()
  /** The newest alert time per partition. */
  const newest = new Map<number, number>()
  let invalid = 0
  await readToEnd({
    kafka,
    topic,
    groupPrefix,
    onMessage: (m, partition) => {
      const r = decodeAlertRecord(m.value?.toString('utf8') ?? '')
      if (r.kind === 'alert') {
        alerts.push(r.alert)
        const t = alertTime(r.alert)
        if (t > (newest.get(partition) ?? -Infinity)) newest.set(partition, t)
      } else if (r.kind === 'fleet') written.add(`${r.id}/${r.revision}`)
      else invalid++
    },
  })
  const watermark = options.complete || newest.size === 0 ? null : Math.min(...newest.values()) - options.graceMs
  const records = correlateAll(alerts, options.settings, watermark ?? undefined)
  const due = watermark === null ? records : records.filter((r) => Date.parse(r.updatedAt) <= watermark)
  const missing = due.filter((r) => !written.has(`${r.id}/${r.revision}`))
  if (missing.length > 0) {
    const producer = createProducer(kafka)
    await producer.connect()
    try {
      await sendRecords(producer, [{ topic, records: missing.map((r) => ({ key: `${r.behaviour}/${r.model ?? '*'}`, value: JSON.stringify(r) })) }])
    } finally {
      await producer.disconnect()
    }
  }
  return {
    alerts: alerts.length, invalid, campaigns: new Set(due.map((r) => r.id)).size, written: missing.length,
    held: records.length - due.length, watermark: options.complete ? null : watermark,
  }
}
