// Assembles the detection core from a config: enabled detectors → engine → alert lifecycle.
import type { Alert, DeviceEvent } from './types.ts'
import type { Config } from './config/schema.ts'
import { lookaheadWindows } from './engine/detector.ts'
import type { DetectorDef } from './engine/detector.ts'
import { Engine } from './engine/engine.ts'
import type { ActiveDetector, EngineChanges, EngineCounters, EngineSnapshot } from './engine/engine.ts'
import { AlertLifecycle, forEachOpenAlert } from './alerts/lifecycle.ts'
import type { LifecycleCounters, LifecyclePolicy } from './alerts/lifecycle.ts'
import { Suppressions } from './alerts/suppression.ts'
import { configHash } from './config/hash.ts'
import { PeerGroups } from './engine/peers.ts'

export interface DetectionPipeline {
  /** Feeds one decoded event; false when it was too late for its window. */
  ingest(event: DeviceEvent): boolean
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
  options: { readonly trackChanges?: boolean } = {},
): DetectionPipeline => {
  const windowMs = config.engine.windowSeconds * 1000
  const peers = new PeerGroups()
  const context = {
    windowMs,
    lookaheadWindows: lookaheadWindows(config.engine.allowedLatenessSeconds * 1000, windowMs),
    modelDevices: (model: string) => peers.deviceCount(model),
  }
  const active: ActiveDetector[] = []
  const policies: LifecyclePolicy[] = []
  for (const { def, own, policy } of enabledDetectors(config, defs)) {
    active.push({ id: def.id, detector: def.create(own, context) })
    policies.push(policy)
  }
  const lifecycle = new AlertLifecycle(policies, new Suppressions(config.alerts.suppress), windowMs, onAlert, peers)
  const engine = new Engine(
    active,
    {
      windowMs,
      allowedLatenessMs: config.engine.allowedLatenessSeconds * 1000,
      idleFlushMs: config.engine.idleFlushSeconds * 1000,
      deviceTtlMs: config.engine.deviceTtlHours * 3_600_000,
      maxDevices: config.engine.maxDevices,
      quietWindows: config.engine.quietWindows,
      inventory: new Map(Object.entries(config.inventory)),
      trackChanges: options.trackChanges ?? false,
      peers,
    },
    lifecycle,
  )
  return {
    ingest: (event) => engine.ingest(event),
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
  }
}
