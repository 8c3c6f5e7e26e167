// Alert lifecycle: hysteresis (N bad windows fire, M clean windows resolve), one open alert per device and detector, a new revision when its severity rises.
import type { Alert, Finding, Severity } from '../types.ts'
import { kindOf, SEVERITIES } from '../types.ts'
import type { DeviceRecord } from '../engine/device.ts'
import type { WindowSink } from '../engine/engine.ts'
import { alertId, makeAlert } from './alert.ts'
import type { Suppressions } from './suppression.ts'
import type { PeerFeature, PeerGroups } from '../engine/peers.ts'

export interface LifecyclePolicy {
  readonly detector: string
  readonly detectorVersion: number
  /** See `Alert.configHash`. */
  readonly configHash: string
  /** The feature its alerts compare the device with its peers on. */
  readonly peerFeature: PeerFeature
  /** Consecutive windows with a finding before the alert fires. */
  readonly fireAfter: number
  /** Consecutive clean windows before a firing alert resolves. */
  readonly resolveAfter: number
}

/** Per device and detector: the current streaks and the open alert, if any. */
interface Slot {
  bad: number
  clean: number
  /** Window of the first bad window of the current streak. */
  startWindow: number
  lastBadWindow: number
  /** The latest record of the open alert (its firing or latest escalation). */
  open: Alert | null
  peak: Finding | null
  /** The peak's evidence with the device's standing among its peers when it became the peak. */
  peakEvidence: Finding['evidence'] | null
  maxScore: number
}

export interface LifecycleCounters {
  fired: number
  /** Firing records of a higher severity than the alert's previous one. */
  escalated: number
  resolved: number
  suppressed: number
}

const rank = (s: Severity): number => SEVERITIES.indexOf(s)

/** What a later record of an alert says anew; the rest is the open record's. */
interface Revision {
  readonly status: Alert['status']
  readonly severity: Severity
  readonly score: number
  readonly endsAtMs: number | null
  readonly updatedAtMs: number
  readonly summary: string
  readonly evidence: Finding['evidence']
}

/** The alert's next record (an escalation or its resolution): the open record's id, device, detector and times, the next revision. */
const revise = (open: Alert, r: Revision): Alert =>
  makeAlert({
    id: open.id,
    // Checkpoints from before kinds hold records without one.
    kind: kindOf(open),
    deviceId: open.deviceId,
    model: open.model ?? 'unknown',
    firmware: open.firmware ?? '',
    detector: open.detector,
    detectorVersion: open.detectorVersion,
    configHash: open.configHash,
    status: r.status,
    revision: (open.revision ?? 1) + 1,
    severity: r.severity,
    previousSeverity: open.severity,
    score: r.score,
    startsAtMs: Date.parse(open.startsAt),
    endsAtMs: r.endsAtMs,
    detectedAtMs: Date.parse(open.detectedAt),
    updatedAtMs: r.updatedAtMs,
    summary: r.summary,
    evidence: r.evidence,
  })

/** The alerts firing on a device (fired, not resolved yet). */
export const forEachOpenAlert = (device: DeviceRecord, visit: (alert: Alert) => void): void => {
  if (device.alerts === null) return
  for (const slot of device.alerts as (Slot | undefined)[]) if (slot?.open) visit(slot.open)
}

export class AlertLifecycle implements WindowSink {
  readonly counters: LifecycleCounters = { fired: 0, escalated: 0, resolved: 0, suppressed: 0 }

  constructor(
    private readonly policies: readonly LifecyclePolicy[],
    private readonly suppressions: Suppressions,
    private readonly windowMs: number,
    private readonly emit: (alert: Alert) => void,
    /** When given, alerts carry the device's standing among its model's peers in their evidence. */
    private readonly peers?: PeerGroups,
  ) {}

  /** A finding's evidence with the device's standing among its model's peers as the fleet knew it for `window`. */
  private evidence(device: DeviceRecord, policy: LifecyclePolicy, finding: Finding, window: number): Finding['evidence'] {
    return this.peers === undefined ? finding.evidence : { ...finding.evidence, ...this.peers.evidence(policy.peerFeature, device.model, device, window * this.windowMs) }
  }

  onWindow(device: DeviceRecord, detector: number, window: number, finding: Finding | null): void {
    if (finding === null) {
      if (device.alerts !== null) this.clean(device, detector, 1)
      return
    }
    const policy = this.policies[detector]!
    const windowEnd = (window + 1) * this.windowMs
    if (!this.suppressions.empty &&
      this.suppressions.matches(device.id, policy.detector, finding.destinations, windowEnd)) {
      this.counters.suppressed++
      if (device.alerts !== null) this.clean(device, detector, 1)
      return
    }
    const slot = this.slot(device, detector)
    // A notice open when the detector finds behaviour to act on (a rollout, then a shift to
    // another host): the notice ends, and the alert is one of its own, paged as any other.
    if (slot.open !== null && kindOf(slot.open) === 'notice' && (finding.kind ?? 'alert') === 'alert') this.resolve(slot)
    if (slot.bad === 0) slot.startWindow = window
    slot.bad++
    slot.clean = 0
    slot.lastBadWindow = window
    // The peak is the most severe finding, the highest-scoring among equals.
    const peak = slot.peak
    if (peak === null || rank(finding.severity) > rank(peak.severity) ||
      (finding.severity === peak.severity && finding.score > peak.score)) {
      slot.peak = finding
      slot.peakEvidence = this.evidence(device, policy, finding, window)
    }
    if (finding.score > slot.maxScore) slot.maxScore = finding.score
    const open = slot.open
    if (open === null && slot.bad >= policy.fireAfter) {
      const startsAtMs = slot.startWindow * this.windowMs
      slot.open = makeAlert({
        id: alertId(device.id, policy.detector, startsAtMs),
        kind: slot.peak!.kind ?? 'alert',
        deviceId: device.id,
        model: device.model,
        firmware: device.firmware,
        detector: policy.detector,
        detectorVersion: policy.detectorVersion,
        configHash: policy.configHash,
        status: 'firing',
        revision: 1,
        // The streak's most severe window so far (fireAfter windows may precede it): the first
        // record is never below what its resolution will say of the same windows.
        severity: slot.peak!.severity,
        previousSeverity: null,
        score: finding.score,
        startsAtMs,
        endsAtMs: null,
        detectedAtMs: windowEnd,
        updatedAtMs: windowEnd,
        summary: finding.summary,
        evidence: slot.peak === finding ? slot.peakEvidence! : this.evidence(device, policy, finding, window),
      })
      this.counters.fired++
      this.emit(slot.open)
    } else if (open !== null && rank(finding.severity) > rank(open.severity)) {
      // Its severity rose while it fires: a new revision, so that a target waiting for that severity is paged.
      slot.open = revise(open, {
        status: 'firing', severity: finding.severity, score: slot.maxScore, endsAtMs: null, updatedAtMs: windowEnd, summary: finding.summary,
        evidence: slot.peak === finding ? slot.peakEvidence! : this.evidence(device, policy, finding, window),
      })
      this.counters.escalated++
      this.emit(slot.open)
    }
  }

  onQuiet(device: DeviceRecord, count: number): void {
    if (device.alerts === null) return
    for (let i = 0; i < device.alerts.length; i++) this.clean(device, i, count)
  }

  /** A forgotten device resolves its open alerts: nobody would ever resolve them later. */
  onEvict(device: DeviceRecord): void {
    if (device.alerts === null) return
    for (let i = 0; i < device.alerts.length; i++) {
      const slot = device.alerts[i] as Slot | undefined
      if (slot?.open) this.resolve(slot)
    }
  }

  private clean(device: DeviceRecord, detector: number, count: number): void {
    const slot = device.alerts![detector] as Slot | undefined
    if (slot === undefined) return
    slot.bad = 0
    if (slot.open === null) {
      slot.peak = null
      slot.peakEvidence = null
      slot.maxScore = 0
      return
    }
    slot.clean += count
    if (slot.clean >= this.policies[detector]!.resolveAfter) this.resolve(slot)
  }

  private resolve(slot: Slot): void {
    const open = slot.open!
    const peak = slot.peak!
    // The behaviour ended with the last bad window; the clean windows only confirmed it.
    const endsAtMs = (slot.lastBadWindow + 1) * this.windowMs
    this.emit(revise(open, {
      status: 'resolved', severity: rank(peak.severity) > rank(open.severity) ? peak.severity : open.severity, score: slot.maxScore,
      endsAtMs, updatedAtMs: endsAtMs, summary: peak.summary, evidence: slot.peakEvidence ?? peak.evidence,
    }))
    this.counters.resolved++
    slot.open = null
    slot.peak = null
    slot.peakEvidence = null
    slot.maxScore = 0
    slot.bad = 0
    slot.clean = 0
  }

  private slot(device: DeviceRecord, detector: number): Slot {
    const slots = (device.alerts ??= new Array<unknown>(this.policies.length).fill(undefined))
    let slot = slots[detector] as Slot | undefined
    if (slot === undefined) {
      slot = { bad: 0, clean: 0, startWindow: 0, lastBadWindow: 0, open: null, peak: null, peakEvidence: null, maxScore: 0 }
      slots[detector] = slot
    }
    return slot
  }
}
