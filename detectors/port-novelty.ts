/**
 * port-novelty — first use of a risky port by a device whose model does not use it.
 *
 * Telnet (23, 2323) is how Mirai-style worms spread, 25/465/587/2525 is how spambots mail,
 * 6667/6697 is IRC command and control, and a handful of others (ADB 5555, TR-069 7547, router
 * exploits 37215/52869, SMB, RDP, SOCKS) rarely have a business on an IoT device's egress.
 * Each device learns the risky ports it uses while it is new; its model learns from all of its
 * devices' learning periods. A risky port outside both fires at once. Local destinations are
 * ignored: this watches egress. Tuning: list the ports a model legitimately uses under `allow`.
 */
import { z } from 'zod'
import { defineDetector } from '../src/engine/detector.ts'
import type { Finding, Severity } from '../src/types.ts'
import { windowOf } from '../src/engine/window.ts'
import { ModelCounts } from '../src/engine/cohort.ts'
import { isLocalAddress } from '../src/engine/net.ts'

const HIGH_RISK = [23, 2323, 25, 465, 587, 2525, 6667, 6697]

export const portNoveltyConfig = z.strictObject({
  /** Ports whose first use is reported. */
  ports: z.array(z.number().int().min(0).max(65535)).default([...HIGH_RISK, 1080, 3389, 445, 5555, 7547, 37215, 52869]),
  /** Of those, the ports that make the alert high severity (the rest are medium). */
  highRiskPorts: z.array(z.number().int().min(0).max(65535)).default(HIGH_RISK),
  /** Minutes after a device's first event during which its risky ports are learned. */
  learningMinutes: z.number().int().min(0).default(120),
  /** Devices of the model that must have used a port during learning for it to be normal. */
  peerDevices: z.number().int().min(1).default(3),
  /** Windows a first use keeps the finding open. */
  windows: z.number().int().min(1).max(1440).default(10),
  /** Ports allowed per model, e.g. `{ "vault-nas": [587] }`. */
  allow: z.record(z.string(), z.array(z.number().int().min(0).max(65535))).default({}),
})
export type PortNoveltyConfig = z.infer<typeof portNoveltyConfig>

/** Risky ports used after learning: port, first and last window, flow count, a destination. */
interface Used {
  ports: number[]
  firstWindow: number[]
  lastWindow: number[]
  flows: number[]
  sample: string[]
}

/** Both parts are allocated on first need: most devices never touch a risky port. */
interface State {
  /** Risky ports used while learning. */
  learned: number[] | null
  used: Used | null
}

const MAX_PORTS = 16

export const portNovelty = defineDetector<PortNoveltyConfig, State>({
  id: 'port-novelty',
  title: 'First use of a risky port',
  description:
    'Risky ports (telnet, SMTP, IRC, ...) a device and its model did not use while learning. ' +
    'List legitimate ports per model under allow.',
  version: 1,
  tags: ['maturity_stable', 'network', 'mitre_T1571'],
  configSchema: portNoveltyConfig,
  create(cfg, { windowMs }) {
    const risky = new Set(cfg.ports)
    const high = new Set(cfg.highRiskPorts)
    const allowed = new Map(Object.entries(cfg.allow).map(([model, ports]) => [model, new Set(ports)]))
    const peers = new ModelCounts<number>(1024)
    const learningMs = cfg.learningMinutes * 60_000
    return {
      init: () => ({ learned: null, used: null }),
      observeEgress(state, e, device) {
        if (!risky.has(e.dstPort) || isLocalAddress(e.dstIp)) return
        if (state.learned?.includes(e.dstPort)) return
        if (e.ts - device.firstSeen < learningMs) {
          ;(state.learned ??= []).push(e.dstPort)
          peers.increment(device.model, e.dstPort)
          return
        }
        const w = windowOf(e.ts, windowMs)
        const used = (state.used ??= { ports: [], firstWindow: [], lastWindow: [], flows: [], sample: [] })
        const i = used.ports.indexOf(e.dstPort)
        if (i >= 0) {
          used.flows[i]!++
          if (w > used.lastWindow[i]!) used.lastWindow[i] = w
        } else if (used.ports.length < MAX_PORTS) {
          used.ports.push(e.dstPort)
          used.firstWindow.push(w)
          used.lastWindow.push(w)
          used.flows.push(1)
          used.sample.push(e.dstIp)
        }
      },
      evaluate(state, w, device): Finding | null {
        const used = state.used
        if (used === null) return null
        const hits: number[] = []
        let flows = 0
        let severity: Severity = 'medium'
        let sample = ''
        const modelAllows = allowed.get(device.model)
        for (let i = 0; i < used.ports.length; i++) {
          // In use during (w - windows, w]: first used by w (later windows may already be observed)
          // and not abandoned before the horizon.
          if (used.firstWindow[i]! > w || used.lastWindow[i]! <= w - cfg.windows) continue
          const port = used.ports[i]!
          if (modelAllows?.has(port) || peers.get(device.model, port) >= cfg.peerDevices) continue
          hits.push(port)
          flows += used.flows[i]!
          if (high.has(port)) severity = 'high'
          if (sample === '') sample = used.sample[i]!
        }
        if (hits.length === 0) return null
        return {
          severity,
          score: Math.min(1, 0.6 + 0.1 * hits.length + 0.05 * Math.log10(flows)),
          summary: `first use of risky port${hits.length > 1 ? 's' : ''} ${hits.join(', ')} (${flows} flows), not used by the device or its ${device.model} peers while learning`,
          evidence: { ports: hits, flows, sampleDestination: sample, peersRequired: cfg.peerDevices },
          destinations: [sample],
        }
      },
      snapshot: (s) => copy(s),
      restore: (data) => copy(data as State),
    }
  },
})

const copy = (s: State): State => ({
  learned: s.learned?.slice() ?? null,
  used:
    s.used === null
      ? null
      : {
          ports: s.used.ports.slice(),
          firstWindow: s.used.firstWindow.slice(),
          lastWindow: s.used.lastWindow.slice(),
          flows: s.used.flows.slice(),
          sample: s.used.sample.slice(),
        },
})
