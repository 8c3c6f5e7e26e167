/**
 * fanout — many distinct destinations or ports in one window: scanning, worm spreading, a
 * spambot walking a list of MX hosts.
 *
 * Estimates the distinct destination addresses and ports of each window with small sketches
 * per device, and compares them with the device's own level (an EWMA that does not learn from
 * anomalous windows), seeded from its model's typical level. Tuning: `minDistinctIps` is the
 * floor for chatty devices (browsers, streaming sticks); `factor` the multiple of the device's
 * own level that counts as unusual.
 */
import { z } from 'zod'
import { defineDetector } from '../src/engine/detector.ts'
import { SketchRing, hashNumber, hashString, windowOf } from '../src/engine/window.ts'
import { ratioScore } from '../src/engine/score.ts'
import { isMulticast } from '../src/engine/net.ts'

export const fanoutConfig = z.strictObject({
  /** Distinct destination addresses in one window below which nothing fires. */
  minDistinctIps: z.number().int().min(1).default(40),
  /** Distinct destination ports in one window below which nothing fires. */
  minDistinctPorts: z.number().int().min(1).default(20),
  /** Multiple of the device's own level that counts as unusual. */
  factor: z.number().positive().default(4),
  /** Weight of each clean window in the device's EWMA level. */
  baselineAlpha: z.number().gt(0).lt(1).default(0.05),
})
export type FanoutConfig = z.infer<typeof fanoutConfig>

const IPS = 0
const PORTS = 1

interface State {
  /** Distinct destination addresses (map 0) and ports (map 1) per window. */
  sketch: number[]
  /** EWMA levels; NaN until the first evaluation. */
  levelIps: number
  levelPorts: number
  /**
   * The last few distinct destinations of each window of the sketch that fanned out, as evidence:
   * SAMPLE entries per sketch slot, oldest first ('' for none), so that a window's evidence holds
   * none of the lookahead's.
   */
  sample: string[] | null
}

const SAMPLE = 3

export const fanout = defineDetector<FanoutConfig, State>({
  id: 'fanout',
  title: 'Fan-out to many destinations or ports',
  description:
    'Distinct destination addresses and ports per window against the device and model level. ' +
    'Raise minDistinctIps for devices that browse or stream from many hosts.',
  version: 3,
  tags: ['maturity_stable', 'network', 'discovery', 'mitre_T1046'],
  configSchema: fanoutConfig,
  create(cfg, { windowMs, lookaheadWindows, fleet }) {
    const ring = new SketchRing(lookaheadWindows + 1, 2)
    const sampleIpsFrom = Math.max(SAMPLE, Math.floor(cfg.minDistinctIps / 4))
    const samplePortsFrom = Math.max(SAMPLE, Math.floor(cfg.minDistinctPorts / 4))
    // The fleet's typical window of each model: the first level of its new devices.
    const priorIps = fleet.histogram('addresses')
    const priorPorts = fleet.histogram('ports')
    return {
      init: () => ({
        sketch: ring.create(),
        levelIps: Number.NaN,
        levelPorts: Number.NaN,
        sample: null,
      }),
      observeEgress(state, e) {
        if (isMulticast(e.dstIp)) return
        const w = windowOf(e.ts, windowMs)
        const slot = w % ring.slots
        // The sketch is about to take this slot for a newer window: its samples go with it.
        if (state.sample !== null && state.sketch[slot]! < w) state.sample.fill('', slot * SAMPLE, slot * SAMPLE + SAMPLE)
        const freshIp = ring.add(state.sketch, IPS, hashString(e.dstIp), w)
        const freshPort = ring.add(state.sketch, PORTS, hashNumber(e.dstPort), w)
        // Destinations are sampled (as evidence) only once the window fans out noticeably: an
        // ordinary device holds no address strings at all.
        if (
          ((freshIp && ring.estimate(state.sketch, IPS, w) >= sampleIpsFrom) || (freshPort && ring.estimate(state.sketch, PORTS, w) >= samplePortsFrom)) &&
          !sampled(state, slot, e.dstIp)
        ) {
          const sample = (state.sample ??= new Array<string>(SAMPLE * ring.slots).fill(''))
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
      evaluate(state, w, device) {
        const at = w * windowMs
        if (Number.isNaN(state.levelIps)) {
          state.levelIps = priorIps.quantile(device.model, 0.5, at, 1)
          state.levelPorts = priorPorts.quantile(device.model, 0.5, at, 1)
        }
        const ips = ring.estimate(state.sketch, IPS, w)
        const ports = ring.estimate(state.sketch, PORTS, w)
        const limitIps = Math.max(cfg.minDistinctIps, cfg.factor * state.levelIps)
        const limitPorts = Math.max(cfg.minDistinctPorts, cfg.factor * state.levelPorts)
        const wideIps = ips >= limitIps
        const widePorts = ports >= limitPorts
        if (!wideIps && !widePorts) {
          if (ips > 0 || ports > 0) {
            state.levelIps += cfg.baselineAlpha * (ips - state.levelIps)
            state.levelPorts += cfg.baselineAlpha * (ports - state.levelPorts)
            priorIps.observe(device.model, ips, at)
            priorPorts.observe(device.model, ports, at)
          }
          return null
        }
        const score = Math.max(wideIps ? ratioScore(ips, limitIps) : 0, widePorts ? ratioScore(ports, limitPorts) : 0)
        const minutes = Math.round(windowMs / 60_000)
        const sample = recent(state, w % ring.slots)
        return {
          severity: ips >= 5 * limitIps || ports >= 5 * limitPorts ? 'high' : 'medium',
          score,
          summary: `~${ips} distinct destinations and ~${ports} distinct ports in ${minutes} min (thresholds ${Math.round(limitIps)} / ${Math.round(limitPorts)})`,
          evidence: {
            distinctDestinations: ips,
            distinctPorts: ports,
            thresholdDestinations: Math.round(limitIps),
            thresholdPorts: Math.round(limitPorts),
            levelDestinations: Math.round(state.levelIps * 100) / 100,
            recentDestinations: sample,
            indicator: wideIps ? 'fanout/addresses' : 'fanout/ports',
          },
          destinations: sample,
        }
      },
      snapshot: (s) => ({ sketch: s.sketch.slice(), levelIps: s.levelIps, levelPorts: s.levelPorts, sample: s.sample?.slice() ?? [] }),
      restore(data) {
        const d = data as { sketch: number[]; levelIps: number | null; levelPorts: number | null; sample: string[] }
        return {
          sketch: ring.restore(d.sketch),
          levelIps: d.levelIps ?? Number.NaN,
          levelPorts: d.levelPorts ?? Number.NaN,
          // Samples of a checkpoint from before they were kept per window are dropped (evidence only).
          sample: d.sample.length === SAMPLE * ring.slots ? d.sample.slice() : null,
        }
      },
    }
  },
})

/** Whether a sketch slot's samples hold `ip`. */
const sampled = (s: State, slot: number, ip: string): boolean => {
  if (s.sample === null) return false
  for (let k = slot * SAMPLE; k < slot * SAMPLE + SAMPLE; k++) if (s.sample[k] === ip) return true
  return false
}

/** A sketch slot's sampled destinations, oldest first. */
const recent = (s: State, slot: number): string[] => {
  const out: string[] = []
  if (s.sample === null) return out
  for (let k = slot * SAMPLE; k < slot * SAMPLE + SAMPLE; k++) if (s.sample[k] !== '') out.push(s.sample[k]!)
  return out
}
