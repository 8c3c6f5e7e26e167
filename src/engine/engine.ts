// Event-time engine: per-device state, window closing by watermark, detector dispatch, eviction.
import type { DeviceEvent, EgressEvent, Finding, TelemetryEvent } from '../types.ts'
import type { Detector } from './detector.ts'
import { Device, DeviceTable } from './device.ts'
import type { DeviceRecord } from './device.ts'
import { windowOf } from './window.ts'
import type { PeerGroups } from './peers.ts'
import { DeviceBudget } from './budget.ts'
import { copyNames, nameOf, recordAnswer } from './names.ts'
import type { BudgetMember } from './budget.ts'
import { LAG_EPOCHS, soloFleet } from './fleet.ts'
import type { ContributionJSON, FleetViewJSON, ShardFleet } from './fleet.ts'

export interface EngineOptions {
  /** Base window length (ms); detectors are evaluated when a window closes. */
  readonly windowMs: number
  /** How far behind a device's newest event an event may arrive and still count (ms). */
  readonly allowedLatenessMs: number
  /**
   * A silent device's open windows are closed once the fleet's event time passes its newest event
   * by this (ms); by the lateness and a window at least, so that no event the lateness admits finds
   * its window closed.
   */
  readonly idleFlushMs: number
  /** A device silent this long in fleet event time is evicted with its state (ms). */
  readonly deviceTtlMs: number
  /** Hard cap on tracked devices when no `budget` is given (one engine alone). */
  readonly maxDevices: number
  /** The process-wide cap shared with other engines; replaces `maxDevices` when given. */
  readonly budget?: DeviceBudget
  /**
   * A device is on probation until it has been seen over this much event time (ms): over the cap,
   * devices on probation are evicted first (oldest first), then the least recently seen. 0: none.
   */
  readonly probationMs?: number
  /** Windows evaluated after a device's last data before quiet windows are skipped in bulk. */
  readonly quietWindows: number
  /** Keep the devices each call to `takeChanges` must report (a changelog's input); off for replay. */
  readonly trackChanges?: boolean
  /** Model cohorts for peer-group evidence; each device's features are kept when given. */
  readonly peers?: PeerGroups
  /**
   * The shard's part of the fleet view (its detectors' facets were made from it): the engine closes
   * the shard's epochs and publishes them there. A fleet of this engine alone when absent.
   */
  readonly fleet?: ShardFleet
  /** How long a DNS answer names an address past its TTL, and past its last use (ms); 0 when absent. */
  readonly nameGraceMs?: number
  /** What the inventory says of a device (its model and firmware when its events do not say). */
  readonly inventory?: { lookup(deviceId: string, srcIp: string | undefined): { readonly model?: string | undefined; readonly firmware?: string | undefined } | undefined }
}

/** Receives every closed window's result; implemented by the alert stage. */
export interface WindowSink {
  onWindow(device: DeviceRecord, detector: number, window: number, finding: Finding | null): void
  /** `count` windows passed with no data and no evaluation: all clean. */
  onQuiet(device: DeviceRecord, count: number): void
  /** The device is about to be forgotten. */
  onEvict(device: DeviceRecord): void
}

export interface ActiveDetector {
  readonly id: string
  readonly detector: Detector
}

/** Running totals, read by the metrics layer at scrape time. */
export interface EngineCounters {
  events: number
  late: number
  evictedTtl: number
  /** Evicted over the device cap: devices on probation, and devices with learned state. */
  evictedNew: number
  evictedLearned: number
  windowsEvaluated: number
}

/** One device's record as JSON: attributes, window bookkeeping, detector states, alert slots. */
export interface DeviceSnapshot {
  readonly id: string
  readonly model: string
  readonly firmware: string
  /** null for none (-Infinity does not survive JSON). */
  readonly firmwareChangedAt: number | null
  readonly firstSeen: number
  readonly maxTs: number
  readonly nextWindow: number
  readonly lastDataWindow: number
  readonly touchedAt: number
  readonly pending: boolean
  readonly states: readonly unknown[]
  readonly alerts: unknown
  /** Peer-group features: hour, counts (flows and SMTP, packed) and bytes this hour, the previous hour's, then the hour it shared with the fleet (buckets, epoch, the one before); absent or shorter in older checkpoints. */
  readonly features?: readonly number[]
  /** The names its DNS answers gave addresses (absent in older checkpoints). */
  readonly names?: { addresses: string[]; names: string[]; until: number[] } | null
}

/** What a checkpoint holds besides the devices: the engine's clocks, its open fleet contributions and (a fleet of one shard outside `run`) its view. */
export type ShardSnapshot = Omit<EngineSnapshot, 'devices'>

/** What changed since the last `takeChanges`: the devices to write again and those to forget. */
export interface EngineChanges {
  readonly shard: ShardSnapshot
  readonly devices: readonly DeviceSnapshot[]
  readonly evicted: readonly string[]
}

/** A whole engine as JSON: enough to carry on exactly where it stopped (a shard's checkpoint). */
export interface EngineSnapshot {
  readonly detectors: readonly string[]
  /** Events ingested so far (the clock of the approximate LRU order). */
  readonly events: number
  /** The shard's clock: its newest event time, or the time the fleet moved it to. */
  readonly fleetMaxTs: number | null
  readonly sweptWindow: number | null
  /** The first epoch the shard has not closed (published) yet. */
  readonly openEpoch: number | null
  /** The shard's contributions to the fleet view for its open epochs. */
  readonly fleet: readonly (readonly [number, ContributionJSON])[]
  /**
   * The fleet facets' names, in the order the contributions and the view list them (absent in
   * checkpoints from before it): a checkpoint of other facets restores without its fleet state.
   */
  readonly facets?: readonly string[]
  /** A fleet of this shard alone outside `run`: its view (a shared view, and any view in `run`, is rebuilt from the shards' publications in the models topic instead). */
  readonly view?: FleetViewJSON | null
  /** In least-recently-seen order. */
  readonly devices: readonly DeviceSnapshot[]
}

const finiteOrNull = (n: number): number | null => (Number.isFinite(n) ? n : null)

export class Engine implements BudgetMember {
  readonly counters: EngineCounters = { events: 0, late: 0, evictedTtl: 0, evictedNew: 0, evictedLearned: 0, windowsEvaluated: 0 }
  /** Every tracked device, in approximate least-recently-seen order (`pending` marks open windows; see DeviceTable). */
  private readonly devices: DeviceTable
  private readonly egress: number[] = []
  private readonly telemetry: number[] = []
  /** The shard's clock: its newest event time, or where the fleet moved it (`advanceTo`). */
  private clock = -Infinity
  private sweptWindow = -Infinity
  /** The first epoch not closed yet, and its first window: every device's windows before it are closed. */
  private openEpoch = -Infinity
  private openWindow = -Infinity
  private readonly fleet: ShardFleet
  private readonly epochMs: number
  private readonly windowsPerEpoch: number
  /** With `trackChanges`: devices whose state changed, and ids of devices evicted, since `takeChanges`. */
  private readonly changed = new Set<Device>()
  private readonly evicted: string[] = []
  private readonly budget: DeviceBudget
  private readonly probationMs: number
  private readonly idleFlushMs: number
  private readonly nameGraceMs: number
  /**
   * Devices in the order they were created, from `newHead` on: those still on probation among them
   * are the first to go over the cap. Entries of devices admitted or gone are skipped, and dropped
   * at each sweep.
   */
  private newDevices: Device[] = []
  /** Each of newDevices' creation number in the device budget (the order over every shard). */
  private newCreated: number[] = []
  private newHead = 0

  constructor(
    private readonly detectors: readonly ActiveDetector[],
    private readonly options: EngineOptions,
    private readonly sink: WindowSink,
  ) {
    this.devices = new DeviceTable(detectors.map((a) => ({ id: a.id, rowState: a.detector.rowState === true })))
    this.budget = options.budget ?? new DeviceBudget(options.maxDevices)
    this.budget.join(this)
    this.fleet = options.fleet ?? soloFleet(options.windowMs)
    this.epochMs = this.fleet.view.settings.epochMs
    this.windowsPerEpoch = this.fleet.view.settings.windowsPerEpoch
    if (this.epochMs !== this.windowsPerEpoch * options.windowMs) throw new Error(`the fleet's epoch (${this.epochMs} ms) is not a whole number of windows (${options.windowMs} ms)`)
    this.probationMs = options.probationMs ?? 0
    this.idleFlushMs = Math.max(options.idleFlushMs, options.allowedLatenessMs + options.windowMs)
    this.nameGraceMs = options.nameGraceMs ?? 0
    // Dispatch tables are built once: a detector without an observer for a kind costs nothing for it.
    detectors.forEach((d, i) => {
      if (d.detector.observeEgress) this.egress.push(i)
      if (d.detector.observeTelemetry) this.telemetry.push(i)
    })
  }

  get deviceCount(): number {
    return this.devices.count
  }

  /** Leaves the device budget with every device it holds (the engine is being dropped). */
  release(): void {
    this.budget.leave(this, this.devices.count)
  }

  /** Whether a device is still on probation: seen over less than `probationMs` of event time. */
  private onProbation(d: Device): boolean {
    return d.maxTs - d.firstSeen < this.probationMs || d.maxTs === -Infinity
  }

  /** Whether a device of the probation queue may still be evicted as new: tracked (not evicted since) and on probation. */
  private stillNew(d: Device): boolean {
    return this.devices.get(d.id) === d && this.onProbation(d)
  }

  oldestNewDevice(spare: unknown): number {
    const i = this.oldestNewIndex(spare)
    return i < 0 ? Infinity : this.newCreated[i]!
  }

  evictNewDevice(spare: unknown): boolean {
    const i = this.oldestNewIndex(spare)
    if (i < 0) return false
    const d = this.newDevices[i]!
    if (i === this.newHead) this.advanceNewHead()
    this.evict(d)
    this.counters.evictedNew++
    return true
  }

  /** Index in newDevices of the oldest device still here and on probation, other than `spare`; -1 for none. */
  private oldestNewIndex(spare: unknown): number {
    // Devices gone or admitted at the head are never candidates again: they leave the queue. (The
    // device just created, `spare`, joins the queue only after room is made: it is never in it.)
    while (this.newHead < this.newDevices.length) {
      const d = this.newDevices[this.newHead]!
      if (d !== spare && this.stillNew(d)) return this.newHead
      this.advanceNewHead()
    }
    return -1
  }

  /**
   * Drops the queue's head: its slot is cleared at once (an evicted device is not kept alive by
   * it), and the queue is compacted once half of it is behind the head, so a flood of new ids under
   * a clock that does not move (no sweep) holds no more than twice the devices on probation.
   */
  private advanceNewHead(): void {
    this.newDevices[this.newHead] = undefined as never
    this.newHead++
    if (this.newHead > 1024 && this.newHead * 2 > this.newDevices.length) {
      this.newDevices = this.newDevices.slice(this.newHead)
      this.newCreated = this.newCreated.slice(this.newHead)
      this.newHead = 0
    }
  }

  evictOldestDevice(spare: unknown): boolean {
    for (const d of this.devices.values()) {
      if (d === spare) continue
      // Judged before it goes: an evicted device's numbers are not its own any more.
      const probation = this.onProbation(d)
      this.evict(d)
      if (probation) this.counters.evictedNew++
      else this.counters.evictedLearned++
      return true
    }
    return false
  }

  /**
   * Whether the fleet view holds what an event at `ts` needs: the level its data is judged with
   * (LAG_EPOCHS before its epoch, and before the epoch the shard's clock is in). False: the shard
   * must wait for the other shards (run pauses its partitions), or be moved on (`advanceTo`).
   */
  canIngest(ts: number): boolean {
    const t = ts > this.clock ? ts : this.clock
    return Math.floor(t / this.epochMs) - LAG_EPOCHS <= this.fleet.view.complete
  }

  /** How far the clock may be moved without an event (`advanceTo`): anywhere while the shard tracks no device, else as far as the fleet view reaches. */
  maxAdvance(): number {
    if (this.devices.count === 0) return Infinity
    return (this.fleet.view.complete + LAG_EPOCHS + 1) * this.epochMs - 1
  }

  /** The shard's clock (newest event time, or where it was moved). */
  get time(): number {
    return this.clock
  }

  /** The last epoch the shard has closed. */
  get closedThrough(): number {
    return this.openEpoch - 1
  }

  /**
   * Moves the shard's clock to `t` (no further than `maxAdvance`) as an event at `t` would, without
   * one: a shard with nothing to read catches up with the fleet, so that its epochs close.
   */
  advanceTo(t: number): void {
    if (t <= this.clock) return
    if (t > this.maxAdvance()) throw new Error(`shard clock moved to ${t}, past what the fleet view allows (${this.maxAdvance()})`)
    this.advance(t)
  }

  /**
   * Feeds one event (the caller checked `canIngest`); returns false when it arrived too late for its
   * window and was dropped. The shard's clock moves to the event's time, but no further than
   * `notAfter` (`run`'s wall clock): a device whose clock runs ahead (within the future bound) keeps
   * its own windows but cannot close the epoch other devices' events are still arriving for.
   */
  ingest(event: DeviceEvent, notAfter = Infinity): boolean {
    const { windowMs, allowedLatenessMs } = this.options
    const ts = event.ts
    this.reach(ts, 'event', notAfter)
    this.counters.events++
    const moveTo = ts < notAfter ? ts : notAfter
    if (moveTo > this.clock) this.advance(moveTo)
    const window = windowOf(ts, windowMs)
    // Windows of epochs the shard has closed are closed for every device, new ones included: the
    // fleet has the shard's contribution to them already.
    if (window < this.openWindow) {
      this.counters.late++
      return false
    }
    const device = this.deviceFor(event)
    if (this.options.trackChanges) this.changed.add(device)
    if (window < device.nextWindow) {
      this.counters.late++
      return false
    }
    if (event.model !== undefined && event.model !== device.model) {
      // Its completed hour leaves the old model's peers (the next one joins the new model's).
      this.options.peers?.forget(device, device.model, this.clock)
      device.model = event.model
    }
    if (event.firmware !== undefined && event.firmware !== device.firmware) {
      if (device.firmware !== '') device.firmwareChangedAt = ts
      device.firmware = event.firmware
    }
    if (ts > device.maxTs) {
      device.maxTs = ts
      // Close before observing: a detector evaluating window w has seen nothing later than the
      // lateness margin past its end (DetectorContext.lookaheadWindows), however far this event jumps.
      const closeBefore = windowOf(ts - allowedLatenessMs, windowMs)
      if (closeBefore > device.nextWindow) this.closeWindows(device, closeBefore)
    }
    if (event.type === 'egress') {
      // A flow without a name takes the one the device's DNS answers gave its address.
      let e = event
      if (e.dstHost === undefined && device.names !== null) {
        const name = nameOf(device.names, e.dstIp, ts, this.nameGraceMs)
        if (name !== undefined) e = { ...e, dstHost: name }
      }
      this.observeEgress(device, e)
    } else if (event.type === 'telemetry') this.observeTelemetry(device, event)
    else device.names = recordAnswer(device.names, event, this.nameGraceMs)
    device.pending = true
    if (window > device.lastDataWindow) {
      // A device counts once per epoch towards its model's active devices in the fleet (its first
      // epoch when it is created): when its newest window enters a new epoch.
      if (Math.floor(window / this.windowsPerEpoch) > Math.floor(device.lastDataWindow / this.windowsPerEpoch)) this.fleet.devices.active(device.model, ts)
      device.lastDataWindow = window
    }
    return true
  }

  /**
   * The clock moves to `t`. Once it passes an epoch's end by the lateness, every window before the
   * epoch after it closes, for every device, and the shard publishes its contribution to the fleet
   * view: from then on its events of those epochs are late. Then the minute's sweep (idle devices,
   * TTL) runs as before.
   */
  private advance(t: number): void {
    const { windowMs, allowedLatenessMs } = this.options
    this.clock = t
    const open = Math.floor((t - allowedLatenessMs) / this.epochMs)
    if (open > this.openEpoch) {
      const until = open * this.windowsPerEpoch
      for (const device of this.devices.values()) if (device.nextWindow < until) this.closeBefore(device, until)
      this.openEpoch = open
      this.openWindow = until
      this.fleet.publish({ shard: this.fleet.shard.index, closedThrough: open - 1, clock: t, epochs: this.fleet.shard.take(open - 1) })
    }
    const fleetWindow = windowOf(t - allowedLatenessMs, windowMs)
    if (fleetWindow > this.sweptWindow) {
      this.sweptWindow = fleetWindow
      this.sweep()
    }
  }

  /**
   * Closes a device's windows before `until`, the start of the shard's open epoch: every window is
   * evaluated while the fleet level it is judged with is at hand (a quiet device's windows are not
   * left for its next event, which may come days later). A device quiet long enough that its windows
   * pass in bulk and with no alert slots has nothing to evaluate: only its next window moves (not a
   * change for the changelog; `restore` moves it the same way).
   */
  private closeBefore(device: Device, until: number): void {
    if (this.passesQuietly(device)) device.nextWindow = until
    else this.closeWindows(device, until)
    if (device.lastDataWindow < until) device.pending = false
  }

  /**
   * Makes sure the fleet view reaches what data at `ts` needs: a fleet of this shard alone moves its
   * own clock there (nothing else completes its view); a shared one must have been waited for.
   */
  private reach(ts: number, what: 'event' | 'flush', notAfter = Infinity): void {
    if (this.canIngest(ts)) return
    if (!this.fleet.solo) throw new Error(`${what === 'event' ? `event at ${ts} fed` : what} before the fleet view reached its epoch (${Math.floor(ts / this.epochMs) - LAG_EPOCHS}; complete through ${this.fleet.view.complete})`)
    while (!this.canIngest(ts)) {
      const before = this.closedThrough
      // Not past `notAfter` while that is enough (it is whenever the lateness and the future bound fit in an epoch).
      this.advanceTo(Math.min(ts, this.maxAdvance(), Math.max(notAfter, this.clock)))
      if (this.closedThrough === before && notAfter < ts) {
        notAfter = Infinity
        continue
      }
      if (this.closedThrough === before) throw new Error(`a shard alone cannot reach ${ts}: its fleet view is complete through ${this.closedThrough}`)
    }
  }

  /** Whether a device's windows pass in bulk (quiet long enough) with nothing to evaluate (no alert slots): only its next window moves. */
  private passesQuietly(device: Device): boolean {
    return device.alerts === null && device.nextWindow > device.lastDataWindow + this.options.quietWindows
  }

  /** Everything the engine holds, as JSON-serialisable data. */
  snapshot(): EngineSnapshot {
    const devices: DeviceSnapshot[] = []
    for (const d of this.devices.values()) devices.push(this.deviceSnapshot(d))
    return { ...this.shardSnapshot(), devices }
  }

  /**
   * The devices changed and evicted since the last call (needs `trackChanges`), with the shard's
   * own state: applied to the previous checkpoint (set the devices, delete the evicted), it gives
   * the current one.
   */
  takeChanges(): EngineChanges {
    const devices: DeviceSnapshot[] = []
    const written = new Set<string>()
    for (const d of this.changed) {
      devices.push(this.deviceSnapshot(d))
      written.add(d.id)
    }
    // A device evicted and seen again since the last call is written, not deleted.
    const evicted = [...new Set(this.evicted.splice(0))].filter((id) => !written.has(id))
    this.changed.clear()
    return { shard: this.shardSnapshot(), devices, evicted }
  }

  private shardSnapshot(): ShardSnapshot {
    return {
      detectors: this.detectors.map((a) => a.id),
      events: this.counters.events,
      fleetMaxTs: finiteOrNull(this.clock),
      sweptWindow: finiteOrNull(this.sweptWindow),
      openEpoch: finiteOrNull(this.openEpoch),
      fleet: this.fleet.shard.toJSON(),
      facets: this.fleet.view.specs.map((f) => f.name),
      view: this.fleet.viewInCheckpoint ? this.fleet.view.toJSON() : null,
    }
  }

  private deviceSnapshot(d: Device): DeviceSnapshot {
    return {
      id: d.id,
      model: d.model,
      firmware: d.firmware,
      firmwareChangedAt: finiteOrNull(d.firmwareChangedAt),
      firstSeen: d.firstSeen,
      maxTs: d.maxTs,
      nextWindow: d.nextWindow,
      lastDataWindow: d.lastDataWindow,
      touchedAt: d.touchedAt,
      pending: d.pending,
      states: this.detectors.map((a, i) => a.detector.snapshot(d.state(i))),
      alerts: d.alerts === null ? null : JSON.parse(JSON.stringify(d.alerts)),
      features: [d.featureHour, d.countsNow, d.bytesNow, d.countsBefore, d.bytesBefore, d.shared, d.sharedEpoch, d.sharedBefore],
      names: copyNames(d.names),
    }
  }

  /** Loads a snapshot into this engine, which must be new and run the same detectors. */
  restore(snap: EngineSnapshot): void {
    const ids = this.detectors.map((a) => a.id)
    if (this.devices.count > 0 || snap.detectors.join() !== ids.join()) {
      throw new Error(`cannot restore detectors [${snap.detectors.join(', ')}] into an engine of [${ids.join(', ')}] that holds ${this.devices.count} devices`)
    }
    this.counters.events = snap.events
    this.clock = snap.fleetMaxTs ?? -Infinity
    this.sweptWindow = snap.sweptWindow ?? -Infinity
    // A checkpoint from before the fleet view has no open epoch: the shard's clock gives it.
    this.openEpoch = snap.openEpoch ?? (snap.fleetMaxTs === null ? -Infinity : Math.floor((snap.fleetMaxTs - this.options.allowedLatenessMs) / this.epochMs))
    this.openWindow = this.openEpoch * this.windowsPerEpoch
    // Facets are listed by position: a checkpoint of other facets (another version's detectors, or
    // one from before the names were kept) leaves its fleet state behind; the shard's devices and
    // their detectors' states still restore, and the model level is learned again.
    const names = this.fleet.view.specs.map((f) => f.name)
    const sameFacets = snap.facets !== undefined && snap.facets.length === names.length && snap.facets.every((n, i) => n === names[i])
    this.fleet.shard.load(sameFacets ? snap.fleet ?? [] : [])
    if (this.fleet.solo) {
      // A fleet of this shard alone carries its view (run's comes from the models topic, as for many
      // shards); one from an older checkpoint starts empty, complete to the shard's closed epoch.
      if (this.fleet.viewInCheckpoint && snap.view && sameFacets) this.fleet.view.load(snap.view)
      else if (Number.isFinite(this.openEpoch)) this.fleet.publish({ shard: this.fleet.shard.index, closedThrough: this.openEpoch - 1, clock: this.clock, epochs: [] })
    }
    // The table's order is the order of touchedAt: a checkpoint assembled from changes (in any
    // order) restores the same order.
    try {
      this.restoreDevices(snap.devices)
      for (const d of this.devices.values()) {
        // As the epoch's close moved it (closeBefore), without writing the device again.
        if (d.nextWindow < this.openWindow && this.passesQuietly(d)) d.nextWindow = this.openWindow
      }
    } finally {
      // Counted, not trimmed (the next new device makes room if they overfill the budget), and
      // counted however far a failed restore got: its caller releases what it holds.
      this.budget.held(this, this.devices.count)
    }
    // Devices on probation are candidates again, oldest first.
    const fresh = this.probationMs > 0 ? [...this.devices.values()].filter((d) => this.onProbation(d)) : []
    for (const d of fresh.sort((a, b) => a.firstSeen - b.firstSeen)) {
      this.newDevices.push(d)
      this.newCreated.push(this.budget.restored())
    }
  }

  private restoreDevices(devices: readonly DeviceSnapshot[]): void {
    for (const d of [...devices].sort((a, b) => a.touchedAt - b.touchedAt)) {
      if (this.devices.get(d.id) !== undefined) throw new Error(`the checkpoint holds device ${JSON.stringify(d.id)} twice`)
      const f = featuresOf(d.features)
      const device = new Device(this.devices, d.id, d.model, d.firmware)
      device.firmwareChangedAt = d.firmwareChangedAt ?? -Infinity
      device.firstSeen = d.firstSeen
      device.maxTs = d.maxTs
      device.nextWindow = d.nextWindow
      device.lastDataWindow = d.lastDataWindow
      device.touchedAt = d.touchedAt
      device.pending = d.pending
      // Slots JSON wrote as null for detectors without one are undefined again.
      device.alerts = d.alerts === null ? null : (d.alerts as unknown[]).map((slot) => slot ?? undefined)
      device.featureHour = f[0]
      device.countsNow = f[1]
      device.bytesNow = f[2]
      device.countsBefore = f[3]
      device.bytesBefore = f[4]
      device.shared = f[5]
      device.sharedEpoch = f[6]
      device.sharedBefore = f[7]
      device.names = copyNames(d.names)
      for (let i = 0; i < this.detectors.length; i++) device.setState(i, this.detectors[i]!.detector.restore(d.states[i], device))
      this.devices.add(device)
    }
  }

  /** Every tracked device, least recently seen first (for gauges read at scrape time). */
  forEachDevice(visit: (device: DeviceRecord) => void): void {
    for (const d of this.devices.values()) visit(d)
  }

  /** End of input: closes every open window of every device (replay's last step, once the fleet view reaches the shard's clock). */
  flush(): void {
    this.reach(this.clock, 'flush')
    for (const device of this.devices.values()) if (device.pending) this.closeAll(device)
  }

  private observeEgress(device: Device, event: EgressEvent): void {
    this.options.peers?.observe(device, device.model, event)
    const { egress, detectors } = this
    for (let i = 0; i < egress.length; i++) {
      const d = egress[i]!
      const next = detectors[d]!.detector.observeEgress!(device.state(d), event, device)
      if (next !== undefined) device.setState(d, next)
    }
  }

  private observeTelemetry(device: Device, event: TelemetryEvent): void {
    const { telemetry, detectors } = this
    for (let i = 0; i < telemetry.length; i++) {
      const d = telemetry[i]!
      const next = detectors[d]!.detector.observeTelemetry!(device.state(d), event, device)
      if (next !== undefined) device.setState(d, next)
    }
  }

  private deviceFor(event: DeviceEvent): Device {
    let device = this.devices.get(event.deviceId)
    if (device !== undefined && device.maxTs + this.options.deviceTtlMs <= event.ts) {
      // Silent past its TTL: forgotten, whether or not a sweep came by since (the sweep's timing
      // depends on the other devices of the shard; this does not).
      this.evict(device)
      this.counters.evictedTtl++
      device = undefined
    }
    if (device === undefined) {
      device = this.createDevice(event)
      this.devices.add(device)
      this.fleet.devices.active(device.model, event.ts)
      const created = this.budget.added(this, device)
      if (this.probationMs > 0) {
        this.newDevices.push(device)
        this.newCreated.push(created)
      }
    } else {
      this.touch(device)
      // Quiet past idleFlush: its windows close before this event, whether or not a sweep came by
      // since (as for the TTL: the sweep's timing depends on the shard's clock, this does not).
      if (device.pending && device.maxTs + this.idleFlushMs <= event.ts) this.closeAll(device)
    }
    return device
  }

  /**
   * Moves a device to the recent end of the order, but only once it has drifted past half of it:
   * the order only the sweep and eviction read is coarse by design (it was a map's insertion
   * order, a delete and a set a move), and checkpoints and alerts follow it.
   */
  private touch(device: Device): void {
    const { devices } = this
    if (this.counters.events - device.touchedAt < devices.count >>> 1) return
    device.touchedAt = this.counters.events
    devices.touch(device)
  }

  private createDevice(event: DeviceEvent): Device {
    const known = this.options.inventory?.lookup(event.deviceId, event.type === 'telemetry' ? undefined : event.srcIp)
    const window = windowOf(event.ts, this.options.windowMs)
    const device = new Device(this.devices, event.deviceId, event.model ?? known?.model ?? 'unknown', event.firmware ?? known?.firmware ?? '')
    device.firstSeen = event.ts
    device.nextWindow = window
    device.lastDataWindow = window
    device.touchedAt = this.counters.events
    for (let i = 0; i < this.detectors.length; i++) device.setState(i, this.detectors[i]!.detector.init(device))
    return device
  }

  /** Evaluates windows [nextWindow, until); after `quietWindows` without data the rest pass in bulk. */
  private closeWindows(device: Device, until: number): void {
    if (this.options.trackChanges) this.changed.add(device)
    const { detectors, sink } = this
    const quietAfter = device.lastDataWindow + this.options.quietWindows
    let w = device.nextWindow
    for (; w < until; w++) {
      if (w > quietAfter) {
        sink.onQuiet(device, until - w)
        break
      }
      for (let i = 0; i < detectors.length; i++) {
        sink.onWindow(device, i, w, detectors[i]!.detector.evaluate(device.state(i), w, device))
      }
      this.counters.windowsEvaluated++
    }
    device.nextWindow = until
  }

  private closeAll(device: Device): void {
    if (this.options.trackChanges) this.changed.add(device)
    const last = Math.max(windowOf(device.maxTs, this.options.windowMs), device.lastDataWindow)
    if (last >= device.nextWindow) this.closeWindows(device, last + 1)
    device.pending = false
  }

  /**
   * Runs when the fleet watermark enters a new window (once a minute of event time): evicts the
   * devices past their TTL and closes the windows of those that went quiet (their own events can
   * no longer close them). It walks every device, a few milliseconds for 100k of them, because the
   * table's order is only roughly least-recently-seen and stopping early would leave quiet devices
   * behind a busy one open.
   */
  private sweep(): void {
    const { deviceTtlMs } = this.options
    const idleFlushMs = this.idleFlushMs
    const now = this.clock
    for (const device of this.devices.values()) {
      if (device.maxTs + deviceTtlMs <= now) {
        this.evict(device)
        this.counters.evictedTtl++
      } else if (device.pending && device.maxTs + idleFlushMs <= now) {
        this.closeAll(device)
      }
    }
    if (this.newDevices.length > 0) {
      // Only devices still here and on probation stay candidates: the queue holds no more than those.
      const devices: Device[] = []
      const created: number[] = []
      for (let i = this.newHead; i < this.newDevices.length; i++) {
        const d = this.newDevices[i]!
        if (!this.stillNew(d)) continue
        devices.push(d)
        created.push(this.newCreated[i]!)
      }
      this.newDevices = devices
      this.newCreated = created
      this.newHead = 0
    }
  }

  private evict(device: Device): void {
    if (device.pending) this.closeAll(device)
    this.options.peers?.forget(device, device.model, this.clock)
    if (this.options.trackChanges) {
      this.changed.delete(device)
      this.evicted.push(device.id)
    }
    this.sink.onEvict(device)
    this.devices.remove(device)
    this.budget.removed(this)
    const { detectors } = this
    for (let i = 0; i < detectors.length; i++) detectors[i]!.detector.forget?.(device.state(i))
    device.release()
  }
}

/**
 * A device's features from its snapshot (hour, counts and bytes now, then before, then what it
 * shared with the fleet), fresh ones for a checkpoint older than them: one from before shares had
 * its hours in a facet of another name, left behind, so it shared nothing.
 */
const featuresOf = (f: readonly number[] | undefined): readonly [number, number, number, number, number, number, number, number] => {
  if (f !== undefined && f.length === 8) return [f[0]!, f[1]!, f[2]!, f[3]!, f[4]!, f[5]!, f[6]!, f[7]!]
  if (f !== undefined && f.length === 5) return [f[0]!, f[1]!, f[2]!, f[3]!, f[4]!, -1, 0, -1]
  return [-1, 0, 0, 0, 0, -1, 0, -1]
}
