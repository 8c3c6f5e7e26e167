// `alerts`: the alerts topic for a person or a pipe: committed records only, filtered, one line each on a terminal or NDJSON, once or --follow.
import type { Command } from 'commander'
import { z } from 'zod'
import { deviceAlertSchema } from '../alerts/alert.ts'
import { serviceSettings } from '../config/service.ts'
import { AppError } from '../errors.ts'
import { createKafka, explainConnect, requireTopics } from '../kafka/client.ts'
import { followTopic, readToEnd } from '../kafka/read.ts'
import { kindOf, SEVERITIES } from '../types.ts'
import type { AlertRecord, Severity } from '../types.ts'
import { recordPrinter } from './shared.ts'

interface AlertsFlags {
  brokers?: string
  follow?: boolean
  from?: string
  detector?: string
  severity?: string
  device?: string
  kind?: string
  output?: string
}

/** `--from`: an ISO-8601 time, or a duration before now (`90m`, `6h`, `2d`). */
export const parseFrom = (text: string, now: number): number => {
  const d = /^(\d+(?:\.\d+)?)([smhd])$/.exec(text)
  if (d !== null) return now - Number(d[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[d[2] as 's' | 'm' | 'h' | 'd']
  const t = Date.parse(text)
  if (!/^\d{4}-\d\d-\d\d/.test(text) || Number.isNaN(t)) throw new AppError('EGD_USAGE', `--from: expected an ISO-8601 time (2026-11-02T18:00:00Z) or a duration before now (90m, 6h, 2d), got "${text}"`)
  return t
}

/** Whether a record passes the filters: --from (its event time), --detector, --severity (at least), --device (an id, or a prefix ending in *), --kind. */
export const alertFilter = (flags: AlertsFlags, now: number): ((r: AlertRecord) => boolean) => {
  const from = flags.from === undefined ? -Infinity : parseFrom(flags.from, now)
  const detectors = flags.detector === undefined ? null : new Set(flags.detector.split(',').map((d) => d.trim()))
  const severity = flags.severity ?? 'low'
  if (!SEVERITIES.includes(severity as Severity)) throw new AppError('EGD_USAGE', `--severity: expected one of ${SEVERITIES.join(', ')}, got "${severity}"`)
  const least = SEVERITIES.indexOf(severity as Severity)
  if (flags.kind !== undefined && flags.kind !== 'alert' && flags.kind !== 'notice') throw new AppError('EGD_USAGE', `--kind: expected alert or notice, got "${flags.kind}"`)
  const device = flags.device
  const deviceMatch = device === undefined ? null : device.endsWith('*') ? (id: string) => id.startsWith(device.slice(0, -1)) : (id: string) => id === device
  return (r) =>
    Date.parse(r.updatedAt) >= from &&
    (detectors === null || detectors.has(r.detector)) &&
    SEVERITIES.indexOf(r.severity) >= least &&
    (flags.kind === undefined || kindOf(r) === flags.kind) &&
    (deviceMatch === null || (r.scope === 'device' ? deviceMatch(r.deviceId) : false))
}

/** A campaign record as far as this command reads it (the contract is `CampaignRecord`). */
const campaignSchema = z.looseObject({
  id: z.string(), scope: z.literal('fleet'), kind: z.enum(['campaign', 'rollout']), detector: z.string(), status: z.enum(['firing', 'resolved']),
  revision: z.number(), severity: z.enum(SEVERITIES as [Severity, ...Severity[]]), previousSeverity: z.enum(SEVERITIES as [Severity, ...Severity[]]).nullable(),
  updatedAt: z.string(), summary: z.string(), model: z.string().nullable(), deviceCount: z.number(), models: z.array(z.string()),
})

/** A record of the topic, or null for one that is not a valid alert record (counted, reported once at the end). */
const recordOf = (m: { readonly value: Buffer | null }): AlertRecord | null => {
  let value: unknown
  try {
    value = JSON.parse(m.value?.toString('utf8') ?? '')
  } catch {
    return null
  }
  const scope = (value as { scope?: unknown } | null)?.scope
  const r = scope === 'fleet' ? campaignSchema.safeParse(value) : deviceAlertSchema.safeParse(value)
  return r.success ? (r.data as unknown as AlertRecord) : null
}

/** Record order for a finished read: event time, then id and revision. */
const byTime = (a: AlertRecord, b: AlertRecord): number =>
  a.updatedAt < b.updatedAt ? -1 : a.updatedAt > b.updatedAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : a.revision - b.revision

export const registerAlerts = (program: Command): void => {
  program
    .command('alerts')
    .description(
      'print the alerts topic: its committed records (read_committed: none of an aborted transaction), oldest first, filtered, ' +
        'as one line each on a terminal or NDJSON otherwise; --follow goes on with new records until SIGINT or SIGTERM. Nothing is committed: ' +
        'each call reads the retained topic in a consumer group of its own (<group>.alerts.*), deleted after. ' +
        'Environment: KAFKA_BROKERS, EGRESS_TOPIC_ALERTS, EGRESS_GROUP_ID; KAFKA_TLS, KAFKA_TLS_CA_FILE; KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE',
    )
    .option('-b, --brokers <list>', 'host:port[,host:port…] (default: $KAFKA_BROKERS)')
    .option('-f, --follow', 'after the retained records, print new ones as they are committed')
    .option('--from <time>', 'only records of this event time or later: ISO-8601, or a duration before now (90m, 6h, 2d)')
    .option('--detector <ids>', 'only these detectors (comma-separated)')
    .option('--severity <level>', 'only this severity or higher: low, medium, high, critical')
    .option('--device <id>', 'only this device (a prefix ending in * for several); campaigns have none')
    .option('--kind <kind>', 'only alerts or only notices')
    .option('-o, --output <format>', 'text (a line each, coloured on a terminal) or json (NDJSON); default: text on a terminal, json otherwise')
    .action(async (flags: AlertsFlags) => {
      const show = recordPrinter(flags.output)
      const keep = alertFilter(flags, Date.now())
      const service = serviceSettings(flags)
      const kafkaSettings = { brokers: service.brokers, clientId: 'egress-sentinel-alerts', security: service.security }
      // --follow ends on SIGINT or SIGTERM, heard from the start: one while connecting ends it cleanly too (exit 0).
      const until = flags.follow
        ? new Promise<void>((resolve) => {
            process.once('SIGTERM', () => resolve())
            process.once('SIGINT', () => resolve())
          })
        : null
      const kafka = createKafka(kafkaSettings)
      const topic = service.topics.alerts
      const connected = explainConnect(kafkaSettings, () => requireTopics(kafka, [topic])).then(() => true)
      if (!(await (until === null ? connected : Promise.race([connected, until.then(() => false)])))) return
      let invalid = 0
      const groupPrefix = `${service.groupId}.alerts`
      if (!flags.follow) {
        const records: AlertRecord[] = []
        await readToEnd({ kafka, topic, groupPrefix, onMessage: (m) => {
          const r = recordOf(m)
          if (r === null) invalid++
          else if (keep(r)) records.push(r)
        } })
        records.sort(byTime)
        for (let i = 0; i < records.length; i += 512) process.stdout.write(records.slice(i, i + 512).map(show).join('\n') + '\n')
      } else {
        await followTopic({ kafka, topic, groupPrefix, until: until!, onMessage: (m) => {
          const r = recordOf(m)
          if (r === null) invalid++
          else if (keep(r)) process.stdout.write(show(r) + '\n')
        } })
      }
      if (invalid > 0) process.stderr.write(`egress-sentinel alerts: ${invalid} record(s) of ${topic} are not alert records, skipped\n`)
    })
}
