// `correlate`: campaigns from device alerts, offline from alert files (replay's output, a topic dump).
import type { Command } from 'commander'
import { DETECTORS } from '../../detectors/index.ts'
import { loadConfig } from '../config/load.ts'
import { campaignSettings } from '../config/schema.ts'
import { correlateAll } from '../correlate/campaigns.ts'
import type { Config } from '../config/schema.ts'
import { decodeAlertRecord } from '../correlate/read.ts'
import { correlateTopic } from '../correlate/topic.ts'
import { serviceSettings } from '../config/service.ts'
import { createKafka, explainConnect, requireTopics } from '../kafka/client.ts'
import { AppError } from '../errors.ts'
import { expandInputs, forEachLine } from '../sources/file.ts'
import type { Alert } from '../types.ts'

const MAX_ERRORS_SHOWN = 5

interface CorrelateFlags {
  config?: string
  quiet?: boolean
  kafka?: boolean
  brokers?: string
  follow?: string
  complete?: boolean
}

/**
 * SIGTERM or SIGINT: the pass under way finishes, then the command exits 0. Listeners are taken
 * once, so a second signal ends the process at once (a pass stuck on an unreachable broker).
 */
const stopSignal = (): { wait: (ms: number) => Promise<void>; stopped: () => boolean } => {
  let stop = false
  let wake: () => void = () => undefined
  const onSignal = (): void => {
    stop = true
    wake()
  }
  process.once('SIGTERM', onSignal)
  process.once('SIGINT', onSignal)
  return {
    wait: (ms) => new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      wake = () => {
        clearTimeout(timer)
        resolve()
      }
    }),
    stopped: () => stop,
  }
}

const parseFollow = (text: string | undefined): number | null => {
  if (text === undefined) return null
  const every = Number(text)
  if (!Number.isFinite(every) || every < 1 || every > 86_400) throw new AppError('EGD_USAGE', `--follow: expected seconds from 1 to 86400, got "${text}"`)
  return every
}

/** `correlate --kafka`: passes over the alerts topic, once or every --follow seconds until SIGTERM (a failed pass is reported and tried again). */
const correlateKafka = async (flags: CorrelateFlags, campaigns: Config['campaigns']): Promise<void> => {
  const every = parseFollow(flags.follow)
  if (every !== null && flags.complete) throw new AppError('EGD_USAGE', 'correlate: --complete is for a topic that is finished, not with --follow')
  const service = serviceSettings(flags)
  const kafkaSettings = { brokers: service.brokers, clientId: 'egress-sentinel-correlate', security: service.security }
  const kafka = createKafka(kafkaSettings)
  const topic = service.topics.alerts
  await explainConnect(kafkaSettings, () => requireTopics(kafka, [topic]))
  const options = { settings: campaignSettings(campaigns), graceMs: campaigns.graceMinutes * 60_000, complete: flags.complete ?? false }
  const signal = stopSignal()
  for (;;) {
    try {
      const pass = await correlateTopic(kafka, topic, `${service.groupId}.correlate`, options)
      if (!flags.quiet) {
        const upTo = pass.watermark === null ? '' : ` up to ${new Date(pass.watermark).toISOString()}`
        process.stderr.write(
          `correlated ${pass.alerts} device alerts of ${topic} (${pass.invalid} invalid records): ${pass.campaigns} campaign(s)${upTo}, ` +
            `${pass.written} new record(s) written, ${pass.held} held back for a later pass\n`,
        )
      }
    } catch (err) {
      if (every === null) throw err
      process.stderr.write(`egress-sentinel correlate: pass failed (${(err as Error).message}); next in ${every} s\n`)
    }
    if (every === null || signal.stopped()) return
    await signal.wait(every * 1000)
    if (signal.stopped()) return
  }
}

export const registerCorrelate = (program: Command): void => {
  program
    .command('correlate')
    .description(
      'group device alerts into fleet-scope campaigns (many devices showing one behaviour within campaigns.windowHours) ' +
        'and rollout notices (many devices of a model taking up a host with new firmware): ' +
        'reads alert records (NDJSON: replay output, a dump of the alerts topic) and writes the campaign records as NDJSON, ' +
        'in event-time order; the same alerts give the same campaigns whatever order they come in. ' +
        'With --kafka it reads the alerts topic to its end and writes to it the records it lacks, up to a watermark ' +
        '(the least of the partitions\' newest alert times, less campaigns.graceMinutes) unless --complete',
    )
    .argument('[inputs...]', 'alert NDJSON files or directories (.gz too); none with --kafka')
    .option('-c, --config <file>', 'configuration file (its campaigns section); defaults apply without it')
    .option('-k, --kafka', 'read the alerts topic ($EGRESS_TOPIC_ALERTS) instead of files, and write to it the campaign records it does not hold yet')
    .option('-b, --brokers <list>', 'with --kafka: host:port[,host:port…] (default: $KAFKA_BROKERS)')
    .option('--follow <seconds>', 'with --kafka: a pass every so many seconds until SIGTERM, instead of one')
    .option('--complete', 'with --kafka: the topic holds every alert there will be (a finished replay, a dump): write all records, hold none back for lagging partitions')
    .option('-q, --quiet', 'no summary on stderr')
    .addHelpText('after', '\nEnvironment (--kafka): KAFKA_BROKERS, EGRESS_TOPIC_ALERTS, EGRESS_GROUP_ID; KAFKA_TLS, KAFKA_TLS_CA_FILE; KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE')
    .action(async (inputs: string[], flags: CorrelateFlags) => {
      const config = loadConfig(flags.config, DETECTORS)
      if (flags.kafka) {
        if (inputs.length > 0) throw new AppError('EGD_USAGE', 'correlate: give input files or --kafka, not both')
        return correlateKafka(flags, config.campaigns)
      }
      if (inputs.length === 0) throw new AppError('EGD_USAGE', 'correlate: expected alert files, or --kafka')
      if (flags.follow !== undefined || flags.brokers !== undefined || flags.complete) throw new AppError('EGD_USAGE', 'correlate: --follow, --complete and --brokers need --kafka')
      const alerts: Alert[] = []
      let invalid = 0
      let fleet = 0
      for (const file of expandInputs(inputs)) {
        let line = 0
        await forEachLine(file.path, (text) => {
          line++
          if (text.trim() === '') return
          const r = decodeAlertRecord(text)
          if (r.kind === 'alert') alerts.push(r.alert)
          else if (r.kind === 'fleet') fleet++
          else if (invalid++ < MAX_ERRORS_SHOWN) process.stderr.write(`rejected ${file.path}:${line}: ${r.error}\n`)
        }, {
          maxLineBytes: config.input.maxRecordBytes,
          onOversize: (cut) => {
            line++
            if (invalid++ < MAX_ERRORS_SHOWN) process.stderr.write(`rejected ${file.path}:${line}: a line of ${cut.bytes} bytes exceeds input.maxRecordBytes\n`)
          },
        })
      }
      if (alerts.length === 0 && invalid > 0) throw new AppError('EGD_INPUT', `no alert records among ${invalid} invalid line(s)`)
      const records = correlateAll(alerts, campaignSettings(config.campaigns))
      if (records.length > 0) process.stdout.write(records.map((r) => JSON.stringify(r)).join('\n') + '\n')
      if (!flags.quiet) {
        const ids = new Set(records.map((r) => r.id)).size
        process.stderr.write(
          `correlated ${alerts.length} device alerts (${invalid} invalid lines, ${fleet} campaign records skipped): ` +
            `${ids} campaign(s), ${records.length} record(s)\n`,
        )
      }
    })
}
