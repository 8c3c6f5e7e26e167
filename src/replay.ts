// Offline replay: input files → decode → detection pipeline → alerts, with counts of everything dropped.
import type { Alert, DeviceEvent } from './types.ts'
import type { Config } from './config/schema.ts'
import type { DetectorDef } from './engine/detector.ts'
import { createLineDecoder } from './decode/formats.ts'
import type { InputFormat } from './decode/formats.ts'
import type { DecodeFailureReason, SkipReason } from './decode/result.ts'
import { DeviceBudget } from './engine/budget.ts'
import { clockBoundError, createPipeline } from './pipeline.ts'
import type { DetectionPipeline } from './pipeline.ts'
import type { CutBytes } from './sinks/dead-letter.ts'
import { partitionOf } from './partition.ts'
import { expandInputs, forEachLine } from './sources/file.ts'

export interface Rejection {
  readonly file: string
  /** 1-based line number in the file. */
  readonly line: number
  readonly reason: DecodeFailureReason
  readonly error: string
  /** The line, or what its reader kept of an over-long one. */
  readonly raw: string | CutBytes
}

export interface ReplayProgress {
  start(totalBytes: number): void
  advance(bytes: number): void
  stop(): void
}

export interface ReplayOptions {
  readonly inputs: readonly string[]
  readonly format: InputFormat
  readonly config: Config
  readonly detectors: readonly DetectorDef[]
  readonly onAlert: (alert: Alert) => void
  /** Every decoded event within the clock bounds, once the engine has it (evaluate reads the labels). */
  readonly onEvent?: ((event: DeviceEvent) => void) | undefined
  readonly onReject?: ((rejection: Rejection) => void) | undefined
  readonly progress?: ReplayProgress | undefined
  /**
   * Shards devices over this many pipelines by Kafka's default partitioner, as the service shards a
   * topic of that many partitions (model-level priors are per shard), so that a replay gives the
   * service's alerts. 1 (the default) is one pipeline for all devices.
   */
  readonly partitions?: number | undefined
  /**
   * Closes every window at the end of the input (the default). Without it, the windows that only
   * the end would close stay open, as in a live service waiting for more: the alerts are then
   * exactly those `run` sends for the same input.
   */
  readonly flush?: boolean | undefined
  /** The wall clock event times are bounded by (engine.maxFutureSeconds, maxAgeHours); now, when absent. */
  readonly nowMs?: number | undefined
}

export interface ReplaySummary {
  files: number
  lines: number
  events: number
  rejected: Partial<Record<DecodeFailureReason, number>>
  /** Lines that carry no event, by reason: blank lines, Zeek headers, collectors' markers. */
  skipped: Partial<Record<SkipReason, number>>
  late: number
  devices: number
  evictedDevices: number
  windowsEvaluated: number
  alertsFiring: number
  alertsResolved: number
  suppressed: number
}

export const replay = async (opts: ReplayOptions): Promise<ReplaySummary> => {
  const files = expandInputs(opts.inputs)
  const shards: DetectionPipeline[] = []
  const partitions = opts.partitions ?? 1
  // engine.maxDevices bounds the whole replay, as it bounds the whole of a `run` process.
  const budget = new DeviceBudget(opts.config.engine.maxDevices)
  for (let i = 0; i < partitions; i++) shards.push(createPipeline(opts.config, opts.detectors, opts.onAlert, { budget }))
  const single = shards[0]!
  const summary: ReplaySummary = {
    files: files.length, lines: 0, events: 0, rejected: {}, skipped: {}, late: 0, devices: 0, evictedDevices: 0,
    windowsEvaluated: 0, alertsFiring: 0, alertsResolved: 0, suppressed: 0,
  }
  const { onEvent, onReject, progress, config } = opts
  const nowMs = opts.nowMs ?? Date.now()
  const maxLineBytes = config.input.maxRecordBytes
  const reject = (file: string, line: number, reason: DecodeFailureReason, error: string, raw: string | CutBytes): void => {
    summary.rejected[reason] = (summary.rejected[reason] ?? 0) + 1
    onReject?.({ file, line, reason, error, raw })
  }
  progress?.start(files.reduce((n, f) => n + f.size, 0))
  try {
    for (const file of files) {
      const decoder = createLineDecoder(opts.format)
      let lineNo = 0
      await forEachLine(
        file.path,
        (line) => {
          lineNo++
          const result = decoder.decode(line)
          if (result.ok === null) {
            summary.skipped[result.reason] = (summary.skipped[result.reason] ?? 0) + 1
            return
          }
          if (!result.ok) return reject(file.path, lineNo, result.reason, result.error, line)
          const event = result.event
          const shard = partitions === 1 ? single : shards[partitionOf(event.deviceId, partitions)]!
          const taken = shard.ingest(event, nowMs)
          if (taken === 'ts_future' || taken === 'ts_past') return reject(file.path, lineNo, taken, clockBoundError(taken, event.ts, nowMs, config), line)
          summary.events++
          if (onEvent) onEvent(event)
        },
        {
          ...(progress ? { onBytes: (n: number) => progress.advance(n) } : {}),
          maxLineBytes,
          maxGzipRatio: config.input.maxGzipRatio,
          onOversize: (cut) => {
            lineNo++
            reject(file.path, lineNo, 'too_large', `line of ${cut.bytes} bytes exceeds input.maxRecordBytes (${maxLineBytes})`, cut)
          },
        },
      )
      summary.lines += lineNo
    }
    if (opts.flush ?? true) for (const shard of shards) shard.flush()
  } finally {
    progress?.stop()
  }
  for (const shard of shards) {
    summary.late += shard.engine.late
    summary.devices += shard.devicesTracked()
    summary.evictedDevices += shard.engine.evictedTtl + shard.engine.evictedNew + shard.engine.evictedLearned
    summary.windowsEvaluated += shard.engine.windowsEvaluated
    summary.alertsFiring += shard.alerts.fired
    summary.alertsResolved += shard.alerts.resolved
    summary.suppressed += shard.alerts.suppressed
  }
  return summary
}
