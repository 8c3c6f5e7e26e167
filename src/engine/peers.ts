// Peer groups: each device's hourly traffic features against its model's cohort (median, MAD, percentile), as evidence for its alerts.
import type { EgressEvent, Evidence } from '../types.ts'
import { mean as average, medianAbsoluteDeviation, medianSorted } from 'simple-statistics'
import { MAX_MODELS } from './cohort.ts'

const HOUR_MS = 3_600_000
/** Completed device-hours kept per model and feature: the cohort a device is compared with. */
const RESERVOIR = 128
const SMTP_PORTS = new Set([25, 465, 587, 2525])

export const PEER_FEATURES = ['smtpFlowsPerHour', 'bytesOutPerHour', 'flowsPerHour'] as const
export type PeerFeature = (typeof PEER_FEATURES)[number]

/** The feature an alert of each detector is compared on; flows per hour for the others. */
const FEATURE_OF: Readonly<Record<string, PeerFeature>> = {
  'smtp-burst': 'smtpFlowsPerHour',
  'email-telemetry': 'smtpFlowsPerHour',
  'mud-violation': 'flowsPerHour',
  'volume-spike': 'bytesOutPerHour',
  'new-destination': 'bytesOutPerHour',
}

/**
 * A device's features: the hour (epoch hours) being counted, its counts so far, and the previous
 * hour's. Plain small-integer fields on the device record (no allocation per event, a few bytes a
 * device): flows and SMTP connections share one field (flows in the low 16 bits, SMTP above,
 * each saturating), bytes have their own.
 */
export interface DeviceFeatures {
  featureHour: number
  countsNow: number
  bytesNow: number
  countsBefore: number
  bytesBefore: number
}

export const initialFeatures = (): DeviceFeatures => ({ featureHour: -1, countsNow: 0, bytesNow: 0, countsBefore: 0, bytesBefore: 0 })

const FLOWS_MAX = 0xffff
const SMTP_UNIT = 0x10000
/** 14 bits of SMTP connections: the packed field stays a small integer (31 bits). */
const SMTP_MAX = 0x3fff
const flowsOf = (counts: number): number => counts & FLOWS_MAX
const smtpOf = (counts: number): number => Math.floor(counts / SMTP_UNIT)

/** The last RESERVOIR completed device-hours of one model, per feature, and their statistics as of `seen` (alerts come in bursts). */
interface Cohort {
  readonly values: [number[], number[], number[]]
  seen: number
  readonly stats: ({ seen: number; sorted: number[]; median: number; mad: number; mean: number } | null)[]
}

export interface PeerSnapshot {
  readonly models: readonly { model: string; seen: number; values: [number[], number[], number[]] }[]
}

const round = (x: number, digits = 2): number => {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

/**
 * Per model (per pipeline: per partition in `run`), the devices tracked and the cohort of their
 * completed hours. `evidence` compares a device's current level (the larger of its last full hour
 * and the hour so far) with its model's cohort: ratio to the median, robust z-score (MAD), the
 * share of device-hours below it.
 */
export class PeerGroups {
  private readonly cohorts = new Map<string, Cohort>()
  private readonly devices = new Map<string, number>()

  /** A device of `model` appeared (or took that model). */
  join(model: string): void {
    this.devices.set(model, (this.devices.get(model) ?? 0) + 1)
  }

  /** Devices of `model` tracked now. */
  deviceCount(model: string): number {
    return this.devices.get(model) ?? 0
  }

  /** A device of `model` was forgotten (or changed model). */
  leave(model: string): void {
    const n = (this.devices.get(model) ?? 1) - 1
    if (n <= 0) this.devices.delete(model)
    else this.devices.set(model, n)
  }

  observe(f: DeviceFeatures, model: string, e: EgressEvent): void {
    const hour = Math.floor(e.ts / HOUR_MS)
    if (hour > f.featureHour) this.roll(f, model, hour)
    else if (hour < f.featureHour) return // late within the engine's lateness, across an hour: counted nowhere
    let c = f.countsNow
    if (flowsOf(c) < FLOWS_MAX) c++
    if (e.proto === 6 && SMTP_PORTS.has(e.dstPort) && smtpOf(c) < SMTP_MAX) c += SMTP_UNIT
    f.countsNow = c
    f.bytesNow += e.bytesOut
  }

  private roll(f: DeviceFeatures, model: string, hour: number): void {
    if (f.featureHour >= 0) {
      this.add(model, smtpOf(f.countsNow), f.bytesNow, flowsOf(f.countsNow))
      const consecutive = hour === f.featureHour + 1
      f.countsBefore = consecutive ? f.countsNow : 0
      f.bytesBefore = consecutive ? f.bytesNow : 0
    }
    f.featureHour = hour
    f.countsNow = 0
    f.bytesNow = 0
  }

  private add(model: string, smtp: number, bytes: number, flows: number): void {
    let c = this.cohorts.get(model)
    if (c === undefined) {
      if (this.cohorts.size >= MAX_MODELS) return
      c = { values: [[], [], []], seen: 0, stats: [null, null, null] }
      this.cohorts.set(model, c)
    }
    const slot = c.seen % RESERVOIR
    c.values[0][slot] = smtp
    c.values[1][slot] = bytes
    c.values[2][slot] = flows
    c.seen++
  }

  /** Peer evidence for an alert of `detector` on a device: `{}` when its model has no completed hours yet. */
  evidence(detector: string, model: string, f: DeviceFeatures): Evidence {
    const c = this.cohorts.get(model)
    if (c === undefined || c.seen === 0) return {}
    const feature = FEATURE_OF[detector] ?? 'flowsPerHour'
    const k = PEER_FEATURES.indexOf(feature)
    const now = [smtpOf(f.countsNow), f.bytesNow, flowsOf(f.countsNow)][k]!
    const before = [smtpOf(f.countsBefore), f.bytesBefore, flowsOf(f.countsBefore)][k]!
    const value = Math.max(now, before)
    let st = c.stats[k]
    if (st === null || st === undefined || st.seen !== c.seen) {
      // simple-statistics, as the detectors' baselines use it; a cohort here has at least one hour.
      const sorted = c.values[k]!.slice().sort((a, b) => a - b)
      st = { seen: c.seen, sorted, median: medianSorted(sorted), mad: medianAbsoluteDeviation(sorted), mean: average(sorted) }
      c.stats[k] = st
    }
    const { sorted, median: med, mad, mean } = st
    let below = 0
    while (below < sorted.length && sorted[below]! < value) below++
    // 1.4826 × MAD estimates a standard deviation; a cohort with no spread at all gives no z-score.
    // Most devices send no mail: the median is 0 then, and the ratio is to the mean.
    const z = mad > 0 ? (value - med) / (1.4826 * mad) : null
    const ratio = mean > 0 ? round(value / mean, 1) : null
    const peers = Math.max(0, (this.devices.get(model) ?? 1) - 1)
    const percentile = round((100 * below) / sorted.length, 1)
    const unit = feature === 'smtpFlowsPerHour' ? 'SMTP connections' : feature === 'bytesOutPerHour' ? 'bytes out' : 'flows'
    return {
      peerFeature: feature,
      peerValue: value,
      peerMedian: round(med),
      peerMean: round(mean),
      peerRatio: ratio,
      peerZ: z === null ? null : round(z, 1),
      peerPercentile: percentile,
      peerDevices: peers,
      peerHours: sorted.length,
      peerSummary:
        `${value} ${unit} an hour, ${ratio === null ? 'where its peers have none' : `${ratio}× the mean of its ${peers} ${model} peers`} ` +
        `(median ${round(med)}, above ${percentile}% of ${sorted.length} device-hours)`,
    }
  }

  snapshot(): PeerSnapshot {
    return { models: [...this.cohorts].map(([model, c]) => ({ model, seen: c.seen, values: [c.values[0].slice(), c.values[1].slice(), c.values[2].slice()] })) }
  }

  restore(s: PeerSnapshot): void {
    this.cohorts.clear()
    for (const m of s.models) this.cohorts.set(m.model, { seen: m.seen, values: [m.values[0].slice(), m.values[1].slice(), m.values[2].slice()], stats: [null, null, null] })
  }
}
