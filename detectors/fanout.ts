/**
 * fanout — many distinct destinations or ports in one window: scanning, worm spreading, a
 * spambot walking a list of MX hosts.
 *
 * Estimates the distinct destination addresses and ports of each window with small sketches
 * per device, and judges how surprising a window's count is for the device: its own level and
 * spread (exponentially weighted means of its windows with traffic, learning from none that fires),
 * with its model's as the prior, as a negative binomial (a Gamma-mixed Poisson, src/engine/rate.ts)
 * whose spread is at least `minSpread` of the level, since distinct counts come in bursts. Tuning:
 * `minDistinctIps` / `minDistinctPorts` are floors below which nothing fires (browsers, streaming
 * sticks); `surprise` how unlikely a window must be.
 */
import { z } from 'zod'
import { defineDetector } from '../src/engine/detector.ts'
import { SketchRing, hashNumber, hashString, windowOf } from '../src/engine/window.ts'
import { Rows } from '../src/engine/rows.ts'
import { surprise } from '../src/engine/rate.ts'
import type { GammaRate } from '../src/engine/rate.ts'
import { isMulticast } from '../src/engine/net.ts'

export const fanoutConfig = z.strictObject({
  /** Distinct destination addresses in one window below which nothing fires. */
  minDistinctIps: z.number().int().min(1).default(40),
  /** Distinct destination ports in one window below which nothing fires. */
  minDistinctPorts: z.number().int().min(1).default(20),
  /**
   * How unlikely a window's count must be, for the device, to fire: -log10 of its chance (6: one
   * window in a million, a few a year for a device evaluated every minute). Twice as unlikely is high.
   */
  surprise: z.number().positive().default(6),
  /** The least spread (standard deviation) of a device's counts, as a share of its level. */
  minSpread: z.number().positive().default(0.5),
  /** Weight of each clean window in the device's level and spread. */
  baselineAlpha: z.number().gt(0).lt(1).default(0.05),
})
export type FanoutConfig = z.infer<typeof fanoutConfig>

const IPS = 0
const PORTS = 1

/**
 * A device's row in the detector's `Rows` (no object per device): the sketches of distinct
 * destination addresses (map 0) and ports (map 1) per window first, then its floats at the offsets
 * below (past the sketches' `doubles`) and its flag past their `words`.
 */
type State = number

/** Exponentially weighted means of the windows with traffic; NaN until the first evaluation. */
const LEVEL_IPS = 0
const LEVEL_PORTS = 1
/** Their exponentially weighted variances (NaN in checkpoints from before them: the model's). */
const SPREAD_IPS = 2
const SPREAD_PORTS = 3
/** Windows learned, up to 1 / baselineAlpha: until then the level is their plain mean. */
const LEARNED = 4
const FLOATS = 5
/** A word: 1 when the device has samples (in the detector's `samples`), else 0. */
const SAMPLED = 0
const WORDS = 1

/**
 * Samples: the last few distinct destinations of each window of the sketch that fanned out, as
 * evidence, SAMPLE entries per sketch slot, oldest first ('' for none), so that a window's evidence
 * holds none of the lookahead's. Kept beside the state, by it, for the few devices that fan out.
 */
const SAMPLE = 3

export const fanout = defineDetector<FanoutConfig, State>({
  id: 'fanout',
  title: 'Fan-out to many destinations or ports',
  description:
    'Distinct destination addresses and ports per window, judged by their surprise under the device\'s ' +
    'own level and spread (its model\'s as the prior). Raise minDistinctIps for devices that browse or stream from many hosts.',
  version: 4,
  tags: ['maturity_stable', 'network', 'discovery', 'mitre_T1046'],
  configSchema: fanoutConfig,
  create(cfg, { windowMs, lookaheadWindows, fleet }) {
    const ring = new SketchRing(lookaheadWindows + 1, 2)
    const rows = new Rows(ring.doubles + FLOATS, ring.words + WORDS)
    /** A row's first float and flag of its own. */
    const fOf = (row: number): number => row * rows.doubles + ring.doubles
    const flagOf = (row: number): number => row * rows.words + ring.words + SAMPLED
    const samples = new Map<State, string[]>()
    /** A fresh row: empty sketches, levels and spreads to be seeded from the model. */
    const fresh = (): State => {
      const row = rows.alloc()
      ring.init(rows, row)
      rows.f.fill(Number.NaN, fOf(row) + LEVEL_IPS, fOf(row) + SPREAD_PORTS + 1)
      return row
    }
    const sampleIpsFrom = Math.max(SAMPLE, Math.floor(cfg.minDistinctIps / 4))
    const samplePortsFrom = Math.max(SAMPLE, Math.floor(cfg.minDistinctPorts / 4))
    // The fleet's typical window of each model: the first level and spread of its new devices.
    const priorIps = fleet.histogram('addresses')
    const priorPorts = fleet.histogram('ports')
    /** Windows the device's level weighs as (its exponential weights'), and a belief reused per call. */
    const windows = 1 / cfg.baselineAlpha
    const belief: GammaRate = { shape: 0, exposure: 0 }
    /**
     * -log10 of the chance of `count` or more in one window for a level and variance: a negative
     * binomial of that mean whose variance is at least the level's and `minSpread` of it squared.
     */
    const surprising = (count: number, level: number, variance: number): number => {
      const mean = Math.max(level, 0.5)
      const v = Math.max(variance, (cfg.minSpread * mean) ** 2)
      // NB(r, mean): variance mean + mean² / r; the Gamma behind it has r = shape, mean = shape / exposure.
      belief.shape = Math.min((mean * mean) / Math.max(v - mean, 1e-9), mean * windows)
      belief.exposure = belief.shape / mean
      return surprise(count, belief, 1)
    }
    return {
      rowState: true,
      init: fresh,
      observeEgress(row, e) {
        if (isMulticast(e.dstIp)) return
        const w = windowOf(e.ts, windowMs)
        const slot = w % ring.slots
        // The sketch is about to take this slot for a newer window: its samples go with it.
        if (rows.i[flagOf(row)] === 1 && ring.windowAt(rows, row, slot) < w) samples.get(row)!.fill('', slot * SAMPLE, slot * SAMPLE + SAMPLE)
        const freshIp = ring.add(rows, row, IPS, hashString(e.dstIp), w)
        const freshPort = ring.add(rows, row, PORTS, hashNumber(e.dstPort), w)
        // Destinations are sampled (as evidence) only once the window fans out noticeably: an
        // ordinary device holds no address strings at all.
        if ((freshIp && ring.estimate(rows, row, IPS, w) >= sampleIpsFrom) || (freshPort && ring.estimate(rows, row, PORTS, w) >= samplePortsFrom)) {
          let sample = samples.get(row)
          if (sample === undefined) {
            sample = new Array<string>(SAMPLE * ring.slots).fill('')
            samples.set(row, sample)
            rows.i[flagOf(row)] = 1
          } else if (sampled(sample, slot, e.dstIp)) return
          const from = slot * SAMPLE
          // Oldest first: the newest goes last, the oldest of a full slot makes room.
          let at = from
          while (at < from + SAMPLE && sample[at] !== '') at++
          if (at === from + SAMPLE) {
            for (let k = from; k < from + SAMPLE - 1; k++) sample[k] = sample[k + 1]!
            at = from + SAMPLE - 1
          }
          sample[at] = e.dstIp
        }
      },
      evaluate(row, w, device) {
        const at = w * windowMs
        const f = rows.f
        const own = fOf(row)
        if (Number.isNaN(f[own + LEVEL_IPS]!)) {
          f[own + LEVEL_IPS] = priorIps.quantile(device.model, 0.5, at, 1)
          f[own + LEVEL_PORTS] = priorPorts.quantile(device.model, 0.5, at, 1)
        }
        // A device new to the model, or from a checkpoint before spreads, starts with its model's
        // (robust: from the median absolute deviation, which one scanning device does not move).
        if (Number.isNaN(f[own + SPREAD_IPS]!)) {
          f[own + SPREAD_IPS] = robustVariance(priorIps.stats(device.model, 0, at)?.mad)
          f[own + SPREAD_PORTS] = robustVariance(priorPorts.stats(device.model, 0, at)?.mad)
        }
        const levelIps = f[own + LEVEL_IPS]!
        const levelPorts = f[own + LEVEL_PORTS]!
        const spreadIps = f[own + SPREAD_IPS]!
        const spreadPorts = f[own + SPREAD_PORTS]!
        const ips = ring.estimate(rows, row, IPS, w)
        const ports = ring.estimate(rows, row, PORTS, w)
        // Judged only past the floors: below them no window fires, however quiet the device.
        const sIps = ips >= cfg.minDistinctIps ? surprising(ips, levelIps, spreadIps) : 0
        const sPorts = ports >= cfg.minDistinctPorts ? surprising(ports, levelPorts, spreadPorts) : 0
        const wideIps = sIps >= cfg.surprise
        const widePorts = sPorts >= cfg.surprise
        if (!wideIps && !widePorts) {
          if (ips > 0 || ports > 0) {
            // West's update of an exponentially weighted mean and variance, each window's distance
            // from the level cut at three of its spreads: a burst that does not fire teaches little.
            // The level of the device's first windows is their plain mean, uncut, with its model's
            // level and spread weighing as MODEL_WINDOWS windows of it; their spread is cut all the
            // same, so that a scan ramping up in a device's first minutes does not widen it past what
            // its next windows are judged by.
            const learned = f[own + LEARNED]!
            const learning = learned < windows
            const a = learning ? Math.max(cfg.baselineAlpha, 1 / (learned + 1 + MODEL_WINDOWS)) : cfg.baselineAlpha
            if (learning) f[own + LEARNED] = learned + 1
            const cutIps = clip(ips - levelIps, levelIps, spreadIps)
            const cutPorts = clip(ports - levelPorts, levelPorts, spreadPorts)
            f[own + LEVEL_IPS] = levelIps + a * (learning ? ips - levelIps : cutIps)
            f[own + LEVEL_PORTS] = levelPorts + a * (learning ? ports - levelPorts : cutPorts)
            f[own + SPREAD_IPS] = (1 - a) * (spreadIps + a * cutIps * cutIps)
            f[own + SPREAD_PORTS] = (1 - a) * (spreadPorts + a * cutPorts * cutPorts)
            priorIps.observe(device.model, ips, at)
            priorPorts.observe(device.model, ports, at)
          }
          return null
        }
        const top = Math.max(wideIps ? sIps : 0, widePorts ? sPorts : 0)
        const minutes = Math.round(windowMs / 60_000)
        const sample = recent(samples.get(row), w % ring.slots)
        return {
          severity: top >= 2 * cfg.surprise ? 'high' : 'medium',
          score: Math.min(1, 0.5 + (top - cfg.surprise) / (4 * cfg.surprise)),
          summary: `~${ips} distinct destinations and ~${ports} distinct ports in ${minutes} min (its level ${round1(levelIps)} / ${round1(levelPorts)})`,
          evidence: {
            distinctDestinations: ips,
            distinctPorts: ports,
            levelDestinations: round1(levelIps),
            levelPorts: round1(levelPorts),
            // -log10 of the chance of as many or more in a window, for the device.
            surprise: Math.round(top * 10) / 10,
            recentDestinations: sample,
            indicator: wideIps ? 'fanout/addresses' : 'fanout/ports',
          },
          destinations: sample,
        }
      },
      // The checkpoint's form is the one of an object per device: unchanged by the rows.
      snapshot(row) {
        const own = fOf(row)
        return {
          sketch: ring.toJSON(rows, row),
          levelIps: rows.f[own + LEVEL_IPS],
          levelPorts: rows.f[own + LEVEL_PORTS],
          spreadIps: rows.f[own + SPREAD_IPS],
          spreadPorts: rows.f[own + SPREAD_PORTS],
          learned: rows.f[own + LEARNED],
          sample: samples.get(row)?.slice() ?? [],
        }
      },
      restore(data) {
        const d = data as { sketch: number[]; levelIps: number | null; levelPorts: number | null; spreadIps?: number | null; spreadPorts?: number | null; learned?: number; sample: string[] }
        const row = fresh()
        ring.load(rows, row, d.sketch)
        const own = fOf(row)
        rows.f[own + LEVEL_IPS] = d.levelIps ?? Number.NaN
        rows.f[own + LEVEL_PORTS] = d.levelPorts ?? Number.NaN
        rows.f[own + SPREAD_IPS] = d.spreadIps ?? Number.NaN
        rows.f[own + SPREAD_PORTS] = d.spreadPorts ?? Number.NaN
        // A checkpoint from before: its level was learned.
        rows.f[own + LEARNED] = d.learned ?? windows
        // Samples of a checkpoint from before they were kept per window are dropped (evidence only).
        if (d.sample.length === SAMPLE * ring.slots) {
          samples.set(row, d.sample.slice())
          rows.i[flagOf(row)] = 1
        }
        return row
      },
      forget(row) {
        samples.delete(row)
        ring.release(rows, row)
        rows.release(row)
      },
    }
  },
})

const round1 = (n: number): number => Math.round(n * 10) / 10

/** Windows of a new device its model's level and spread weigh as, while it learns its own. */
const MODEL_WINDOWS = 5

/** A variance from a median absolute deviation (of a normal distribution: σ ≈ 1.4826 MAD); 0 for none. */
const robustVariance = (mad: number | undefined): number => (mad === undefined ? 0 : (1.4826 * mad) ** 2)

/** A distance from a level cut at three spreads (the spread at least Poisson's, the level's own). */
const clip = (d: number, level: number, variance: number): number => {
  const limit = 3 * Math.sqrt(Math.max(variance, level, 1))
  return d > limit ? limit : d < -limit ? -limit : d
}

/** Whether a sketch slot's samples hold `ip`. */
const sampled = (sample: readonly string[], slot: number, ip: string): boolean => {
  for (let k = slot * SAMPLE; k < slot * SAMPLE + SAMPLE; k++) if (sample[k] === ip) return true
  return false
}

/** A sketch slot's sampled destinations, oldest first. */
const recent = (sample: readonly string[] | undefined, slot: number): string[] => {
  const out: string[] = []
  if (sample === undefined) return out
  for (let k = slot * SAMPLE; k < slot * SAMPLE + SAMPLE; k++) if (sample[k] !== '') out.push(sample[k]!)
  return out
}
