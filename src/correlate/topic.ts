// Campaigns on the alerts topic: reads the topic's device alerts to its end, correlates them, and adds the campaign records the topic does not hold yet.
import type { createKafka } from '../kafka/client.ts'
import { createProducer } from '../kafka/client.ts'
import { readToEnd } from '../kafka/read.ts'
import { sendRecords } from '../sinks/kafka.ts'
import type { Alert } from '../types.ts'
import { correlateAll } from './campaigns.ts'
import type { CampaignSettings } from './campaigns.ts'
import { decodeAlertRecord } from './read.ts'

export interface TopicPass {
  readonly alerts: number
  readonly invalid: number
  /** Campaigns the topic's alerts make. */
  readonly campaigns: number
  /** Campaign records written by this pass (those the topic did not hold yet). */
  readonly written: number
}

/**
 * One pass: every retained device alert of `topic` (committed records only), correlated in
 * `compareAlerts` order, so the result depends on the topic's content only, never on which `run`
 * member wrote which alert or in what order the partitions are read. A record whose id and revision
 * the topic already holds is not written again: a pass after a crash, or a second correlator,
 * completes what is missing instead of repeating it. Records are keyed by their behaviour.
 */
export const correlateTopic = async (
  kafka: ReturnType<typeof createKafka>,
  topic: string,
  groupPrefix: string,
  settings: CampaignSettings,
): Promise<TopicPass> => {
  const alerts: Alert[] = []
  const held = new Set<string>()
  let invalid = 0
  await readToEnd({
    kafka,
    topic,
    groupPrefix,
    onMessage: (m) => {
      const r = decodeAlertRecord(m.value?.toString('utf8') ?? '')
      if (r.kind === 'alert') alerts.push(r.alert)
      else if (r.kind === 'fleet') held.add(`${r.id}/${r.revision}`)
      else invalid++
    },
  })
  const records = correlateAll(alerts, settings)
  const missing = records.filter((r) => !held.has(`${r.id}/${r.revision}`))
  if (missing.length > 0) {
    const producer = createProducer(kafka)
    await producer.connect()
    try {
      await sendRecords(producer, [{ topic, records: missing.map((r) => ({ key: `${r.behaviour}/${r.model ?? '*'}`, value: JSON.stringify(r) })) }])
    } finally {
      await producer.disconnect()
    }
  }
  return { alerts: alerts.length, invalid, campaigns: new Set(records.map((r) => r.id)).size, written: missing.length }
}
