// Peer groups: each device's hourly traffic features against its model's over the fleet (median, MAD, percentile), as evidence for its alerts.
import type { EgressEvent, Evidence } from '../types.ts'
import { bucketOf, bucketValue, LAG_EPOCHS } from './fleet.ts'
import type { FleetAccess, FleetHistogram } from './fleet.ts'

const HOUR_MS = 3_600_000
const SMTP_PORTS = new Set([25, 465, 587, 2525])

export const PEER_FEATURES = ['smtpFlowsPerHour', 'bytesOutPerHour', 'flowsPerHour'] as const
export type PeerFeature = (typeof PEER_FEATURES)[number]

/**
 * A device's features: the hour (epoch hours) being counted, its counts so far, and the previous
 * hour's. Plain small-integer fields on the device record (no allocation per event, a few bytes a
 * device): flows and SMTP connections share one field (flows in the low 16 bits, SMTP above,
 * each saturating), bytes have their own. Then what the fleet holds of it: the histogram buckets
 * of the completed hour it shared last (`shared`, three 9-bit buckets packed, -1 for none), the
 * epoch it shared it in, and the one it shared before (which the fleet's level holds until that
 * epoch is in it).
 */
export interface DeviceFeatures {
  featureHour: number
  countsNow: number
  bytesNow: number
  countsBefore: number
  bytesBefore: number
  shared: number
  sharedEpoch: number
  sharedBefore: number
}

export const initialFeatures = (): DeviceFeatures => ({ featureHour: -1, countsNow: 0, bytesNow: 0, countsBefore: 0, bytesBefore: 0, shared: -1, sharedEpoch: 0, sharedBefore: -1 })

const FLOWS_MAX = 0xffff
const SMTP_UNIT = 0x10000
/** 14 bits of SMTP connections: the packed field stays a small integer (31 bits). */
const SMTP_MAX = 0x3fff
const flowsOf = (counts: number): number => counts & FLOWS_MAX
const smtpOf = (counts: number): number => Math.floor(counts / SMTP_UNIT)

/** A shared hour's three histogram buckets (smtp, bytes, flows; each below 512) in one small integer, and back. */
const BUCKET_BITS = 9
const packBuckets = (smtp: number, bytes: number, flows: number): number => (bucketOf(smtp) << (2 * BUCKET_BITS)) | (bucketOf(bytes) << BUCKET_BITS) | bucketOf(flows)
const bucketIn = (packed: number, k: number): number => (packed >>> ((2 - k) * BUCKET_BITS)) & ((1 << BUCKET_BITS) - 1)

/** The robust z-score's bound either way. */
const Z_CAP = 100

/** Peers (the model's other devices active lately) a device needs for peer evidence. */
export const MIN_PEERS = 5

/** Bytes in decimal units, three significant figures at most: `273 MB`, `12.3 GB`, `950 B`; rounding up to 1000 takes the next unit. */
export const bytes = (n: number): string => {
  if (Math.round(n) < 1000) return `${Math.round(n)} B`
  const units = ['kB', 'MB', 'GB', 'TB', 'PB']
  let v = n / 1000
  let u = 0
  const shown = (x: number): number => (x >= 99.95 ? Math.round(x) : round(x, 1))
  while (shown(v) >= 1000 && u < units.length - 1) {
    v /= 1000
    u++
  }
  return `${shown(v)} ${units[u]}`
}

const round = (x: number, digits = 2): number => {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

/**
 * Per model, the distribution over the fleet of its devices' latest completed hours (one value a
 * device: a device replaces its value as its hours complete, and retracts it when it goes), and
 * `evidence`: a device's current level (the larger of its last full hour and the hour so far)
 * against its peers' (the distribution without its own value): ratio to the mean, robust z-score
 * (MAD), the share of peers below it.
 */
export class PeerGroups {
  private readonly features: readonly [FleetHistogram, FleetHistogram, FleetHistogram]

  constructor(private readonly fleet: FleetAccess) {
    const latest = { latest: true }
    this.features = [fleet.histogram('latest/smtpFlowsPerHour', latest), fleet.histogram('latest/bytesOutPerHour', latest), fleet.histogram('latest/flowsPerHour', latest)]
  }

  observe(f: DeviceFeatures, model: string, e: EgressEvent): void {
    const hour = Math.floor(e.ts / HOUR_MS)
    if (hour > f.featureHour) this.roll(f, model, hour, e.ts)
    else if (hour < f.featureHour) return // late within the engine's lateness, across an hour: counted nowhere
    let c = f.countsNow
    // A flow's later reports (an exporter's active timeout) count its bytes, not another flow.
    if (e.continued) {
      f.bytesNow += e.bytesOut
      return
    }
    if (flowsOf(c) < FLOWS_MAX) c++
    if (e.proto === 6 && SMTP_PORTS.has(e.dstPort) && smtpOf(c) < SMTP_MAX) c += SMTP_UNIT
    f.countsNow = c
    f.bytesNow += e.bytesOut
  }

  private roll(f: DeviceFeatures, model: string, hour: number, ts: number): void {
    if (f.featureHour >= 0) {
      // The completed hour replaces the device's value in the fleet, unless it shared one within
      // the level's lag: then the level may not hold that one yet, and the device could not tell
      // which of its values to leave out of its peers'. It shares one at the next hour instead.
      const epoch = this.fleet.epochOf(ts)
      if (f.shared < 0 || epoch - f.sharedEpoch > LAG_EPOCHS) {
        if (f.shared >= 0) this.share(f.shared, model, ts, -1)
        f.sharedBefore = f.shared
        f.shared = packBuckets(smtpOf(f.countsNow), f.bytesNow, flowsOf(f.countsNow))
        f.sharedEpoch = epoch
        this.share(f.shared, model, ts, 1)
      }
      const consecutive = hour === f.featureHour + 1
      f.countsBefore = consecutive ? f.countsNow : 0
      f.bytesBefore = consecutive ? f.bytesNow : 0
    }
    f.featureHour = hour
    f.countsNow = 0
    f.bytesNow = 0
  }

  /**
   * Adds (1) or retracts (-1) a shared hour's buckets: their values, rounded, stand for it (a bucket
   * is all the fleet keeps; whole numbers keep the histogram's sum exact, whatever order shards and
   * retractions fold in).
   */
  private share(packed: number, model: string, ts: number, n: 1 | -1): void {
    for (let k = 0; k < 3; k++) this.features[k]!.observe(model, Math.round(bucketValue(bucketIn(packed, k))), ts, n)
  }

  /** The device leaves its model's peers (it is evicted, or its model changes): its value is retracted at time `ts`. */
  forget(f: DeviceFeatures, model: string, ts: number): void {
    if (f.shared >= 0) this.share(f.shared, model, ts, -1)
    f.shared = -1
    f.sharedBefore = -1
  }

  /** The device's value the fleet's level for data of time `ts` holds (packed buckets), or -1. */
  private ownInLevel(f: DeviceFeatures, ts: number): number {
    if (f.shared < 0) return -1
    return f.sharedEpoch <= this.fleet.epochOf(ts) - LAG_EPOCHS ? f.shared : f.sharedBefore
  }

  /**
   * Peer evidence on `feature` (the alert's detector's) for a device, judged at time `ts`: `{}` when
   * fewer than MIN_PEERS other devices of its model have a completed hour in the fleet's level.
   */
  evidence(feature: PeerFeature, model: string, f: DeviceFeatures, ts: number): Evidence {
    const k = PEER_FEATURES.indexOf(feature)
    const now = [smtpOf(f.countsNow), f.bytesNow, flowsOf(f.countsNow)][k]!
    const before = [smtpOf(f.countsBefore), f.bytesBefore, flowsOf(f.countsBefore)][k]!
    const value = Math.max(now, before)
    const own = this.ownInLevel(f, ts)
    const st = this.features[k]!.stats(model, value, ts, own < 0 ? -1 : bucketIn(own, k))
    // Peers are the model's other devices with a completed hour; too few of them say nothing about what is normal.
    if (st === null || st.weight < MIN_PEERS - 1e-9) return {}
    const peers = Math.round(st.weight)
    const { median: med, mad, mean } = st
    // 1.4826 × MAD estimates a standard deviation; a cohort with no spread at all gives no z-score.
    // Most devices send no mail: the median is 0 then, and the ratio is to the mean.
    const z = mad > 0 ? (value - med) / (1.4826 * mad) : null
    const ratio = mean > 0 ? round(value / mean, 1) : null
    const percentile = round(st.percentileBelow, 1)
    const amount = feature === 'bytesOutPerHour' ? (v: number) => `${bytes(v)} out` : feature === 'smtpFlowsPerHour' ? (v: number) => `${round(v, 1)} SMTP connections` : (v: number) => `${round(v, 1)} flows`
    return {
      peerFeature: feature,
      peerValue: value,
      peerMedian: round(med),
      peerMean: round(mean),
      peerRatio: ratio,
      // Capped: past a hundred spreads a cohort with almost none says only "far off".
      peerZ: z === null ? null : round(Math.max(-Z_CAP, Math.min(Z_CAP, z)), 1),
      peerPercentile: percentile,
      peerDevices: peers,
      peerSummary:
        `${amount(value)} an hour, ${ratio === null ? 'where its peers have none' : `${ratio}× the mean of its ${peers} ${model} peers`} ` +
        `(median ${feature === 'bytesOutPerHour' ? bytes(med) : round(med, 1)}, above ${percentile}% of their latest hours)`,
    }
  }
}
