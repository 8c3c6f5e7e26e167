// Campaigns: device alerts that show the same behaviour on many devices become one fleet-scope record that opens, grows and resolves.
import { createHash } from 'node:crypto'
import type { Alert, CampaignRecord, Severity } from '../types.ts'
import { SEVERITIES } from '../types.ts'
import { isoTime } from '../alerts/alert.ts'

export interface CampaignSettings {
  /** Devices that must show a behaviour within `windowMs` before a campaign opens. */
  readonly minDevices: number
  /** How far back (event time) a device's behaviour counts towards opening a campaign. */
  readonly windowMs: number
  /** A campaign resolves once none of its devices has had an alert firing for this long. */
  readonly quietMs: number
}

export interface CorrelatorCounters {
  alerts: number
  opened: number
  updated: number
  resolved: number
}

/**
 * The order in which alert records are correlated: event time (the record's `updatedAt`: fired at
 * detectedAt, escalated later, resolved at endsAt; `deviceAlertSchema` fills it in for older records), then
 * device, firing before resolved, the stronger finding first (severity, score: of two behaviours a
 * device shows at once, the stronger defines it), detector, id, revision. A pure function of the
 * records, so one instance, two instances, or a replay give the same campaigns.
 */
export const alertTime = (a: Alert): number => Date.parse(a.updatedAt)

export const compareAlerts = (a: Alert, b: Alert): number =>
  alertTime(a) - alertTime(b) ||
  cmp(a.deviceId, b.deviceId) ||
  (a.status === b.status ? 0 : a.status === 'firing' ? -1 : 1) ||
  rank(b.severity) - rank(a.severity) ||
  b.score - a.score ||
  cmp(a.detector, b.detector) ||
  cmp(a.id, b.id) ||
  a.revision - b.revision

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/**
 * The behaviour an alert names, `<detector> <indicator>` (e.g. `smtp-burst smtp/direct`), or null
 * for detectors that name none: novelty findings (a first port, a new destination) are evidence of
 * a device's campaign, not a behaviour to group devices by.
 */
export const behaviourOf = (a: Alert): string | null => {
  const indicator = a.evidence.indicator
  return typeof indicator === 'string' && indicator !== '' ? `${a.detector} ${indicator}` : null
}

/** What an alert shows that a campaign lists among its indicators: its behaviour, ports, destinations. */
export const indicatorsOf = (a: Alert): string[] => {
  const behaviour = behaviourOf(a)
  const out = behaviour === null ? [] : [behaviour]
  const { ports, destinations, destination } = a.evidence
  if (Array.isArray(ports)) for (const p of ports.slice(0, 4)) out.push(`${a.detector} port ${String(p)}`)
  if (Array.isArray(destinations)) for (const d of destinations.slice(0, 4)) out.push(`${a.detector} ${String(d)}`)
  if (typeof destination === 'string') out.push(`${a.detector} ${destination}`)
  if (out.length === 0) out.push(a.detector)
  return out
}

interface DeviceState {
  readonly id: string
  model: string | null
  firmware: string | null
  /** Ids of its alerts firing now. */
  readonly firing: Set<string>
  /** The behaviour it first showed (its campaign's, if it joins one), and when it last showed it. */
  behaviour: string | null
  behaviourSeen: number
  /** When it started the behaviour (startsAt of that first alert). */
  onset: number
  campaign: Campaign | null
  /** Indicators seen on it while it waited for a campaign (bounded). */
  readonly pending: Set<string>
  /** The strongest of its alerts while it waited (they count when it joins). */
  severity: Severity
  score: number
  lastEvent: number
}

interface Campaign {
  readonly id: string
  readonly behaviour: string
  readonly detector: string
  /** A model-scope campaign takes only devices of this model; null takes any. */
  readonly model: string | null
  readonly members: Map<string, DeviceState>
  /** Devices per indicator. */
  readonly indicators: Map<string, Set<string>>
  readonly openedAt: number
  startsAt: number
  lastActive: number
  revision: number
  severity: Severity
  score: number
  /** Severity of the last record written, null before the first. */
  recorded: Severity | null
}

const MAX_PENDING_INDICATORS = 16
/** Alerts (event-time advances) between sweeps for forgettable devices. */
const PRUNE_EVERY = 4096
const LISTED_INDICATORS = 10
const LISTED_DEVICES = 20
const rank = (s: Severity): number => SEVERITIES.indexOf(s)

/**
 * Correlates device alerts, fed in `compareAlerts` order, into campaigns. A device counts towards
 * the behaviour it showed first (a spambot that is later also seen through its telemetry is one
 * spam campaign's member, not two campaigns'); it keeps that behaviour until it has been quiet for
 * a window. A behaviour opens a campaign when `minDevices` devices show it within the window:
 * a campaign of one model when that many are of one model (a model turned at once, the 2014
 * story), otherwise one across models. Later devices with the behaviour join it; its other alerts
 * add indicators. Records: `firing` revision 1 on opening, a `firing` revision per device that
 * joins and whenever its severity rises, `resolved` once no member has fired for `quietMs`.
 */
export class Correlator {
  readonly counters: CorrelatorCounters = { alerts: 0, opened: 0, updated: 0, resolved: 0 }
  private readonly devices = new Map<string, DeviceState>()
  /** Devices waiting for a campaign, per behaviour. */
  private readonly waiting = new Map<string, Map<string, DeviceState>>()
  private readonly open = new Map<string, Campaign>()
  private now = -Infinity
  private advances = 0

  /**
   * `kind`: a `campaign` correlator takes alerts (`kind: alert`); a `rollout` correlator takes
   * notices (a device taking up a host with its model's firmware rollout), so a device's notice
   * never stands in for its campaign (an infected fridge updated with all the others is in both).
   */
  constructor(
    private readonly settings: CampaignSettings,
    private readonly emit: (record: CampaignRecord) => void,
    private readonly kind: 'campaign' | 'rollout' = 'campaign',
  ) {}

  /** Takes the next device alert (fleet-scope records are ignored). */
  observe(alert: Alert): void {
    if ((alert as { scope: string }).scope !== 'device') return
    // Every alert moves event time on; only those of this correlator's kind are correlated.
    const t = alertTime(alert)
    this.advance(t)
    const behaviour = behaviourOf(alert)
    // Notices (a device taking up a host with its model's firmware rollout) make rollouts, alerts campaigns.
    if ((alert.kind === 'notice') !== (this.kind === 'rollout')) return
    this.counters.alerts++
    const device = this.device(alert, t)
    if (alert.status === 'resolved') {
      device.firing.delete(alert.id)
      if (device.campaign !== null) device.campaign.lastActive = Math.max(device.campaign.lastActive, t)
      return
    }
    device.firing.add(alert.id)
    if (alert.model !== null) device.model = alert.model
    if (alert.firmware !== null) device.firmware = alert.firmware

    const campaign = device.campaign
    if (campaign !== null) {
      // A member's alert adds indicators; one that raises the campaign's severity is a new revision (a paging target may wait for it).
      if (this.touch(campaign, device, alert, t)) {
        this.record(campaign, 'firing', t)
        this.counters.updated++
      }
      return
    }
    if (device.behaviour !== null && t - device.behaviourSeen > this.settings.windowMs) {
      // Quiet for a window: what it showed before no longer defines it, nor vouches for its next campaign.
      device.behaviour = null
      device.pending.clear()
      device.severity = 'low'
      device.score = 0
    }
    const current = device.behaviour
    if (rank(alert.severity) > rank(device.severity)) device.severity = alert.severity
    if (alert.score > device.score) device.score = alert.score
    // Its indicators are kept for the campaign it may join, whatever it shows.
    for (const i of indicatorsOf(alert)) if (device.pending.size < MAX_PENDING_INDICATORS) device.pending.add(i)
    // No behaviour, or another than the one that defines it: evidence of what it already does, no more.
    if (behaviour === null || (current !== null && current !== behaviour)) return
    if (current === null) device.onset = Date.parse(alert.startsAt)
    device.behaviour = behaviour
    device.behaviourSeen = t
    const target = this.open.get(key(behaviour, device.model)) ?? this.open.get(key(behaviour, null))
    if (target !== undefined) {
      this.join(target, device, alert, t)
      this.record(target, 'firing', t)
      this.counters.updated++
      return
    }
    this.wait(behaviour, device, alert, t)
  }

  /**
   * Event time moved on to `t` (an alert's, or a watermark all later alerts are known to follow):
   * campaigns whose devices have all been quiet for `quietMs` resolve, and every so often devices
   * that wait for nothing are forgotten.
   */
  advance(t: number): void {
    if (t <= this.now) return
    this.now = t
    if (++this.advances % PRUNE_EVERY === 0) this.forgetQuietDevices()
    for (const c of this.open.values()) {
      if (t - c.lastActive < this.settings.quietMs) continue
      let firing = false
      for (const d of c.members.values()) if (d.firing.size > 0) firing = true
      if (firing) continue
      this.resolve(c)
    }
  }

  private wait(behaviour: string, device: DeviceState, alert: Alert, t: number): void {
    let waiting = this.waiting.get(behaviour)
    if (waiting === undefined) this.waiting.set(behaviour, (waiting = new Map()))
    waiting.set(device.id, device)
    const since = t - this.settings.windowMs
    const byModel = new Map<string, DeviceState[]>()
    for (const d of waiting.values()) {
      if (d.behaviourSeen < since || d.behaviour !== behaviour || d.campaign !== null) {
        waiting.delete(d.id)
        continue
      }
      const m = d.model ?? '(unknown model)'
      const list = byModel.get(m)
      if (list === undefined) byModel.set(m, [d])
      else list.push(d)
    }
    const ofModel = device.model === null ? undefined : byModel.get(device.model)
    const [model, members] =
      ofModel !== undefined && ofModel.length >= this.settings.minDevices ? [device.model, ofModel]
        : waiting.size >= this.settings.minDevices ? [null, [...waiting.values()]]
          : [undefined, []]
    if (model === undefined) return
    const campaign: Campaign = {
      id: createHash('sha256').update(`campaign\n${behaviour}\n${model ?? '*'}\n${t}`).digest('hex').slice(0, 32),
      behaviour,
      detector: alert.detector,
      model,
      members: new Map(),
      indicators: new Map(),
      openedAt: t,
      startsAt: Infinity,
      lastActive: t,
      revision: 0,
      severity: 'low',
      score: 0,
      recorded: null,
    }
    // Joined in onset order, so the member list reads as the campaign spread.
    members.sort((a, b) => a.onset - b.onset || cmp(a.id, b.id))
    for (const d of members) {
      waiting.delete(d.id)
      this.join(campaign, d, d === device ? alert : null, t)
    }
    if (waiting.size === 0) this.waiting.delete(behaviour)
    this.open.set(key(behaviour, model), campaign)
    this.counters.opened++
    this.record(campaign, 'firing', t)
  }

  private join(c: Campaign, device: DeviceState, alert: Alert | null, t: number): void {
    device.campaign = c
    c.members.set(device.id, device)
    c.startsAt = Math.min(c.startsAt, device.onset)
    for (const i of device.pending) addIndicator(c, i, device.id)
    device.pending.clear()
    if (rank(device.severity) > rank(c.severity)) c.severity = device.severity
    if (device.score > c.score) c.score = device.score
    if (alert !== null) this.touch(c, device, alert, t)
    else c.lastActive = Math.max(c.lastActive, device.behaviourSeen)
  }

  /** Adds a member's alert to the campaign; true when it raised the campaign's severity. */
  private touch(c: Campaign, device: DeviceState, alert: Alert, t: number): boolean {
    c.lastActive = Math.max(c.lastActive, t)
    const raised = rank(alert.severity) > rank(c.severity)
    if (raised) c.severity = alert.severity
    if (alert.score > c.score) c.score = alert.score
    for (const i of indicatorsOf(alert)) addIndicator(c, i, device.id)
    return raised
  }

  private resolve(c: Campaign): void {
    this.open.delete(key(c.behaviour, c.model))
    this.record(c, 'resolved', c.lastActive)
    this.counters.resolved++
    for (const d of c.members.values()) {
      d.campaign = null
      d.behaviour = null
      this.devices.delete(d.id)
    }
  }

  private device(a: Alert, t: number): DeviceState {
    let d = this.devices.get(a.deviceId)
    if (d === undefined) {
      d = {
        id: a.deviceId, model: a.model, firmware: a.firmware, firing: new Set(), behaviour: null, behaviourSeen: -Infinity,
        onset: Date.parse(a.startsAt), campaign: null, pending: new Set(), severity: 'low', score: 0, lastEvent: t,
      }
      this.devices.set(a.deviceId, d)
    }
    d.lastEvent = t
    return d
  }

  /** Devices outside any campaign, with nothing firing and quiet for a window, are forgotten (memory stays bounded by the window). */
  private forgetQuietDevices(): void {
    for (const d of this.devices.values()) {
      if (d.campaign !== null || d.firing.size > 0 || this.now - d.lastEvent <= this.settings.windowMs) continue
      this.devices.delete(d.id)
      if (d.behaviour !== null) this.waiting.get(d.behaviour)?.delete(d.id)
    }
    for (const [behaviour, waiting] of this.waiting) if (waiting.size === 0) this.waiting.delete(behaviour)
  }

  private record(c: Campaign, status: 'firing' | 'resolved', t: number): void {
    c.revision++
    const previous = c.recorded
    c.recorded = c.severity
    const models = new Map<string, number>()
    const firmware = new Set<string>()
    for (const d of c.members.values()) {
      const m = d.model ?? '(unknown)'
      models.set(m, (models.get(m) ?? 0) + 1)
      if (d.firmware !== null) firmware.add(d.firmware)
    }
    const modelList = [...models.entries()].sort((a, b) => b[1] - a[1] || cmp(a[0], b[0]))
    const indicators = [...c.indicators.entries()]
      .map(([name, devices]) => [name, devices.size] as const)
      .sort((a, b) => b[1] - a[1] || cmp(a[0], b[0]))
      .slice(0, LISTED_INDICATORS)
    const n = c.members.size
    const who = c.model !== null ? `${n} ${c.model} devices` : `${n} devices of ${models.size} model${models.size === 1 ? '' : 's'}`
    this.emit({
      id: c.id,
      scope: 'fleet',
      kind: this.kind,
      behaviour: c.behaviour,
      detector: c.detector,
      status,
      revision: c.revision,
      severity: c.severity,
      previousSeverity: previous,
      score: Math.round(c.score * 1000) / 1000,
      startsAt: isoTime(c.startsAt),
      endsAt: status === 'resolved' ? isoTime(c.lastActive) : null,
      detectedAt: isoTime(c.openedAt),
      updatedAt: isoTime(t),
      summary: `${who}: ${c.behaviour} since ${isoTime(c.startsAt)}${status === 'resolved' ? `, quiet since ${isoTime(c.lastActive)}` : ''}`,
      model: c.model,
      deviceCount: n,
      models: modelList.map(([m]) => m),
      firmware: [...firmware].sort(),
      indicators: indicators.map(([name]) => name),
      evidence: {
        devicesPerModel: modelList.map(([, count]) => count),
        devicesPerIndicator: indicators.map(([, count]) => count),
        devices: [...c.members.keys()].slice(0, LISTED_DEVICES),
      },
    })
  }
}

const key = (behaviour: string, model: string | null): string => `${behaviour}\n${model ?? '*'}`

const addIndicator = (c: Campaign, indicator: string, deviceId: string): void => {
  let set = c.indicators.get(indicator)
  if (set === undefined) c.indicators.set(indicator, (set = new Set()))
  set.add(deviceId)
}

/**
 * Correlates a set of alerts (a replay, a file, a topic read to its end): sorts them into
 * `compareAlerts` order first. `until`, when given, is event time known to have passed (a
 * watermark): campaigns quiet since long enough before it resolve. Records come in event-time
 * order (`updatedAt`).
 */
export const correlateAll = (alerts: readonly Alert[], settings: CampaignSettings, until?: number): CampaignRecord[] => {
  const out: CampaignRecord[] = []
  const correlators = [new Correlator(settings, (r) => out.push(r)), new Correlator(settings, (r) => out.push(r), 'rollout')]
  for (const a of [...alerts].sort(compareAlerts)) for (const c of correlators) c.observe(a)
  if (until !== undefined) for (const c of correlators) c.advance(until)
  // A resolution is written when event time has passed it: put it back in its place.
  return out.map((r, i) => [r, i] as const).sort((a, b) => Date.parse(a[0].updatedAt) - Date.parse(b[0].updatedAt) || a[1] - b[1]).map(([r]) => r)
}
