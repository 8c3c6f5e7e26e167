// The detector contract: what every module in detectors/ implements, and what the engine passes it.
import type { z } from 'zod'
import type { EgressEvent, Finding, TelemetryEvent } from '../types.ts'
import type { Destinations } from './destinations.ts'
import type { FleetAccess } from './fleet.ts'
import type { PeerFeature } from './peers.ts'

/** What the engine knows of a device; detectors read it, only the engine writes it. */
export interface DeviceInfo {
  readonly id: string
  /** `unknown` when no event or inventory named it. */
  model: string
  firmware: string
  /** Event time of the last firmware change seen, or -Infinity. */
  firmwareChangedAt: number
  /** Event time of the device's first event. */
  firstSeen: number
}

export interface DetectorContext {
  /** Length of the engine's base window in milliseconds. */
  readonly windowMs: number
  /**
   * How many windows past the one being evaluated may already have been observed (the engine's
   * allowed lateness, in windows, rounded up). Rings that hold a horizon of `n` windows need
   * `n + lookaheadWindows` slots so that early data of later windows does not overwrite it.
   */
  readonly lookaheadWindows: number
  /**
   * What the detector shares with the whole fleet (every shard of `run`, every `--partitions` shard of
   * replay): model-level knowledge is written to and read from here, never kept in the instance, so
   * that findings do not depend on how devices are sharded. Reads for data of time t see the fleet
   * as of two epochs before t's (see src/engine/fleet.ts).
   */
  readonly fleet: FleetAccess
  /** A destination's identity (registered domain, owner, prefix) and what evidence says of it. */
  readonly destinations: Destinations
}

/** The lookahead the engine gives detectors for a lateness and window length. */
export const lookaheadWindows = (allowedLatenessMs: number, windowMs: number): number => Math.ceil(allowedLatenessMs / windowMs)

/**
 * A detector instance, made once per engine (per shard). Per-device state is created by `init`
 * and passed back in; model-level knowledge goes through `DetectorContext.fleet`. No I/O, no clocks,
 * no logging: the same events of a device, with the same fleet, give the same findings.
 */
export interface Detector<S = unknown> {
  /**
   * Its state is always a 32-bit integer (a row of its own `Rows`, or a sentinel): the engine keeps
   * it in a word of the device's row instead of a slot that holds any value (4 bytes a device, not 8).
   */
  readonly rowState?: boolean
  init(device: DeviceInfo): S
  /**
   * Observes one event. May return a new state object, which replaces the device's: a detector
   * that rarely needs state per device can share one inert state from `init` and allocate on the
   * first event that needs it.
   */
  observeEgress?(state: S, event: EgressEvent, device: DeviceInfo): S | void
  observeTelemetry?(state: S, event: TelemetryEvent, device: DeviceInfo): S | void
  /**
   * Called once per closed window of the device, in window order. `window` is the window index
   * (window start = window * windowMs); data of later windows may already have been observed
   * and must not count.
   */
  evaluate(state: S, window: number, device: DeviceInfo): Finding | null
  /** JSON-serialisable copy of a device's state, for the changelog. */
  snapshot(state: S): unknown
  restore(data: unknown, device: DeviceInfo): S
  /**
   * The device is evicted: a state kept outside itself (a row of the detector's own `Rows`) is given
   * back. The state is never passed in again. Not called for the devices of an engine dropped whole
   * (its detector instances go with it).
   */
  forget?(state: S): void
}

/** Files a detector's settings name, read through the configuration loader (detectors do no I/O of their own). */
export interface ConfigFiles {
  /** A path made absolute against the configuration file's folder. */
  resolve(path: string): string
  /** A file's text; throws the system's error (with its `code`, e.g. ENOENT). */
  readText(path: string): string
  /** The names in a folder that end with `suffix`, sorted; throws the system's error. */
  list(dir: string, suffix: string): string[]
}

/** Falco-style metadata plus the factory; one per file in detectors/. */
export interface DetectorDef<C = unknown, S = unknown> {
  /** Stable kebab-case id, used in alerts, config and metrics labels. */
  readonly id: string
  readonly title: string
  /** What it catches and how to tune it. */
  readonly description: string
  /** Bumped when findings change for the same input. */
  readonly version: number
  readonly tags: readonly string[]
  /**
   * Bad windows before an alert fires, when the configuration does not set it: 1 for detectors whose
   * finding is a discrete event (a first use) rather than a level that noise can cross once.
   */
  readonly fireAfter?: number
  /** False for a detector users must switch on (`detectors.<id>.enabled: true`); true when absent. */
  readonly enabledByDefault?: boolean
  /** The hourly feature its alerts compare the device with its model's peers on (`flowsPerHour` when absent). */
  readonly peerFeature?: PeerFeature
  /** Strict schema with defaults: `parse({})` gives the default configuration. */
  readonly configSchema: z.ZodType<C>
  /**
   * Settings that name files (MUD profiles), read when the configuration loads: the parsed section,
   * the files, and the section as written (to tell a default from a setting). Returns the section
   * with the files' content in it, so that the effective configuration (and its hash) holds what
   * was read, not where. Throws an Error whose message starts with the setting's path.
   */
  readonly readFiles?: (section: C & { readonly enabled: boolean }, files: ConfigFiles, written: Readonly<Record<string, unknown>> | undefined) => C & { readonly enabled: boolean }
  create(config: C, context: DetectorContext): Detector<S>
}

/** Erases a definition's type parameters for the registry array. */
export const defineDetector = <C, S>(def: DetectorDef<C, S>): DetectorDef<unknown, unknown> =>
  def as unknown as DetectorDef<unknown, unknown>
