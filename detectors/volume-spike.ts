/**
 * volume-spike — bytes sent far above the device's own robust baseline: exfiltration, a
 * compromised camera pushing data somewhere, a device recruited into a flood.
 *
 * Sums bytes out over a bucket (10 windows) and compares the rolling sum with the median and
 * MAD of the device's last buckets (robust: one earlier spike does not move them). Until a
 * device has enough history its model's typical bucket stands in, and the model's high level
 * (its 98th percentile) is a floor, so a whole model backing up at night is not an incident.
 * Tuning: `minBytes` is the absolute floor; `ratio` and `madFactor` how far above the baseline.
 */
import { z } from 'zod'
import { median, medianAbsoluteDeviation } from 'simple-statistics'
import { defineDetector } from '../src/engine/detector.ts'
import { WindowRing, windowOf } from '../src/engine/window.ts'
import { ModelLevel, ratioScore } from '../src/engine/cohort.ts'

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
  version: 1,
  tags: ['maturity_stable', 'network', 'exfiltration', 'mitre_T1048'],
  configSchema: volumeSpikeConfig,
  create(cfg, { windowMs, lookaheadWindows }) {
    const typical = new ModelLevel(0.5, 0.05, 0)
    const high = new ModelLevel(0.98, 0.1, 0)
    const minutes = Math.round((cfg.bucketWindows * windowMs) / 60_000)
    return {
      init: () => ({ bytes: new WindowRing(cfg.bucketWindows + lookaheadWindows), history: [], median: 0, mad: 0 }),
      observeEgress(state, e) {
        state.bytes.add(windowOf(e.ts, windowMs), e.bytesOut)
      },
      evaluate(state, w, device) {
        const sum = state.bytes.sum(w, cfg.bucketWindows)
        const own = state.history.length >= cfg.minHistory
        const base = own ? state.median : typical.get(device.model)
        const spread = own ? state.mad : base
        const threshold = Math.max(cfg.minBytes, cfg.ratio * base, base + cfg.madFactor * 1.4826 * spread, high.get(device.model))
        const fires = sum >= threshold
        if ((w + 1) % cfg.bucketWindows === 0 && state.bytes.head > w - cfg.bucketWindows) {
          closeBucket(state, fires ? Math.min(sum, threshold) : sum, cfg.historyBuckets)
          typical.observe(device.model, sum)
          high.observe(device.model, sum)
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
