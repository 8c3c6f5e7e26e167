// The detector contract, checked for every registered detector: metadata, config schema with defaults,
// determinism, and per-device state that survives a JSON snapshot/restore mid-stream unchanged. The
// restore goes into the same detector instance: model-level priors live there, not in a device's
// snapshot (carrying them across a restart is the changelog's job, still to come).
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { Destinations } from '../../../src/engine/destinations.ts'
import { DETECTORS } from '../../../detectors/index.ts'
import type { Detector, DeviceInfo } from '../../../src/engine/detector.ts'
import type { DeviceEvent, Finding } from '../../../src/types.ts'
import { windowOf } from '../../../src/engine/window.ts'
import { soloFleet } from '../../../src/engine/fleet.ts'
import type { ShardFleet } from '../../../src/engine/fleet.ts'
import { at, egress, smtpFlows, telemetry } from '../../helpers/events.ts'
import { loadFixture } from '../../helpers/fixtures.ts'

const MIN = 60_000

/**
 * Drives one detector instance over one device's events the way the engine does (close the windows
 * the event's arrival completes, then observe it), optionally replacing the device state by a JSON round trip
 * of its snapshot before every `restoreEvery`-th window.
 */
const drive = (create: (fleet: ShardFleet) => Detector, events: readonly DeviceEvent[], restoreEvery = 0): string[] => {
  const first = events[0]
  if (first === undefined) return []
  // A fleet of this device alone, closing its epochs as the engine does (30 s after their end).
  const fleet = soloFleet(MIN)
  const detector = create(fleet)
  let closed = Math.floor(first.ts / (10 * MIN)) - 1
  fleet.publish({ shard: 0, closedThrough: closed, clock: first.ts, epochs: [] })
  /** Epoch by epoch: its windows are evaluated, then it is closed and published (the engine's boundary). */
  const advance = (ts: number): void => {
    const through = Math.floor((ts - 30_000) / (10 * MIN)) - 1
    for (let k = closed + 1; k <= through; k++) {
      closeUntil((k + 1) * 10)
      fleet.publish({ shard: 0, closedThrough: k, clock: ts, epochs: fleet.shard.take(k) })
      closed = k
    }
  }
  const device: DeviceInfo = { id: first.deviceId, model: first.model ?? 'unknown', firmware: 'unknown', firmwareChangedAt: -Infinity, firstSeen: first.ts }
  let state = detector.init(device)
  const out: string[] = []
  let next = windowOf(first.ts, MIN)
  const closeUntil = (w: number): void => {
    for (; next < w; next++) {
      if (restoreEvery > 0 && next % restoreEvery === 0) state = detector.restore(JSON.parse(JSON.stringify(detector.snapshot(state))), device)
      const f: Finding | null = detector.evaluate(state, next, device)
      if (f !== null) out.push(`${next} ${JSON.stringify(f)}`)
    }
  }
  for (const e of events) {
    advance(e.ts)
    // As the engine: a window closes once an event is 30 s (the default lateness) past its end, so
    // the detector may already hold data of the next window: the lookahead it must account for.
    closeUntil(windowOf(e.ts - 30_000, MIN))
    // A detector may hand back a new state (one that shares an inert state until it needs its own).
    const next = e.type === 'egress' ? detector.observeEgress?.(state, e, device) : e.type === 'telemetry' ? detector.observeTelemetry?.(state, e, device) : undefined
    if (next !== undefined) state = next
  }
  const end = next + 90
  advance(end * MIN + 30_000)
  closeUntil(end)
  return out
}

/** A spamming, scanning, exfiltrating device with telemetry, so every detector has something to say. */
const busyDevice = (): DeviceEvent[] => {
  const events: DeviceEvent[] = []
  for (let m = 0; m < 180; m++) {
    events.push(egress({ ts: at(m), dstIp: '192.0.2.10', dstHost: 'api.vendor.example', bytesOut: 2000 }))
    if (m % 5 === 0) events.push(telemetry({ ts: at(m + 0.5), metrics: { emailsSent: m >= 150 ? 200 : 0 } }))
  }
  for (let m = 130; m < 140; m++) events.push(...smtpFlows('dev-1', m + 0.01, 40, m * 7))
  for (let i = 0; i < 300; i++) events.push(egress({ ts: at(141 + i / 100), dstIp: `198.18.${i >> 8}.${i & 255}`, dstPort: 23, bytesOut: 60 }))
  for (let m = 160; m < 175; m++) events.push(egress({ ts: at(m + 0.2), dstIp: '203.0.113.77', dstHost: 'drop.files.example', bytesOut: 40_000_000 }))
  // Peer-to-peer sessions over UDP on ports of the moment (a camera's remote viewing), and bulk uploads
  // to its vendor, the first while it learns (a nightly backup): what port-novelty and new-destination remember of them.
  for (let k = 0; k < 4; k++) for (let m = 100 + 12 * k; m < 105 + 12 * k; m++) events.push(egress({ ts: at(m + 0.4), dstIp: `172.56.${k}.9`, dstPort: 20_000 + k, proto: 17, bytesOut: 3_000_000, bytesIn: 40_000 }))
  for (const m of [20, 21, 150, 151]) events.push(egress({ ts: at(m + 0.3), dstIp: '192.0.2.10', dstHost: 'api.vendor.example', bytesOut: 15_000_000 }))
  return events.sort((a, b) => a.ts - b.ts)
}

const REAL = ['iot23-malware-8.ndjson', 'iot23-malware-42.ndjson', 'iot23-honeypot-5.ndjson', 'ctu13-botnet-s11.ndjson']

const byDevice = (events: readonly DeviceEvent[]): DeviceEvent[][] => {
  const map = new Map<string, DeviceEvent[]>()
  for (const e of events) {
    let list = map.get(e.deviceId)
    if (list === undefined) map.set(e.deviceId, (list = []))
    list.push(e)
  }
  return [...map.values()].map((l) => l.sort((a, b) => a.ts - b.ts))
}

const STREAMS: readonly (readonly DeviceEvent[])[] = [busyDevice(), ...REAL.flatMap((f) => byDevice(loadFixture(`real/${f}`)))]

/** Settings a detector needs to judge anything on one device's stream: model-shift without peers; mud-violation, a profile for the busy device's model that allows HTTPS to its vendor and SMTP, and an SMTP budget of 0. */
const SETTINGS: Readonly<Record<string, unknown>> = {
  // One device, no peers: any host new to its model after a short learning is an adoption.
  'model-shift': { minPeers: 0, minShare: 0, learningMinutes: 30 },
  'mud-violation': {
    loaded: [{
      model: busyDevice()[0]!.model, url: 'https://vendor.example/mud', acls: ['fr'],
      aces: [{ acl: 'fr', name: 'api', family: null, protocol: 6, networks: [], dnsNames: ['api.vendor.example'], localNetworks: false, ports: [443, 443], action: 'accept', unsupported: [] },
        { acl: 'fr', name: 'mail', family: null, protocol: 6, networks: [], dnsNames: [], localNetworks: false, ports: [25, 25], action: 'accept', unsupported: [] }],
    }],
    budgets: [{ name: 'smtp', ports: [25], perHour: 0 }],
  },
}

describe('every registered detector', () => {
  it('has a unique kebab-case id and a file of the same name whose header says what it catches and how to tune it', () => {
    const ids = DETECTORS.map((d) => d.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const d of DETECTORS) {
      expect(d.id).toMatch(/^[a-z]+(-[a-z]+)*$/)
      const source = readFileSync(fileURLToPath(new URL(`../../../detectors/${d.id}.ts`, import.meta.url)), 'utf8')
      const header = source.slice(0, source.indexOf('*/'))
      expect(header.startsWith(`/**\n * ${d.id} — `)).toBe(true)
      expect(header).toMatch(/Tuning:/)
      expect(d.version).toBeGreaterThanOrEqual(1)
      expect(d.description.length).toBeGreaterThan(20)
    }
  })

  describe.each(DETECTORS.map((d) => [d.id, d] as const))('%s', (_id, def) => {
    it('parses an empty config to its defaults and rejects an unknown key by name', () => {
      const defaults = def.configSchema.parse({})
      expect(defaults).toEqual(JSON.parse(JSON.stringify(defaults)))
      const r = def.configSchema.safeParse({ thresholdTypo: 3 })
      expect(r.success).toBe(false)
      expect(JSON.stringify(r.error?.issues)).toContain('thresholdTypo')
    })

    it('gives identical findings for identical input, and the same with its state restored from a JSON snapshot every 7 windows', () => {
      const create = (fleet: ShardFleet): Detector =>
        def.create(def.configSchema.parse(SETTINGS[def.id] ?? {}), { windowMs: MIN, lookaheadWindows: 1, fleet: fleet.access(def.id), destinations: new Destinations(null) })
      let total = 0
      for (const stream of STREAMS) {
        const straight = drive(create, stream)
        expect(drive(create, stream)).toEqual(straight)
        expect(drive(create, stream, 7)).toEqual(straight)
        total += straight.length
      }
      // Non-vacuous: every detector finds something in this input set.
      expect(total).toBeGreaterThan(0)
    })
  })
})
