// Scores alerts against fixture labels: per device detected / missed / false alarm, time to detect, per attack kind.
//
// Labels: `benign`, or an attack tag. A tag with a `/stage` suffix (the synthetic fleet's
// `spam-burst/staging`: dropper, C&C) marks malicious activity before the payload; the kind is the
// part before the slash. Time to detect is measured from the first malicious event (infection) and
// from the first payload event (label without a stage), so a burst's detection delay is visible apart
// from the quiet minutes after the dropper.
import type { Alert, DeviceEvent } from './types.ts'

interface Truth {
  model: string
  firstTs: number
  lastTs: number
  /** First event time with a non-benign label, or null for a benign device. */
  onset: number | null
  /** First event time with a non-benign label without a stage suffix. */
  payload: number | null
  kind: string | null
}

export interface DeviceOutcome {
  readonly deviceId: string
  readonly model: string
  readonly kind: string
  readonly outcome: 'detected' | 'missed' | 'false-alarm' | 'quiet'
  /** ISO-8601 event time of its first malicious event; null for a benign device. */
  readonly onsetAt: string | null
  /** Event-time seconds from the first malicious event to the first alert after it (with `scoredFrom`, one before it too: an infection older than the scored period). */
  readonly timeToDetectSeconds: number | null
  /** Event-time seconds from the payload's first event to that alert (0 when the alert came earlier). */
  readonly timeToDetectPayloadSeconds: number | null
  /** Alerts that fired before the device's first malicious event (infected devices). */
  readonly alertsBeforeOnset: number
  readonly detectors: readonly string[]
}

export interface KindScore {
  readonly kind: string
  readonly devices: number
  readonly detected: number
  readonly recall: number
  readonly medianTimeToDetectSeconds: number | null
  readonly medianTimeToDetectPayloadSeconds: number | null
}

export interface Evaluation {
  readonly devices: number
  readonly infected: number
  readonly benign: number
  readonly detected: number
  readonly missed: number
  readonly falseAlarms: number
  /** Notices (`kind: notice`: a firmware rollout's adoptions): neither detections nor false alarms. */
  readonly notices: number
  readonly recall: number
  readonly precision: number
  readonly falseAlarmRate: number
  readonly medianTimeToDetectSeconds: number | null
  readonly medianTimeToDetectPayloadSeconds: number | null
  readonly byKind: readonly KindScore[]
  readonly byDetector: Readonly<Record<string, { alerts: number; onInfected: number; onBenign: number }>>
  readonly perDevice: readonly DeviceOutcome[]
  /** ISO-8601: alerts detected before it were not scored (`--from`: a history the detectors learned from), or null. */
  readonly scoredFrom: string | null
  /**
   * Firing alerts (notices aside) detected before `scoredFrom`, and the devices they were on: no
   * false alarms (a deployment's first day), but detections of infections older than the scored period.
   */
  readonly alertsBeforeScored: number
  readonly devicesAlertedBeforeScored: number
  /** ISO-8601 event times of the first and last event (null without events). */
  readonly start: string | null
  readonly end: string | null
}

const medianOf = (xs: number[]): number | null => {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : Math.round((a / b) * 10_000) / 10_000)

/**
 * When an alert record was made, as epoch ms: an escalation (a firing record past the first) keeps
 * its alert's `detectedAt`, so its own time is its `updatedAt`; any other record, its `detectedAt`.
 */
export const recordedAt = (a: Alert): number => Date.parse(a.status === 'firing' && a.revision > 1 ? a.updatedAt : a.detectedAt)

/** Collects ground truth from labelled events and alerts as they stream, then scores them. */
export class Evaluator {
  private readonly truth = new Map<string, Truth>()
  private readonly firing: Alert[] = []
  /** The ids of the alerts taken. */
  private readonly seen = new Set<string>()
  private start = Infinity
  private end = -Infinity
  private readonly before = new Set<string>()
  private alertsBefore = 0
  /** Alerts whose first firing record came before `scoredFrom`, and their first firing record from it on (an escalation), if any. */
  private readonly openedBefore = new Map<string, Alert | null>()

  /** `scoredFrom`: epoch ms from which alerts are scored (those detected earlier are counted apart), or null for all. */
  constructor(private readonly scoredFrom: number | null = null) {}

  observe(event: DeviceEvent): void {
    if (event.ts < this.start) this.start = event.ts
    if (event.ts > this.end) this.end = event.ts
    let t = this.truth.get(event.deviceId)
    if (t === undefined) {
      t = { model: event.model ?? 'unknown', firstTs: event.ts, lastTs: event.ts, onset: null, payload: null, kind: null }
      this.truth.set(event.deviceId, t)
    }
    if (event.model !== undefined) t.model = event.model
    if (event.ts < t.firstTs) t.firstTs = event.ts
    if (event.ts > t.lastTs) t.lastTs = event.ts
    const label = event.label
    if (label !== undefined && label !== 'benign' && label !== '') {
      const slash = label.indexOf('/')
      if (t.onset === null || event.ts < t.onset) {
        t.onset = event.ts
        t.kind = slash < 0 ? label : label.slice(0, slash)
      }
      if (slash < 0 && (t.payload === null || event.ts < t.payload)) t.payload = event.ts
    }
  }

  /**
   * An alert is scored once, by its first firing record (later ones are its escalations); a notice
   * (an expected change, `kind: notice`) is counted apart: neither a detection nor a false alarm.
   * With `scoredFrom`, one first detected before it is counted apart: it detects an infection
   * that began before it, but is no false alarm unless it escalates from then on (a benign device's
   * learning is not scored, an alert still rising in the scored period is).
   */
  alert(alert: Alert): void {
    if (alert.status !== 'firing') return
    const early = this.scoredFrom !== null && recordedAt(alert) < this.scoredFrom
    if (this.seen.has(alert.id)) {
      if (!early && this.openedBefore.get(alert.id) === null) this.openedBefore.set(alert.id, alert)
      return
    }
    this.seen.add(alert.id)
    this.firing.push(alert)
    if (!early) return
    this.openedBefore.set(alert.id, null)
    if (alert.kind !== 'notice') {
      this.alertsBefore++
      this.before.add(alert.deviceId)
    }
  }

  /** An alert's first firing record in the scored period: its first, or the escalation of one opened before it; null for none. */
  private scoredRecord(a: Alert): Alert | null {
    const later = this.openedBefore.get(a.id)
    return later === undefined ? a : later
  }

  result(): Evaluation {
    const isNotice = (a: Alert): boolean => a.kind === 'notice'
    const notices = this.firing.filter((a) => isNotice(a) && this.scoredRecord(a) !== null).length
    const byDevice = new Map<string, Alert[]>()
    for (const a of this.firing) {
      if (isNotice(a)) continue
      const list = byDevice.get(a.deviceId)
      if (list) list.push(a)
      else byDevice.set(a.deviceId, [a])
    }
    const perDevice: DeviceOutcome[] = []
    const byDetector: Record<string, { alerts: number; onInfected: number; onBenign: number }> = {}
    for (const [deviceId, t] of [...this.truth].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const all = byDevice.get(deviceId) ?? []
      // The scored period's records: an alert opened before it counts at its escalation in it.
      const scored = all.flatMap((a) => {
        const r = this.scoredRecord(a)
        return r === null ? [] : [r]
      })
      // A device whose events all lie before the scored period, and no alert in it, is not scored.
      if (this.scoredFrom !== null && t.lastTs < this.scoredFrom && scored.length === 0) continue
      for (const a of scored) {
        const d = (byDetector[a.detector] ??= { alerts: 0, onInfected: 0, onBenign: 0 })
        d.alerts++
        if (t.onset === null) d.onBenign++
        else d.onInfected++
      }
      // A benign device is judged by the scored period's records; an infected one is detected by any
      // alert after its onset (one before the scored period detects an infection older than it).
      const alerts = t.onset === null ? scored : all
      const detectors = [...new Set(alerts.map((a) => a.detector))].sort()
      if (t.onset === null) {
        perDevice.push({
          deviceId, model: t.model, kind: 'benign', outcome: alerts.length > 0 ? 'false-alarm' : 'quiet', onsetAt: null,
          timeToDetectSeconds: null, timeToDetectPayloadSeconds: null, alertsBeforeOnset: 0, detectors,
        })
        continue
      }
      const onset = t.onset
      const after = alerts.map((a) => Date.parse(a.detectedAt)).filter((at) => at >= onset)
      const first = after.length > 0 ? Math.min(...after) : null
      perDevice.push({
        deviceId, model: t.model, kind: t.kind!, outcome: first === null ? 'missed' : 'detected', onsetAt: new Date(onset).toISOString(),
        timeToDetectSeconds: first === null ? null : Math.round((first - onset) / 1000),
        timeToDetectPayloadSeconds: first === null || t.payload === null ? null : Math.max(0, Math.round((first - t.payload) / 1000)),
        alertsBeforeOnset: alerts.length - after.length, detectors,
      })
    }
    const infected = perDevice.filter((d) => d.kind !== 'benign')
    const detected = infected.filter((d) => d.outcome === 'detected')
    const falseAlarms = perDevice.filter((d) => d.outcome === 'false-alarm').length
    const kinds = [...new Set(infected.map((d) => d.kind))].sort()
    const ttd = (ds: DeviceOutcome[]) => medianOf(ds.flatMap((d) => (d.timeToDetectSeconds === null ? [] : [d.timeToDetectSeconds])))
    const ttdPayload = (ds: DeviceOutcome[]) =>
      medianOf(ds.flatMap((d) => (d.timeToDetectPayloadSeconds === null ? [] : [d.timeToDetectPayloadSeconds])))
    return {
      devices: perDevice.length,
      infected: infected.length,
      benign: perDevice.length - infected.length,
      detected: detected.length,
      missed: infected.length - detected.length,
      falseAlarms,
      notices,
      recall: ratio(detected.length, infected.length),
      precision: ratio(detected.length, detected.length + falseAlarms),
      falseAlarmRate: ratio(falseAlarms, perDevice.length - infected.length),
      medianTimeToDetectSeconds: ttd(detected),
      medianTimeToDetectPayloadSeconds: ttdPayload(detected),
      byKind: kinds.map((kind) => {
        const ds = infected.filter((d) => d.kind === kind)
        const hit = ds.filter((d) => d.outcome === 'detected')
        return {
          kind, devices: ds.length, detected: hit.length, recall: ratio(hit.length, ds.length),
          medianTimeToDetectSeconds: ttd(hit), medianTimeToDetectPayloadSeconds: ttdPayload(hit),
        }
      }),
      byDetector,
      perDevice,
      scoredFrom: this.scoredFrom === null ? null : new Date(this.scoredFrom).toISOString(),
      alertsBeforeScored: this.alertsBefore,
      devicesAlertedBeforeScored: this.before.size,
      start: Number.isFinite(this.start) ? new Date(this.start).toISOString() : null,
      end: Number.isFinite(this.end) ? new Date(this.end).toISOString() : null,
    }
  }
}

/** Seconds as minutes to a tenth, for people (the Markdown tables, the HTML report). */
export const minutesText = (s: number | null): string => (s === null ? '–' : `${Math.round(s / 6) / 10} min`)

/** The evaluation as Markdown tables, for the README and humans. */
export const evaluationMarkdown = (e: Evaluation): string => {
  const fmt = minutesText
  const lines = [
    '| devices | infected | detected | recall | benign | false alarms | false-alarm rate | precision | median time to detect: from infection | from payload |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| ${e.devices} | ${e.infected} | ${e.detected} | ${e.recall} | ${e.benign} | ${e.falseAlarms} | ${e.falseAlarmRate} | ${e.precision} | ${fmt(e.medianTimeToDetectSeconds)} | ${fmt(e.medianTimeToDetectPayloadSeconds)} |`,
    '',
    '| attack kind | devices | detected | recall | median time to detect: from infection | from payload |',
    '|---|---:|---:|---:|---:|---:|',
    ...e.byKind.map((k) => `| ${k.kind} | ${k.devices} | ${k.detected} | ${k.recall} | ${fmt(k.medianTimeToDetectSeconds)} | ${fmt(k.medianTimeToDetectPayloadSeconds)} |`),
    '',
    '| detector | firing alerts | on infected devices | on benign devices |',
    '|---|---:|---:|---:|',
    ...Object.entries(e.byDetector).sort().map(([id, d]) => `| ${id} | ${d.alerts} | ${d.onInfected} | ${d.onBenign} |`),
    ...(e.scoredFrom === null ? [] : ['', `Scored from ${e.scoredFrom}. Before it (history): ${e.alertsBeforeScored} alerts on ${e.devicesAlertedBeforeScored} devices, no false alarms; those on an infection that began before it detect it.`]),
  ]
  return lines.join('\n') + '\n'
}
