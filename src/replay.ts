// Offline replay: input files → decode → detection pipeline → alerts, with counts of everything dropped.
import type { Alert, DeviceEvent } from './types.ts'
import type { Config } from './config/schema.ts'
import type { DetectorDef } from './engine/detector.ts'
import { createLineDecoder } from './decode/formats.ts'
import type { InputFormat } from './decode/formats.ts'
import type { DecodeFailureReason } from './decode/result.ts'
import { createPipeline } from './pipeline.ts'
import type { DetectionPipeline } from './pipeline.ts'
import { partitionOf } from './partition.ts'
import { expandInputs, forEachLine } from './sources/file.ts'

export interface Rejection {
  readonly file: string
  /** 1-based line number in the file. */
  readonly line: number
  readonly reason: DecodeFailureReason
  readonly error: string
  readonly raw: string
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
  /** Every decoded event, before the engine sees it (evaluate reads the labels). */
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
}

export interface ReplaySummary {
  files: number
  lines: number
  events: number
  rejected: Partial<Record<DecodeFailureReason, number>>
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
  for (let i = 0; i < partitions; i++) shards.push(createPipeline(opts.config, opts.detectors, opts.onAlert))
  const single = shards[0]!
  const summary: ReplaySummary = {
    files: files.length, lines: 0, events: 0, rejected: {}, late: 0, devices: 0, evictedDevices: 0,
    windowsEvaluated: 0, alertsFiring: 0, alertsResolved: 0, suppressed: 0,
  }
  const { onEvent, onReject, progress } = opts
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
          if (result === null) return
          if (!result.ok) {
            summary.rejected[result.reason] = (summary.rejected[result.reason] ?? 0) + 1
            onReject?.({ file: file.path, line: lineNo, reason: result.reason, error: result.error, raw: line })
            return
          }
          summary.events++
          if (onEvent) onEvent(result.event)
          if (partitions === 1) single.ingest(result.event)
          else shards[partitionOf(result.event.deviceId, partitions)]!.ingest(result.event)
        },
        progress ? (n) => progress.advance(n) : undefined,
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
    summary.evictedDevices += shard.engine.evictedTtl + shard.engine.evictedCap
    summary.windowsEvaluated += shard.engine.windowsEvaluated
    summary.alertsFiring += shard.alerts.fired
    summary.alertsResolved += shard.alerts.resolved
    summary.suppressed += shard.alerts.suppressed
  }
  return summary
}
