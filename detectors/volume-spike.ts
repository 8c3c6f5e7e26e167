/**
 * volume-spike — bytes sent far above the device's own robust baseline: exfiltration, a
 * compromised camera pushing data somewhere, a device recruited into a flood.
 *
 * Sums bytes out over a bucket (10 windows) and compares the rolling sum with the median and
 * MAD of the device's last buckets (robust: one earlier spike does not move them). Until a
 * device has enough history its model's typical bucket stands in, and the model's high level
 * (its 98th percentile) is a floor, so a whole model backing up at night is not an incident.
 * A device is judged once it has its own history or its model has a measured level.
 *
 * Off by default: its history is 24 buckets (4 h), so a device's first nightly backup of the
 * day looks like a spike (on the synthetic fleet it alarms on a third of the NAS boxes), and an
 * upload to a host the device never used is already caught by new-destination's upload rule.
 * Switch it on (`detectors.volume-spike.enabled: true`) for devices with steady upload volumes.
 * Tuning: `minBytes` is the absolute floor; `ratio` and `madFactor` how far above the baseline.
 */
import { z } from 'zod'
import { median, medianAbsoluteDeviation } from 'simple-statistics'
import { defineDetector } from '../src/engine/detector.ts'
import { WindowRing, windowOf } from '../src/engine/window.ts'
import { ratioScore } from '../src/engine/score.ts'

export const volumeSpikeConfig = z.strictObject({
  /** Bucket length in windows; the rolling sum covers one bucket. */
  bucketWindows: z.number().int().min(1).max(60).default(10),
  /** Buckets of history the baseline is computed from. */
  historyBuckets: z.number().int().min(3).max(144).default(24),
  /** Buckets of history needed before the device's own baseline replaces the model prior. */
  minHistory: z.number().int().min(1).default(6),
  /** The rolling sum must exceed the median by this many scaled MADs... */
  madFactor: z.number().positive().default(8),
  /** ...and be this multiple of the median... */
  ratio: z.number().positive().default(6),
  /** ...and at least this many bytes. */
  minBytes: z.number().int().nonnegative().default(5_000_000),
  /** Bucket sums the model must have seen before its prior judges a device without history. */
  minModelBuckets: z.number().int().min(0).default(20),
})
export type VolumeSpikeConfig = z.infer<typeof volumeSpikeConfig>

interface State {
  bytes: WindowRing
  /** Closed bucket sums, oldest first (winsorised at the threshold while anomalous). */
  history: number[]
  median: number
  mad: number
}

const MB = 1_000_000

export const volumeSpike = defineDetector<VolumeSpikeConfig, State>({
  id: 'volume-spike',
  title: 'Bytes out far above baseline',
  description:
    'Rolling bytes out per 10 windows against the device median/MAD, with the model level as floor. ' +
    'Raise minBytes or ratio for devices with bursty uploads.',
  version: 2,
  tags: ['maturity_experimental', 'network', 'exfiltration', 'mitre_T1048'],
  peerFeature: 'bytesOutPerHour',
  enabledByDefault: false,
  configSchema: volumeSpikeConfig,
  create(cfg, { windowMs, lookaheadWindows, fleet }) {
    // Bucket sums of each model over the fleet: its median is the typical level, its 98th percentile the floor of every threshold.
    const buckets = fleet.histogram('buckets')
    const minutes = Math.round((cfg.bucketWindows * windowMs) / 60_000)
    return {
      init: () => ({ bytes: new WindowRing(cfg.bucketWindows + lookaheadWindows), history: [], median: 0, mad: 0 }),
      observeEgress(state, e) {
        state.bytes.add(windowOf(e.ts, windowMs), e.bytesOut)
      },
      evaluate(state, w, device) {
        const sum = state.bytes.sum(w, cfg.bucketWindows)
        const at = w * windowMs
        const own = state.history.length >= cfg.minHistory
        // A device without history of a model nobody has measured yet (the first bucket of a new
        // fleet) has no baseline at all: it is not judged until one exists.
        const judged = own || buckets.observations(device.model, at) >= cfg.minModelBuckets
        const base = own ? state.median : buckets.quantile(device.model, 0.5, at, 0)
        const spread = own ? state.mad : base
        const threshold = Math.max(cfg.minBytes, cfg.ratio * base, base + cfg.madFactor * 1.4826 * spread, buckets.quantile(device.model, 0.98, at, 0))
        const fires = judged && sum >= threshold
        if ((w + 1) % cfg.bucketWindows === 0 && state.bytes.head > w - cfg.bucketWindows) {
          // Anomalous buckets are clipped at the threshold: a spike teaches neither the device nor its model.
          const clipped = fires ? Math.min(sum, threshold) : sum
          closeBucket(state, clipped, cfg.historyBuckets)
          buckets.observe(device.model, clipped, at)
        }
        if (!fires) return null
        return {
          severity: sum >= 10 * threshold ? 'high' : 'medium',
          score: ratioScore(sum, threshold),
          summary: `sent ${(sum / MB).toFixed(1)} MB in ${minutes} min, baseline ${(base / MB).toFixed(2)} MB (threshold ${(threshold / MB).toFixed(1)} MB)`,
          evidence: {
            bytesOut: sum,
            baselineBytes: Math.round(base),
            madBytes: Math.round(spread),
            thresholdBytes: Math.round(threshold),
            baselineSource: own ? 'device' : 'model',
            horizonMinutes: minutes,
            indicator: 'bytes-out',
          },
          destinations: [],
        }
      },
      snapshot: (s) => ({ bytes: s.bytes.toJSON(), history: s.history.slice(), median: s.median, mad: s.mad }),
      restore(data) {
        const d = data as { bytes: ReturnType<WindowRing['toJSON']>; history: number[]; median: number; mad: number }
        return { bytes: WindowRing.from(d.bytes), history: d.history.slice(), median: d.median, mad: d.mad }
      },
    }
  },
})

const closeBucket = (state: State, sum: number, keep: number): void => {
  state.history.push(sum)
  if (state.history.length > keep) state.history.shift()
  state.median = median(state.history)
  state.mad = medianAbsoluteDeviation(state.history)
}
