// Assembles the detection core from a config: enabled detectors → engine → alert lifecycle.
import type { Alert, DeviceEvent } from './types.ts'
import type { DecodeFailureReason, DecodeResult, SkipReason } from './decode/result.ts'
import type { Config } from './config/schema.ts'
import { lookaheadWindows } from './engine/detector.ts'
import { Destinations } from './engine/destinations.ts'
import type { DetectorDef } from './engine/detector.ts'
import { Engine } from './engine/engine.ts'
import type { ActiveDetector, EngineChanges, EngineCounters, EngineSnapshot } from './engine/engine.ts'
import { AlertLifecycle, forEachOpenAlert } from './alerts/lifecycle.ts'
import type { LifecycleCounters, LifecyclePolicy } from './alerts/lifecycle.ts'
import { Suppressions } from './alerts/suppression.ts'
import { configHash } from './config/hash.ts'
import { PeerGroups } from './engine/peers.ts'
import type { DeviceBudget } from './engine/budget.ts'
import { FleetView, soloFleet } from './engine/fleet.ts'
import { FleetMembers } from './engine/members.ts'
import type { ShardFleet } from './engine/fleet.ts'

/**
 * What became of one event: taken, too late for its window, outside the clock bounds (a dead
 * letter), an outsider's flow (`outside`: its source, the device it names, is not in
 * devices.networks; counted, not judged), or not taken yet: the fleet view has not reached its
 * epoch (`wait`: feed it again once the other shards caught up, or after `advanceTo`).
 */
export type IngestResult = 'accepted' | 'late' | 'ts_future' | 'ts_past' | 'wait' | 'outside'

export interface DetectionPipeline {
  /**
   * Feeds one decoded event, once `canIngest(event.ts)`. `nowMs` is the wall clock the event's time
   * is bounded by (engine.maxFutureSeconds, engine.maxAgeHours): an event outside the bounds never
   * reaches the engine.
   */
  ingest(event: DeviceEvent, nowMs: number): IngestResult
  /** Whether the fleet view has what an event at `ts` needs (see Engine.canIngest): if not, the shard waits or is moved on. */
  canIngest(ts: number): boolean
  /** How far `advanceTo` may move the shard's clock now. */
  maxAdvance(): number
  /** Moves the shard's clock without an event (a shard with nothing to read keeps up with the fleet). */
  advanceTo(t: number): void
  /** The shard's clock. */
  readonly time: () => number
  /** The last epoch the shard has closed and published. */
  readonly closedThrough: () => number
  /** End of input: closes every window; alerts still firing stay open. */
  flush(): void
  readonly detectorIds: readonly string[]
  /** Each enabled detector's version and configuration hash, as its alerts carry them. */
  readonly provenance: ReadonlyMap<string, { readonly detectorVersion: number; readonly configHash: string }>
  readonly engine: EngineCounters
  readonly alerts: LifecycleCounters
  readonly devicesTracked: () => number
  /** The whole detection state as JSON-serialisable data (a checkpoint). */
  snapshot(): EngineSnapshot
  /** Carries on from a checkpoint; only on a new pipeline with the same detectors. */
  restore(snapshot: EngineSnapshot): void
  /** What changed since the last call, for a changelog (pipelines made with `trackChanges`). */
  takeChanges(): EngineChanges
  /** Every alert firing now (for the firing gauge, at scrape time). */
  forEachOpenAlert(visit: (alert: Alert) => void): void
  /** Gives back its devices to the process's device budget: the pipeline is being dropped. */
  release(): void
}

/** The dead-letter error of an event outside the clock bounds: its time, how far off, and the setting. */
export const clockBoundError = (result: 'ts_future' | 'ts_past', ts: number, nowMs: number, config: Config): string => {
  const when = Number.isFinite(ts) && Math.abs(ts) <= 8.64e15 ? new Date(ts).toISOString() : String(ts)
  const off = Math.abs(ts - nowMs) / 1000
  const amount = off >= 172_800 ? `${Math.round(off / 86_400)} days` : off >= 7_200 ? `${Math.round(off / 3_600)} hours` : `${Math.round(off)} s`
  return result === 'ts_future'
    ? `ts: ${when} is ${amount} ahead of the clock (${new Date(nowMs).toISOString()}); engine.maxFutureSeconds is ${config.engine.maxFutureSeconds}`
    : `ts: ${when} is ${amount} behind the clock (${new Date(nowMs).toISOString()}); engine.maxAgeHours is ${config.engine.maxAgeHours}`
}

/** Where one decoded line's outcome goes: replay's summary and rejections, a shard's pending output in `run`. */
export interface LineOutcomes<R> {
  accepted(event: DeviceEvent): void
  /** Taken, but too late for its window (the engine counted and dropped it). */
  late(event: DeviceEvent): void
  /** A dead letter: `raw` is the line (or record) as read. */
  dead(reason: DecodeFailureReason, error: string, raw: R): void
  skipped(reason: SkipReason): void
}

/**
 * The one path from a decoded line to its outcome, for replay and `run` alike: a skip, a dead letter
 * (a decode failure, or a time outside the clock bounds), late, or taken. `target` takes the event
 * (a shard's pipeline; replay's router, which first moves the shards when the fleet view asks it
 * to). False for a failure; its dead letter is sent only when `report` (a record's first lines in `run`).
 */
export const ingestDecoded = <R>(
  result: DecodeResult,
  raw: R,
  target: { ingest(event: DeviceEvent, nowMs: number): IngestResult },
  nowMs: number,
  config: Config,
  out: LineOutcomes<R>,
  report = true,
): boolean => {
  if (result.ok === null) {
    out.skipped(result.reason)
    return true
  }
  if (!result.ok) {
    if (report) out.dead(result.reason, result.error, raw)
    return false
  }
  const event = result.event
  const taken = target.ingest(event, nowMs)
  if (taken === 'accepted') out.accepted(event)
  else if (taken === 'late') out.late(event)
  else if (taken === 'outside') out.skipped('outside')
  else if (taken === 'wait') throw new Error(`event at ${event.ts} fed before the fleet view reached its epoch`)
  else {
    if (report) out.dead(taken, clockBoundError(taken, event.ts, nowMs, config), raw)
    return false
  }
  return true
}

/** The enabled detectors with their own settings and their alert policy (lifecycle, version, configuration hash). */
const enabledDetectors = (config: Config, defs: readonly DetectorDef[]) =>
  defs.flatMap((def) => {
    const settings = config.detectors[def.id]
    if (settings === undefined || !settings.enabled) return []
    const { enabled: _e, fireAfter, resolveAfter, ...own } = settings
    const lifecycle = {
      fireAfter: fireAfter ?? config.alerts.fireAfter,
      resolveAfter: resolveAfter ?? config.alerts.resolveAfter,
    }
    const policy: LifecyclePolicy = {
      detector: def.id,
      detectorVersion: def.version,
      peerFeature: def.peerFeature ?? 'flowsPerHour',
      // What shapes this detector's alerts: the engine, its lifecycle, the suppressions and its own settings.
      configHash: configHash({ engine: config.engine, suppress: config.alerts.suppress, detector: def.id, ...lifecycle, settings: own }),
      ...lifecycle,
    }
    return [{ def, own, policy }]
  })

const provenanceOf = (policies: readonly LifecyclePolicy[]): DetectionPipeline['provenance'] =>
  new Map(policies.map((p) => [p.detector, { detectorVersion: p.detectorVersion, configHash: p.configHash }]))

/** Each enabled detector's version and configuration hash, as its alerts carry them (without building a pipeline). */
export const detectorProvenance = (config: Config, defs: readonly DetectorDef[]): DetectionPipeline['provenance'] =>
  provenanceOf(enabledDetectors(config, defs).map((d) => d.policy))

export const createPipeline = (
  config: Config,
  defs: readonly DetectorDef[],
  onAlert: (alert: Alert) => void,
  options: {
    readonly trackChanges?: boolean
    /** The process-wide device cap, shared by every pipeline of the process (replay's partitions, run's shards). */
    readonly budget?: DeviceBudget
    /** The pipeline's part of the fleet view; a fleet of this pipeline alone when absent. */
    readonly fleet?: ShardFleet
  } = {},
): DetectionPipeline => {
  const windowMs = config.engine.windowSeconds * 1000
  const fleet = options.fleet ?? soloPipelineFleet(config)
  const members = new FleetMembers(config.devices.networks, config.inventory)
  const peers = new PeerGroups(fleet.access('peers'))
  const lookahead = lookaheadWindows(config.engine.allowedLatenessSeconds * 1000, windowMs)
  const destinations = Destinations.fromConfig(config.destinations.owners)
  const active: ActiveDetector[] = []
  const policies: LifecyclePolicy[] = []
  for (const { def, own, policy } of enabledDetectors(config, defs)) {
    active.push({ id: def.id, detector: def.create(own, { windowMs, lookaheadWindows: lookahead, fleet: fleet.access(def.id), destinations }) })
    policies.push(policy)
  }
  const lifecycle = new AlertLifecycle(policies, new Suppressions(config.alerts.suppress, destinations), windowMs, onAlert, peers)
  const engine = new Engine(
    active,
    {
      windowMs,
      allowedLatenessMs: config.engine.allowedLatenessSeconds * 1000,
      idleFlushMs: config.engine.idleFlushSeconds * 1000,
      deviceTtlMs: config.engine.deviceTtlHours * 3_600_000,
      maxDevices: config.engine.maxDevices,
      ...(options.budget === undefined ? {} : { budget: options.budget }),
      probationMs: config.engine.probationMinutes * 60_000,
      quietWindows: config.engine.quietWindows,
      inventory: members,
      nameGraceMs: config.destinations.dnsGraceMinutes * 60_000,
      trackChanges: options.trackChanges ?? false,
      peers,
      fleet,
    },
    lifecycle,
  )
  const maxFutureMs = config.engine.maxFutureSeconds * 1000
  const maxAgeMs = config.engine.maxAgeHours * 3_600_000
  return {
    ingest: (event, nowMs) => {
      if (event.ts > nowMs + maxFutureMs) return 'ts_future'
      if (maxAgeMs > 0 && event.ts < nowMs - maxAgeMs) return 'ts_past'
      let e = event
      // A flow whose device is its source address (every collector's; canonical events that name the
      // device by its address) is a device's only from devices.networks, and an address the inventory
      // lists among a device's is that device's. A flow that names its device otherwise is taken as named.
      if (e.type !== 'telemetry' && e.srcIp !== undefined && e.deviceId === e.srcIp) {
        if (!members.isMember(e.srcIp)) return 'outside'
        const named = members.nameOf(e.srcIp)
        if (named !== undefined) e = { ...e, deviceId: named }
      }
      if (!fleet.solo && !engine.canIngest(e.ts)) return 'wait'
      return engine.ingest(e, nowMs) ? 'accepted' : 'late'
    },
    canIngest: (ts) => engine.canIngest(ts),
    maxAdvance: () => engine.maxAdvance(),
    advanceTo: (t) => engine.advanceTo(t),
    time: () => engine.time,
    closedThrough: () => engine.closedThrough,
    flush: () => engine.flush(),
    detectorIds: active.map((d) => d.id),
    provenance: provenanceOf(policies),
    engine: engine.counters,
    alerts: lifecycle.counters,
    devicesTracked: () => engine.deviceCount,
    snapshot: () => engine.snapshot(),
    restore: (snap) => engine.restore(snap),
    takeChanges: () => engine.takeChanges(),
    forEachOpenAlert: (visit) => engine.forEachDevice((d) => forEachOpenAlert(d, visit)),
    release: () => engine.release(),
  }
}

/** A fleet view for `shards` pipelines made from one configuration. */
export const createFleetView = (config: Config, shards: number): FleetView => {
  const windowMs = config.engine.windowSeconds * 1000
  const epochMs = config.fleet.epochMinutes * 60_000
  return new FleetView({ epochMs, windowsPerEpoch: epochMs / windowMs, shards, maxModels: config.fleet.maxModels })
}

/** A fleet of one pipeline: its closed epochs go straight into its own view. */
const soloPipelineFleet = (config: Config): ShardFleet =>
  soloFleet(config.engine.windowSeconds * 1000, config.fleet.epochMinutes * 60_000, config.fleet.maxModels)
