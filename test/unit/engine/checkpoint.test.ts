// A checkpoint carries everything: a pipeline restored from a JSON snapshot mid-stream gives the same alerts, to the byte, as one that never stopped.
import { describe, expect, it } from 'vitest'
import { DETECTORS } from '../../../detectors/index.ts'
import { parseConfig } from '../../../src/config/load.ts'
import type { Config } from '../../../src/config/schema.ts'
import { createPipeline } from '../../../src/pipeline.ts'
import type { DeviceEvent } from '../../../src/types.ts'
import { loadFixture } from '../../helpers/fixtures.ts'

/** The wall clock replays run at: the fixtures are all in the past. */
const NOW = Date.now()

const fleet = (): DeviceEvent[] => loadFixture('synthetic/fleet.ndjson.gz')

/** The alerts of the events run straight through one pipeline, as JSON lines. */
const straightAlerts = (events: readonly DeviceEvent[], config: Config): string[] => {
  const straight: string[] = []
  const whole = createPipeline(config, DETECTORS, (a) => straight.push(JSON.stringify(a)))
  for (const e of events) whole.ingest(e, NOW)
  whole.flush()
  return straight
}

/** Alerts of the events run straight through, and run with a stop, a JSON checkpoint and a new pipeline at each cut. */
const runs = (events: readonly DeviceEvent[], cuts: readonly number[], config = parseConfig({}, DETECTORS)) => {
  const straight = straightAlerts(events, config)

  const resumed: string[] = []
  const emit = (a: unknown) => resumed.push(JSON.stringify(a))
  let pipeline = createPipeline(config, DETECTORS, emit)
  let from = 0
  for (const cut of [...cuts, events.length]) {
    for (let i = from; i < cut; i++) pipeline.ingest(events[i]!, NOW)
    from = cut
    if (cut === events.length) break
    const checkpoint = JSON.parse(JSON.stringify(pipeline.snapshot())) as ReturnType<typeof pipeline.snapshot>
    pipeline = createPipeline(config, DETECTORS, emit)
    pipeline.restore(checkpoint)
  }
  pipeline.flush()
  return { straight, resumed }
}

describe('pipeline checkpoints', () => {
  it('restored three times across the synthetic fleet, gives the same alerts to the byte', () => {
    const events = fleet()
    const { straight, resumed } = runs(events, [50_000, 140_001, 230_777])
    expect(straight.length).toBeGreaterThan(900)
    expect(resumed).toEqual(straight)
  })

  it('restored with every detector on (volume-spike too), across the real captures, gives the same alerts', () => {
    const events = ['real/iot23-malware-8.ndjson', 'real/ctu13-botnet-s12.ndjson', 'real/stratosphere-normal-010.ndjson'].flatMap((f) => loadFixture(f))
    const config = parseConfig({ detectors: { 'volume-spike': { enabled: true } } }, DETECTORS)
    const { straight, resumed } = runs(events, [3_000, 9_000, 12_500], config)
    expect(straight.length).toBeGreaterThan(0)
    expect(resumed).toEqual(straight)
  })

  it('carries the names a device\'s DNS answers gave: flows after the restore are named as before it', () => {
    // A camera resolving its cloud every ten minutes; from minute 130 the cloud answers from another /24, named as before.
    const t0 = Date.UTC(2026, 10, 2)
    const events: DeviceEvent[] = []
    for (let m = 0; m < 260; m++) {
      const ip = m < 130 ? '203.0.113.7' : '198.51.100.7'
      if (m % 10 === 0) events.push({ type: 'dns', ts: t0 + m * 60_000, deviceId: 'cam-1', srcIp: undefined, query: 'ingest.cloud.example', answers: [ip], ttlSeconds: 60, model: 'cam', firmware: undefined, label: undefined })
      events.push({ type: 'egress', ts: t0 + m * 60_000 + 30_000, deviceId: 'cam-1', srcIp: undefined, dstIp: ip, dstPort: 443, proto: 6, bytesOut: 900, bytesIn: undefined, packetsOut: undefined, durationMs: undefined, continued: false, dstHost: undefined, model: 'cam', firmware: undefined, label: undefined })
    }
    const config = parseConfig({ destinations: { owners: 'none' } }, DETECTORS)
    // The names are what keeps the move quiet: without them it alerts.
    expect(straightAlerts(events.filter((e) => e.type !== 'dns'), config).length).toBeGreaterThan(0)
    const { straight, resumed } = runs(events, [150, 270], config)
    expect(straight).toEqual([])
    expect(resumed).toEqual(straight)
  })

  it('rebuilt from its changes alone (devices written, evicted ones deleted), gives the same alerts', () => {
    const events = fleet()
    // A short TTL and a low device cap make evictions happen, so the changelog must delete too.
    const config = parseConfig({ engine: { deviceTtlHours: 2, maxDevices: 250 } }, DETECTORS)
    const straight = straightAlerts(events, config)

    // The changelog: the latest snapshot of each device, and the shard's own record.
    const resumed: string[] = []
    const emit = (a: unknown) => resumed.push(JSON.stringify(a))
    const tracked = createPipeline(config, DETECTORS, emit, { trackChanges: true })
    const log = new Map<string, string>()
    let shard = ''
    let evictions = 0
    let written = 0
    const cut = 150_000
    for (let i = 0; i < cut; i++) {
      tracked.ingest(events[i]!, NOW)
      if (i % 5_000 === 4_999 || i === cut - 1) {
        const changes = JSON.parse(JSON.stringify(tracked.takeChanges())) as ReturnType<typeof tracked.takeChanges>
        for (const d of changes.devices) log.set(d.id, JSON.stringify(d))
        for (const id of changes.evicted) log.delete(id)
        shard = JSON.stringify(changes.shard)
        evictions += changes.evicted.length
        written += changes.devices.length
      }
    }
    expect(evictions).toBeGreaterThan(0)
    // Only what changed is written: far fewer device records than events.
    expect(written).toBeLessThan(cut / 10)
    const restored = createPipeline(config, DETECTORS, emit, { trackChanges: true })
    restored.restore({ ...(JSON.parse(shard) as ReturnType<typeof tracked.takeChanges>['shard']), devices: [...log.values()].map((d) => JSON.parse(d)) })
    for (let i = cut; i < events.length; i++) restored.ingest(events[i]!, NOW)
    restored.flush()
    expect(resumed).toEqual(straight)
  })

  it('writes a detector\'s shared inert state as null, and restores checkpoints that wrote its empty fields to the same alerts', () => {
    const events = fleet()
    const config = parseConfig({ detectors: { 'mud-violation': { enabled: true } } }, DETECTORS)
    const straight = straightAlerts(events, config)
    const resumed: string[] = []
    const a = createPipeline(config, DETECTORS, (x) => resumed.push(JSON.stringify(x)))
    const cut = 140_001
    for (let i = 0; i < cut; i++) a.ingest(events[i]!, NOW)
    const snap = JSON.parse(JSON.stringify(a.snapshot())) as ReturnType<typeof a.snapshot>
    // What checkpoints before the nulls wrote for a device that never mailed, never reported a mail
    // count, never used an unusual port, adopted nothing, and broke no MUD profile.
    const older: Record<string, unknown> = {
      'smtp-burst': { flows: null, servers: null, submission: null },
      'email-telemetry': { mail: null, reported: false, baseline: null },
      'port-novelty': { learned: null, used: null, seen: null, seenWindow: null, met: 0, mailFrom: null, taught: null, taughtModel: '', reached: null, reachedPorts: null },
      'model-shift': { adopted: null },
      'mud-violation': { denied: null, samples: null, budgets: null },
    }
    const inert = snap.detectors.map((id, i) => (older[id] === undefined ? -1 : snap.devices.filter((d) => d.states[i] === null).length))
    // Most devices never needed those detectors' own state: each is null for dozens of them.
    expect(Object.fromEntries(snap.detectors.map((id, i) => [id, inert[i]! > 30]))).toEqual({
      'smtp-burst': true, 'email-telemetry': true, 'new-destination': false, fanout: false, 'port-novelty': true, 'model-shift': true, 'mud-violation': true,
    })
    const devices = snap.devices.map((d) => ({ ...d, states: d.states.map((s, i) => s ?? older[snap.detectors[i]!] ?? s) }))
    expect(devices.flatMap((d) => d.states).filter((s) => s === null)).toEqual([])
    const b = createPipeline(config, DETECTORS, (x) => resumed.push(JSON.stringify(x)))
    b.restore({ ...snap, devices })
    // Restored to the shared inert state: written as null again.
    expect(JSON.stringify(b.snapshot().devices)).toBe(JSON.stringify(snap.devices))
    for (let i = cut; i < events.length; i++) b.ingest(events[i]!, NOW)
    b.flush()
    expect(resumed).toEqual(straight)
  })

  it('restores a checkpoint of other fleet facets (another version\'s detectors) without its fleet state, and keeps its devices', () => {
    const config = parseConfig({}, DETECTORS)
    const a = createPipeline(config, DETECTORS, () => {})
    for (const e of loadFixture('demo/demo.ndjson').slice(0, 400)) a.ingest(e, NOW)
    const snap = JSON.parse(JSON.stringify(a.snapshot())) as ReturnType<typeof a.snapshot>
    expect(snap.facets!.length).toBeGreaterThan(3)
    // A detector of this version added a facet in the middle of the list; before the names, the
    // positions of the others moved and the restore failed on the view.
    const older = { ...snap, facets: snap.facets!.filter((n) => n !== 'new-destination/new-per-hour'), view: { ...snap.view!, levels: snap.view!.levels.map(([e, models]) => [e, models.map(([m, v]) => [m, { ...v, facets: v.facets.filter((_, i) => snap.facets![i] !== 'new-destination/new-per-hour') }])]) } } as typeof snap
    for (const checkpoint of [older, { ...snap, facets: undefined }]) {
      const b = createPipeline(config, DETECTORS, () => {})
      b.restore(checkpoint)
      expect(b.snapshot().devices.map((d) => d.id)).toEqual(snap.devices.map((d) => d.id))
    }
  })

  it('refuses to restore into a pipeline that already holds devices', () => {
    const config = parseConfig({}, DETECTORS)
    const a = createPipeline(config, DETECTORS, () => {})
    const events = loadFixture('real/iot23-honeypot-4.ndjson')
    for (const e of events.slice(0, 10)) a.ingest(e, NOW)
    const b = createPipeline(config, DETECTORS, () => {})
    b.ingest(events[0]!, NOW)
    expect(() => b.restore(a.snapshot())).toThrow(/cannot restore/)
  })

  it('refuses a checkpoint that holds a device twice, naming it', () => {
    const config = parseConfig({}, DETECTORS)
    const a = createPipeline(config, DETECTORS, () => {})
    for (const e of loadFixture('real/iot23-honeypot-4.ndjson').slice(0, 10)) a.ingest(e, NOW)
    const snap = a.snapshot()
    expect(snap.devices).toHaveLength(1)
    const b = createPipeline(config, DETECTORS, () => {})
    expect(() => b.restore({ ...snap, devices: [snap.devices[0]!, snap.devices[0]!] })).toThrow('the checkpoint holds device "iot23-honeypot-4/192.168.1.132" twice')
  })
})
