/**
 * fanout — many distinct destinations or ports in one window: scanning, worm spreading, a
 * spambot walking a list of MX hosts.
 *
 * Estimates the distinct destination addresses and ports of each window with an 80-byte sketch
 * per device, and compares them with the device's own level (an EWMA that does not learn from
 * anomalous windows), seeded from its model's typical level. Tuning: `minDistinctIps` is the
 * floor for chatty devices (browsers, streaming sticks); `factor` the multiple of the device's
 * own level that counts as unusual.
 */
import { z } from 'zod'
import { defineDetector } from '../src/engine/detector.ts'
import { DistinctSketch, hashString, windowOf } from '../src/engine/window.ts'
import { ModelLevel, ratioScore } from '../src/engine/cohort.ts'
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

interface State {
  ips: DistinctSketch
  ports: DistinctSketch
  /** EWMA levels; NaN until the first evaluation. */
  levelIps: number
  levelPorts: number
  /** A few destinations of the current window, as evidence. */
  sample: string[]
}

const SAMPLE = 5

export const fanout = defineDetector<FanoutConfig, State>({
  id: 'fanout',
  title: 'Fan-out to many destinations or ports',
  description:
    'Distinct destination addresses and ports per window against the device and model level. ' +
    'Raise minDistinctIps for devices that browse or stream from many hosts.',
  version: 1,
  tags: ['maturity_stable', 'network', 'discovery', 'mitre_T1046'],
  configSchema: fanoutConfig,
  create(cfg, { windowMs }) {
    const priorIps = new ModelLevel(0.5, 0.05, 1)
    const priorPorts = new ModelLevel(0.5, 0.05, 1)
    return {
      init: () => ({
        ips: new DistinctSketch(),
        ports: new DistinctSketch(),
        levelIps: Number.NaN,
        levelPorts: Number.NaN,
        sample: [],
      }),
      observeEgress(state, e) {
        if (isMulticast(e.dstIp)) return
        const w = windowOf(e.ts, windowMs)
        if (w > state.ips.window) state.sample.length = 0
        state.ips.add(hashString(e.dstIp), w)
        state.ports.add(Math.imul(e.dstPort + 1, 0x9e3779b1) >>> 0, w)
        if (state.sample.length < SAMPLE && !state.sample.includes(e.dstIp)) state.sample.push(e.dstIp)
      },
      evaluate(state, w, device) {
        if (Number.isNaN(state.levelIps)) {
          state.levelIps = priorIps.get(device.model)
          state.levelPorts = priorPorts.get(device.model)
        }
        const ips = state.ips.estimate(w)
        const ports = state.ports.estimate(w)
        const limitIps = Math.max(cfg.minDistinctIps, cfg.factor * state.levelIps)
        const limitPorts = Math.max(cfg.minDistinctPorts, cfg.factor * state.levelPorts)
        const wideIps = ips >= limitIps
        const widePorts = ports >= limitPorts
        if (!wideIps && !widePorts) {
          if (ips > 0 || ports > 0) {
            state.levelIps += cfg.baselineAlpha * (ips - state.levelIps)
            state.levelPorts += cfg.baselineAlpha * (ports - state.levelPorts)
            priorIps.observe(device.model, ips)
            priorPorts.observe(device.model, ports)
          }
          return null
        }
        const score = Math.max(wideIps ? ratioScore(ips, limitIps) : 0, widePorts ? ratioScore(ports, limitPorts) : 0)
        const minutes = Math.round(windowMs / 60_000)
        const sample = state.ips.window === w ? state.sample.slice() : []
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
            sampleDestinations: sample,
          },
          destinations: sample,
        }
      },
      snapshot: (s) => ({
        ips: { window: s.ips.window, bits: s.ips.bits.slice() },
        ports: { window: s.ports.window, bits: s.ports.bits.slice() },
        levelIps: s.levelIps,
        levelPorts: s.levelPorts,
        sample: s.sample.slice(),
      }),
      restore(data) {
        const d = data as {
          ips: { window: number; bits: number[] }
          ports: { window: number; bits: number[] }
          levelIps: number | null
          levelPorts: number | null
          sample: string[]
        }
        return {
          ips: DistinctSketch.from(d.ips),
          ports: DistinctSketch.from(d.ports),
          levelIps: d.levelIps ?? Number.NaN,
          levelPorts: d.levelPorts ?? Number.NaN,
          sample: d.sample.slice(),
        }
      },
    }
  },
})
