// What the commands share: the package root, the demo fixture, option parsing helpers, the progress bar.
import { createWriteStream, existsSync, openSync } from 'node:fs'
import type { WriteStream } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SingleBar } from 'cli-progress'
import { INPUT_FORMATS } from '../decode/formats.ts'
import type { InputFormat } from '../decode/formats.ts'
import { AppError } from '../errors.ts'
import type { ReplayProgress, ReplaySummary } from '../replay.ts'
import { alertLine, outputFormat } from '../report/terminal.ts'
import type { AlertRecord } from '../types.ts'

/** The directory holding package.json, found from this file (works from src/ and dist/). */
export const packageRoot = (): string => {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir)
    if (up === dir) throw new Error('package.json not found above the CLI')
    dir = up
  }
  return dir
}

/** The bundled fixture replayed when no input is given. */
export const demoFixture = (): string => join(packageRoot(), 'fixtures', 'demo', 'demo.ndjson')

export const parseFormat = (value: string): InputFormat => {
  if (!(INPUT_FORMATS as readonly string[]).includes(value)) {
    throw new AppError('EGD_USAGE', `--format: expected one of ${INPUT_FORMATS.join(', ')}, got "${value}"`)
  }
  return value as InputFormat
}

/** A progress bar on stderr by bytes read, only when stderr is a terminal. */
export const progressBar = (enabled: boolean): ReplayProgress | undefined => {
  if (!enabled || !process.stderr.isTTY) return undefined
  const bar = new SingleBar({
    stream: process.stderr,
    format: 'replay [{bar}] {percentage}% | {value}/{total} MB | eta {eta}s',
    hideCursor: true,
    clearOnComplete: true,
  })
  let done = 0
  let shown = 0
  return {
    start: (total) => bar.start(Math.max(1, Math.round(total / 1e6)), 0),
    advance: (n) => {
      done += n
      const mb = Math.round(done / 1e6)
      if (mb !== shown) bar.update((shown = mb))
    },
    stop: () => bar.stop(),
  }
}

export const summaryText = (s: ReplaySummary, elapsedMs: number): string => {
  const rejected = Object.entries(s.rejected).map(([r, n]) => `${r}=${n}`).join(' ') || 'none'
  const skipped = Object.entries(s.skipped).map(([r, n]) => `${r}=${n}`).join(' ') || 'none'
  const rate = elapsedMs > 0 ? Math.round((s.events / elapsedMs) * 1000) : 0
  return [
    `replayed ${s.events} events from ${s.files} file(s), ${s.lines} lines in ${(elapsedMs / 1000).toFixed(2)} s (${rate} events/s)`,
    `rejected: ${rejected}; skipped: ${skipped}; late (dropped): ${s.late}`,
    `devices tracked: ${s.devices} (evicted ${s.evictedDevices}); windows evaluated: ${s.windowsEvaluated}`,
    `alerts: ${s.alertsFiring} firing, ${s.alertsEscalated} escalated, ${s.alertsResolved} resolved, ${s.suppressed} findings suppressed`,
    ...(s.fleetRefused.models + s.fleetRefused.keys > 0
      ? [`fleet view full: refused ${s.fleetRefused.models} epoch contributions of models past fleet.maxModels and ${s.fleetRefused.keys} keys past a detector's cap per model`]
      : []),
  ].join('\n') + '\n'
}

/**
 * A file the command writes (--dlq, --alerts), opened at once so that a bad path is a usage error
 * naming the option, not a crash later; write errors after that end the command with exit 1.
 */
export const outputFile = (option: string, path: string): WriteStream => {
  let fd: number
  try {
    fd = openSync(path, 'w')
  } catch (err) {
    throw new AppError('EGD_USAGE', `${option}: cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err })
  }
  const stream = createWriteStream(path, { fd })
  stream.on('error', (err) => {
    process.stderr.write(`egress-sentinel: ${option}: cannot write ${path}: ${err.message}\n`)
    process.exitCode = 1
  })
  return stream
}

/** Colour on stdout: a terminal, and NO_COLOR (no-color.org) not set. */
const colourOn = (): boolean => process.stdout.isTTY === true && (process.env.NO_COLOR ?? '') === ''

/** How `-o json|text` prints an alert record on stdout (absent: text on a terminal, NDJSON otherwise); a usage error for another format. */
export const recordPrinter = (flag: string | undefined): ((r: AlertRecord) => string) => {
  const format = outputFormat(flag, process.stdout.isTTY === true)
  if (format === null) throw new AppError('EGD_USAGE', `--output: expected json or text, got "${flag}"`)
  if (format === 'json') return (r) => JSON.stringify(r)
  const colour = colourOn()
  return (r) => alertLine(r, colour)
}
