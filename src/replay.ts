// Offline replay: input files → decode → detection pipeline → alerts, with counts of everything dropped.
import type { Alert, DeviceEvent } from './types.ts'
import type { Config } from './config/schema.ts'
import type { DetectorDef } from './engine/detector.ts'
import { createLineDecoder } from './decode/formats.ts'
import type { InputFormat } from './decode/formats.ts'
import type { DecodeFailureReason, SkipReason } from './decode/result.ts'
import { DeviceBudget } from './engine/budget.ts'
import { createFleetView, createPipeline, ingestDecoded } from './pipeline.ts'
import type { DetectionPipeline, IngestResult, LineOutcomes } from './pipeline.ts'
import { shardFleet } from './engine/fleet.ts'
import type { CutBytes } from './sinks/dead-letter.ts'
import { partitionOf } from './partition.ts'
import { expandInputs } from './sources/file.ts'
import { readRecords } from './sources/records.ts'
import type { FileRecord } from './sources/records.ts'

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
   * topic of that many partitions, with one fleet view over them all, so that a replay gives the
   * service's alerts. 1 (the default) is one pipeline for all devices.
   */
  readonly partitions?: number | undefined
  /**
   * Closes every window at the end of the input (the default). Without it, the windows that only
   * the end would close stay open, as in a live service waiting for more: the alerts are then
   * exactly those `run` sends for the same input.
   */
  readonly flush?: boolean | undefined
  /** Called with the detection shards once they exist: the bench holds them past the replay to measure their memory. */
  readonly onShards?: ((shards: readonly DetectionPipeline[]) => void) | undefined
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
  /** Later firing records of alerts whose severity rose. */
  alertsEscalated: number
  alertsResolved: number
  suppressed: number
  /** Models and keys the fleet view refused at its caps (fleet.maxModels, a facet's keys per model). */
  fleetRefused: { models: number; keys: number }
}

export const replay = async (opts: ReplayOptions): Promise<ReplaySummary> => {
  // Several files are merged by event time (src/sources/records.ts): recordings made at different
  // times, or at once (a conn.log and a dns.log, flows and telemetry), as `run` merges its topics.
  const files = expandInputs(opts.inputs)
  const shards: DetectionPipeline[] = []
  const partitions = opts.partitions ?? 1
  // engine.maxDevices bounds the whole replay, as it bounds the whole of a `run` process.
  const budget = new DeviceBudget(opts.config.engine.maxDevices)
  // One fleet view over every shard: each publishes its closed epochs straight into it.
  const view = createFleetView(opts.config, partitions)
  for (let i = 0; i < partitions; i++) {
    shards.push(createPipeline(opts.config, opts.detectors, opts.onAlert, { budget, fleet: shardFleet(view, i, (p) => view.publish(p)) }))
  }
  const single = shards[0]!
  opts.onShards?.(shards)
  /**
   * The input's clock (its newest event time) is every shard's clock: a shard whose devices are quiet
   * moves on with the others, its epochs close with theirs, and lateness is judged as one pipeline
   * judges it, whatever the number of shards. Moving a shard with open windows waits for the fleet
   * view, which the others' moves complete: all of them move in steps until they reach `t`.
   */
  let clock = -Infinity
  const moveAll = (t: number): void => {
    for (;;) {
      let behind = false
      let moved = false
      for (const shard of shards) {
        if (shard.time() >= t) continue
        behind = true
        const target = Math.min(t, shard.maxAdvance())
        if (target > shard.time()) {
          shard.advanceTo(target)
          moved = true
        }
      }
      if (!behind) return
      if (!moved) throw new Error(`replay: the shards cannot reach ${t}: the fleet view is complete through epoch ${view.complete}`)
    }
  }
  /** Takes each event to its device's shard. */
  const router = {
    ingest: (event: DeviceEvent): IngestResult => feed(partitions === 1 ? single : shards[partitionOf(event.deviceId, partitions)]!, event),
  }
  const feed = (shard: DetectionPipeline, event: DeviceEvent): IngestResult => {
    let taken = shard.ingest(event, nowMs)
    if (taken === 'wait') {
      moveAll(event.ts)
      taken = shard.ingest(event, nowMs)
    }
    // Events no shard takes in (outside the clock bounds, or not a device's) do not move the clock: in `run` they move no shard's.
    // Nor does an event past the wall clock move it further than that, as in `run` (the engine bounds its own shard's the same way).
    const t = event.ts < nowMs ? event.ts : nowMs
    if (t > clock && taken !== 'ts_future' && taken !== 'ts_past' && taken !== 'outside') {
      clock = t
      if (partitions > 1) moveAll(clock)
    }
    return taken
  }
  const summary: ReplaySummary = {
    files: files.length, lines: 0, events: 0, rejected: {}, skipped: {}, late: 0, devices: 0, evictedDevices: 0,
    windowsEvaluated: 0, alertsFiring: 0, alertsEscalated: 0, alertsResolved: 0, suppressed: 0, fleetRefused: { models: 0, keys: 0 },
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
    // One outcome object (nothing allocated per record); a dead letter names the record in hand.
    let current: FileRecord | null = null
    const taken = (event: DeviceEvent): void => {
      summary.events++
      if (onEvent) onEvent(event)
    }
    const outcomes: LineOutcomes<string> = {
      accepted: taken,
      // Counted as events (the engines count them late too) and seen by evaluate, as taken ones.
      late: taken,
      dead: (reason, error, raw) => reject(current!.file, current!.line, reason, error, raw),
      skipped: (reason) => void (summary.skipped[reason] = (summary.skipped[reason] ?? 0) + 1),
    }
    summary.lines = await readRecords(
      files,
      {
        decoder: () => createLineDecoder(opts.format, config.input.timeZone),
        ...(progress ? { onBytes: (n: number) => progress.advance(n) } : {}),
        maxLineBytes,
        maxGzipRatio: config.input.maxGzipRatio,
      },
      (r) => {
        current = r
        if (r.result === null) {
          const cut = r.raw as CutBytes
          reject(r.file, r.line, 'too_large', `line of ${cut.bytes} bytes exceeds input.maxRecordBytes (${maxLineBytes})`, cut)
        } else {
          ingestDecoded(r.result, r.raw as string, router, nowMs, config, outcomes)
        }
      },
    )
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
    summary.alertsEscalated += shard.alerts.escalated
    summary.alertsResolved += shard.alerts.resolved
    summary.suppressed += shard.alerts.suppressed
  }
  Object.assign(summary.fleetRefused, view.refused)
  return summary
}
