// Runs one detector through the real engine over events and records its findings per window.
import { Engine } from '../../src/engine/engine.ts'
import { PeerGroups } from '../../src/engine/peers.ts'
import { soloFleet } from '../../src/engine/fleet.ts'
import { Destinations } from '../../src/engine/destinations.ts'
import { lookaheadWindows } from '../../src/engine/detector.ts'
import type { DetectorDef } from '../../src/engine/detector.ts'
import type { DeviceEvent, Finding } from '../../src/types.ts'
import { MIN, T0 } from './events.ts'

export interface Found {
  readonly deviceId: string
  /** Window start as minutes after T0. */
  readonly minute: number
  readonly finding: Finding
}

/** How the engine runs: its allowed lateness (30 s unless given), and whether events are fed as given instead of in time order. */
export interface RunOptions {
  readonly latenessMs?: number
  readonly asGiven?: boolean
  /** Destinations known by name and prefix only (no owner table) unless given. */
  readonly destinations?: Destinations
  /** How long a DNS answer names an address past its TTL (0 unless given). */
  readonly nameGraceMs?: number
}

export const detectorFindings = (
  def: DetectorDef,
  events: readonly DeviceEvent[],
  overrides: Record<string, unknown> = {},
  run: RunOptions = {},
): Found[] => {
  const latenessMs = run.latenessMs ?? 30_000
  const config = def.configSchema.parse(overrides)
  const found: Found[] = []
  const fleet = soloFleet(MIN)
  const peers = new PeerGroups(fleet.access('peers'))
  const engine = new Engine(
    [{ id: def.id, detector: def.create(config, { windowMs: MIN, lookaheadWindows: lookaheadWindows(latenessMs, MIN), fleet: fleet.access(def.id), destinations: run.destinations ?? new Destinations(null) }) }],
    { windowMs: MIN, allowedLatenessMs: latenessMs, nameGraceMs: run.nameGraceMs ?? 0, idleFlushMs: 5 * MIN, deviceTtlMs: 24 * 60 * MIN, maxDevices: 10_000, quietWindows: 60, peers, fleet },
    {
      onWindow: (d, _i, w, f) => {
        if (f !== null) found.push({ deviceId: d.id, minute: w - T0 / MIN, finding: f })
      },
      onQuiet: () => {},
      onEvict: () => {},
    },
  )
  for (const e of run.asGiven ? events : [...events].sort((a, b) => a.ts - b.ts)) if (!engine.ingest(e)) throw new Error(`event at ${e.ts} dropped as late`)
  engine.flush()
  return found
}

/** The minutes at which a device had a finding. */
export const minutesOf = (found: readonly Found[], deviceId = 'dev-1'): number[] =>
  found.filter((f) => f.deviceId === deviceId).map((f) => f.minute)
