// `replay` and `evaluate`: offline runs of the detection core over fixture files.
import type { Command } from 'commander'
import { DETECTORS } from '../../detectors/index.ts'
import { loadConfig } from '../config/load.ts'
import { AppError } from '../errors.ts'
import type { Config } from '../config/schema.ts'
import type { Alert, DeviceEvent } from '../types.ts'
import { Evaluator, evaluationMarkdown, recordedAt } from '../evaluate.ts'
import { replay } from '../replay.ts'
import { campaignSettings } from '../config/schema.ts'
import { correlateAll } from '../correlate/campaigns.ts'
import { detectorProvenance } from '../pipeline.ts'
import { renderReport } from '../report/html.ts'
import { deadLetterValue } from '../sinks/dead-letter.ts'
import { VERSION } from '../version.ts'
import type { Rejection, ReplaySummary } from '../replay.ts'
import { demoFixture, recordPrinter, outputFile, parseFormat, progressBar, summaryText } from './shared.ts'

interface ReplayFlags {
  config?: string
  format: string
  partitions: string
  flush: boolean
  dlq?: string
  progress: boolean
  quiet?: boolean
  campaigns?: boolean
}

const MAX_REJECTIONS_SHOWN = 5

/** A --dlq file's records are bounded as a dead-letter topic's are at Kafka's default max.message.bytes. */
const DLQ_FILE_RECORD_BYTES = 1_000_000

/** Reports rejected lines: the first few on stderr (no payload), all of them to --dlq as DLQ records. */
const rejectionReporter = (flags: ReplayFlags, config: Config) => {
  const dlq = flags.dlq === undefined ? null : outputFile('--dlq', flags.dlq)
  const limits = { maxRawBytes: config.input.deadLetterRawBytes, maxRecordBytes: DLQ_FILE_RECORD_BYTES }
  let shown = 0
  return {
    onReject(r: Rejection): void {
      if (shown < MAX_REJECTIONS_SHOWN && !flags.quiet) {
        process.stderr.write(`rejected ${r.file}:${r.line} (${r.reason}): ${r.error}\n`)
        shown++
      }
      if (dlq === null) return
      const raw = typeof r.raw === 'string' ? Buffer.from(r.raw, 'utf8') : r.raw
      dlq.write(deadLetterValue(r.reason, r.error, { file: r.file, line: r.line }, raw, limits) + '\n')
    },
    close: () => new Promise<void>((resolve) => (dlq === null ? resolve() : dlq.end(resolve))),
  }
}

const inputsOrDemo = (files: string[]): string[] => (files.length > 0 ? files : [demoFixture()])

/** What replay and evaluate share: options, rejections, progress, timing (the caller loads the config first: exit 2 before anything is written). */
const replayFiles = async (
  files: string[],
  flags: ReplayFlags,
  config: Config,
  onAlert: (alert: Alert) => void,
  onEvent?: (event: DeviceEvent) => void,
): Promise<{ summary: ReplaySummary; elapsedMs: number }> => {
  const format = parseFormat(flags.format)
  const partitions = Number(flags.partitions)
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > 10_000) {
    throw new AppError('EGD_USAGE', `--partitions: expected a whole number from 1 to 10000, got "${flags.partitions}"`)
  }
  const rejections = rejectionReporter(flags, config)
  const started = performance.now()
  try {
    const summary = await replay({
      inputs: inputsOrDemo(files),
      format,
      config,
      detectors: DETECTORS,
      partitions,
      flush: flags.flush,
      onAlert,
      onEvent,
      onReject: rejections.onReject,
      progress: progressBar(flags.progress && !flags.quiet),
    })
    return { summary, elapsedMs: performance.now() - started }
  } finally {
    await rejections.close()
  }
}

const addReplayOptions = (cmd: Command): Command =>
  cmd
    .option('-c, --config <file>', 'configuration file (YAML or JSON); defaults apply without it')
    .option('-f, --format <format>', 'input format: auto, canonical, pmacct, goflow2, zeek, nfdump', 'auto')
    .option('--dlq <file>', 'write rejected lines to this file as NDJSON dead-letter records')
    .option('--no-progress', 'no progress bar (it is only shown when stderr is a terminal)')
    .option('-q, --quiet', 'no summary or rejection messages on stderr')
    .option('-p, --partitions <n>', 'shard devices as `run` does over topics of n partitions, with one fleet view over them all, as run\'s shards share one: the alerts do not depend on n', '1')
    .option('--no-flush', 'leave open the windows that only the end of the input closes, as `run` does while it waits for more: gives exactly the alerts `run` has sent for the same input')

/**
 * An ISO-8601 instant with its offset (`Z` or `±hh:mm`: without one it would be local time, a
 * different instant on every machine) and a real calendar date, as epoch ms; NaN otherwise.
 */
export const parseInstant = (text: string): number => {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2})$/.exec(text)
  if (m === null) return Number.NaN
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [number, number, number, number, number, number]
  const day = new Date(Date.UTC(y, mo - 1, d))
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d || h > 23 || mi > 59 || sec > 59) return Number.NaN
  return Date.parse(text)
}

export const registerReplay = (program: Command): void => {
  addReplayOptions(
    program
      .command('replay')
      .description('replay recorded events offline (no broker): alerts on stdout (NDJSON, or a line each on a terminal), a summary on stderr')
      .argument('[inputs...]', 'NDJSON / Zeek / nfdump / gzipped files or directories, several merged by event time; the bundled demo fixture when none')
      .option('--campaigns', 'after the device alerts, the fleet-scope campaign records `correlate` makes of them')
      .option('-o, --output <format>', 'json (NDJSON, one record a line) or text (one readable line per record, coloured on a terminal); default: text on a terminal, json otherwise'),
  ).action(async (files: string[], flags: ReplayFlags & { output?: string }) => {
    const line = recordPrinter(flags.output)
    const out: string[] = []
    const config = loadConfig(flags.config, DETECTORS)
    const alerts: Alert[] = []
    const { summary, elapsedMs } = await replayFiles(files, flags, config, (a) => {
      out.push(line(a))
      if (flags.campaigns) alerts.push(a)
      if (out.length >= 256) process.stdout.write(out.splice(0).join('\n') + '\n')
    })
    if (flags.campaigns) for (const r of correlateAll(alerts, campaignSettings(config.campaigns))) out.push(line(r))
    if (out.length > 0) process.stdout.write(out.join('\n') + '\n')
    if (!flags.quiet) process.stderr.write(summaryText(summary, elapsedMs))
  })

  addReplayOptions(
    program
      .command('evaluate')
      .description('replay labelled fixtures and score the alerts: detected / missed / false alarms, time to detect, per attack kind')
      .argument('[inputs...]', 'labelled fixture files or directories; the bundled demo fixture when none')
      .option('-o, --output <format>', 'json or markdown', 'json')
      .option('--from <time>', 'score the period from this event time on (ISO-8601 with its offset, e.g. 2026-11-02T00:00:00Z): alerts before it, while the detectors learn a history, are counted apart, no false alarms, but they detect an infection that began before it')
      .option('--alerts <file>', 'also write the alerts as NDJSON to this file')
      .option('--html <file>', 'also write a report to open in a browser: scores, per-detector timelines, a drill-down per device'),
  ).action(async (files: string[], flags: ReplayFlags & { output: string; from?: string; alerts?: string; html?: string }) => {
    if (flags.output !== 'json' && flags.output !== 'markdown') {
      throw new AppError('EGD_USAGE', `--output: expected json or markdown, got "${flags.output}"`)
    }
    const from = flags.from === undefined ? null : parseInstant(flags.from)
    if (from !== null && Number.isNaN(from)) {
      throw new AppError('EGD_USAGE', `--from: expected an ISO-8601 time with its offset, such as 2026-11-02T00:00:00Z, got "${flags.from}"`)
    }
    const evaluator = new Evaluator(from)
    const config = loadConfig(flags.config, DETECTORS) // a bad configuration exits 2 before --alerts creates its file
    const alertsOut = flags.alerts === undefined ? null : outputFile('--alerts', flags.alerts)
    const htmlOut = flags.html === undefined ? null : outputFile('--html', flags.html)
    const all: Alert[] = []
    const { summary, elapsedMs } = await replayFiles(
      files,
      flags,
      config,
      (a) => {
        evaluator.alert(a)
        alertsOut?.write(JSON.stringify(a) + '\n')
        if (htmlOut) all.push(a)
      },
      (e) => evaluator.observe(e),
    )
    if (alertsOut) await new Promise<void>((resolve) => alertsOut.end(resolve))
    const result = evaluator.result()
    if (htmlOut) {
      const provenance = detectorProvenance(config, DETECTORS)
      // The report shows the records of the scored period.
      const shown = from === null ? all : all.filter((a) => recordedAt(a) >= from)
      const page = renderReport(result, shown, { title: 'egress-sentinel evaluation', inputs: inputsOrDemo(files), provenance, version: VERSION })
      await new Promise<void>((resolve) => htmlOut.end(page, resolve))
    }
    process.stdout.write(flags.output === 'json' ? JSON.stringify(result, null, 2) + '\n' : evaluationMarkdown(result))
    if (!flags.quiet) process.stderr.write(summaryText(summary, elapsedMs))
  })
}
