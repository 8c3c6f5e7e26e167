// `correlate`: campaigns from device alerts, offline from alert files (replay's output, a topic dump).
import type { Command } from 'commander'
import { DETECTORS } from '../../detectors/index.ts'
import { loadConfig } from '../config/load.ts'
import { campaignSettings } from '../config/schema.ts'
import { correlateAll } from '../correlate/campaigns.ts'
import type { CampaignSettings } from '../correlate/campaigns.ts'
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
}

/** A pause that a SIGTERM or SIGINT cuts short; resolves true when stopped. */
const stopSignal = (): { wait: (ms: number) => Promise<boolean>; stopped: () => boolean } => {
  let stop = false
  let wake: () => void = () => undefined
  const onSignal = (): void => {
    stop = true
    wake()
  }
  process.once('SIGTERM', onSignal)
  process.once('SIGINT', onSignal)
  return {
    wait: (ms) => new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(stop), ms)
      wake = () => {
        clearTimeout(timer)
        resolve(true)
      }
    }),
    stopped: () => stop,
  }
}

/** `correlate --kafka`: passes over the alerts topic, once or every --follow seconds until SIGTERM. */
const correlateKafka = async (flags: CorrelateFlags, settings: CampaignSettings): Promise<void> => {
  const service = serviceSettings(flags)
  const kafkaSettings = { brokers: service.brokers, clientId: 'egress-sentinel-correlate', security: service.security }
  const kafka = createKafka(kafkaSettings)
  const topic = service.topics.alerts
  await explainConnect(kafkaSettings, () => requireTopics(kafka, [topic]))
  const every = flags.follow === undefined ? null : Number(flags.follow)
  if (every !== null && (!Number.isFinite(every) || every < 1 || every > 86_400)) {
    throw new AppError('EGD_USAGE', `--follow: expected seconds from 1 to 86400, got "${flags.follow}"`)
  }
  const signal = stopSignal()
  for (;;) {
    const pass = await correlateTopic(kafka, topic, `${service.groupId}.correlate`, settings)
    if (!flags.quiet) {
      process.stderr.write(
        `correlated ${pass.alerts} device alerts of ${topic} (${pass.invalid} invalid records): ` +
          `${pass.campaigns} campaign(s), ${pass.written} new record(s) written\n`,
      )
    }
    if (every === null || signal.stopped() || (await signal.wait(every * 1000))) return
  }
}

export const registerCorrelate = (program: Command): void => {
  program
    .command('correlate')
    .description(
      'group device alerts into fleet-scope campaigns (many devices showing one behaviour within campaigns.windowHours): ' +
        'reads alert records (NDJSON: replay output, a dump of the alerts topic) and writes the campaign records as NDJSON, ' +
        'in event-time order; the same alerts give the same campaigns whatever order they come in',
    )
    .argument('[inputs...]', 'alert NDJSON files or directories (.gz too); none with --kafka')
    .option('-c, --config <file>', 'configuration file (its campaigns section); defaults apply without it')
    .option('-k, --kafka', 'read the alerts topic ($EGRESS_TOPIC_ALERTS) instead of files, and write to it the campaign records it does not hold yet')
    .option('-b, --brokers <list>', 'with --kafka: host:port[,host:port…] (default: $KAFKA_BROKERS)')
    .option('--follow <seconds>', 'with --kafka: a pass every so many seconds until SIGTERM, instead of one')
    .option('-q, --quiet', 'no summary on stderr')
    .addHelpText('after', '\nEnvironment (--kafka): KAFKA_BROKERS, EGRESS_TOPIC_ALERTS, EGRESS_GROUP_ID; KAFKA_TLS, KAFKA_TLS_CA_FILE; KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE')
    .action(async (inputs: string[], flags: CorrelateFlags) => {
      const config = loadConfig(flags.config, DETECTORS)
      if (flags.kafka) {
        if (inputs.length > 0) throw new AppError('EGD_USAGE', 'correlate: give input files or --kafka, not both')
        return correlateKafka(flags, campaignSettings(config.campaigns))
      }
      if (inputs.length === 0) throw new AppError('EGD_USAGE', 'correlate: expected alert files, or --kafka')
      if (flags.follow !== undefined || flags.brokers !== undefined) throw new AppError('EGD_USAGE', 'correlate: --follow and --brokers need --kafka')
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
