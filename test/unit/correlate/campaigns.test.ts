import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { alertId } from '../../../src/alerts/alert.ts'
import { Correlator, compareAlerts, correlateAll } from '../../../src/correlate/campaigns.ts'
import { decodeAlertRecord } from '../../../src/correlate/read.ts'
import type { Alert, CampaignRecord, Severity } from '../../../src/types.ts'

const T0 = Date.parse('2026-11-02T00:00:00Z')
const MIN = 60_000
const HOUR = 60 * MIN
const settings = { minDevices: 3, windowMs: 4 * HOUR, quietMs: 2 * HOUR }

interface Spec {
  device: string
  model?: string
  detector?: string
  indicator?: string | null
  /** Minutes after T0 at which it fires. */
  at: number
  /** Minutes after T0 at which it resolves (a second record), if it does. */
  until?: number
  severity?: Severity
  kind?: 'alert' | 'notice'
}

/** The records a device alert gives: firing, and resolved when `until` is set. */
const alert = (s: Spec): Alert[] => {
  const detector = s.detector ?? 'smtp-burst'
  const startsAt = T0 + (s.at - 2) * MIN
  const firing: Alert = {
    id: alertId(s.device, detector, startsAt), scope: 'device', kind: s.kind ?? 'alert', deviceId: s.device, detector, status: 'firing', revision: 1,
    severity: s.severity ?? 'high', previousSeverity: null, score: 0.8, startsAt: new Date(startsAt).toISOString(), endsAt: null,
    detectedAt: new Date(T0 + s.at * MIN).toISOString(), updatedAt: new Date(T0 + s.at * MIN).toISOString(), summary: 's', model: s.model ?? 'glacier-fridge', firmware: '1.0',
    detectorVersion: 2, configHash: 'h',
    evidence: s.indicator === null ? { ports: [25] } : { indicator: s.indicator ?? 'smtp/direct' },
  }
  if (s.until === undefined) return [firing]
  return [firing, { ...firing, status: 'resolved', revision: 2, previousSeverity: firing.severity, endsAt: new Date(T0 + s.until * MIN).toISOString(), updatedAt: new Date(T0 + s.until * MIN).toISOString() }]
}

const run = (specs: Spec[]): CampaignRecord[] => correlateAll(specs.flatMap(alert), settings)
const last = (records: CampaignRecord[]): CampaignRecord[] => [...new Map(records.map((r) => [r.id, r])).values()]

describe('campaigns', () => {
  it('reads records from before kinds and revisions: a model-shift rollout as the notice it was, anything else an alert, one firing record each', () => {
    const old = (detector: string, rule: string): string => JSON.stringify({
      id: 'a', scope: 'device', deviceId: 'd', detector, status: 'firing', severity: 'low', score: 0.3, startsAt: '2026-11-02T00:00:00.000Z',
      endsAt: null, detectedAt: '2026-11-02T00:02:00.000Z', summary: 's', model: 'm', evidence: { rule },
    })
    const read = (text: string) => {
      const r = decodeAlertRecord(text)
      return r.kind === 'alert' ? [r.alert.kind, r.alert.revision, r.alert.previousSeverity, r.alert.updatedAt] : r
    }
    expect(read(old('model-shift', 'rollout'))).toEqual(['notice', 1, null, '2026-11-02T00:02:00.000Z'])
    expect(read(old('model-shift', 'shift'))).toEqual(['alert', 1, null, '2026-11-02T00:02:00.000Z'])
    expect(read(old('port-novelty', 'rollout'))).toEqual(['alert', 1, null, '2026-11-02T00:02:00.000Z'])
  })

  it('makes notices a rollout and alerts a campaign, by their kind, whatever their behaviour', () => {
    const devices = ['a', 'b', 'c']
    const adoptions = devices.map((device, i) => ({ device, at: i * 10, detector: 'model-shift', indicator: 'rollout fw.vendor.example firmware 2.0', severity: 'low' as const }))
    const asNotices = run(adoptions.map((a) => ({ ...a, kind: 'notice' as const })))
    expect(last(asNotices).map((r) => [r.kind, r.behaviour, r.deviceCount])).toEqual([['rollout', 'model-shift rollout fw.vendor.example firmware 2.0', 3]])
    // The same adoptions reported as alerts: a campaign.
    expect(last(run(adoptions)).map((r) => r.kind)).toEqual(['campaign'])
  })

  it('opens when the Nth device shows the behaviour within the window, with the devices that showed it', () => {
    const records = run([{ device: 'a', at: 0 }, { device: 'b', at: 30 }, { device: 'c', at: 60 }])
    expect(records).toHaveLength(1)
    expect(records[0]).toMatchObject({
      scope: 'fleet', kind: 'campaign', behaviour: 'smtp-burst smtp/direct', status: 'firing', revision: 1,
      model: 'glacier-fridge', deviceCount: 3, models: ['glacier-fridge'], firmware: ['1.0'],
      startsAt: '2026-11-01T23:58:00.000Z', detectedAt: '2026-11-02T01:00:00.000Z',
      indicators: ['smtp-burst smtp/direct'], evidence: { devices: ['a', 'b', 'c'], devicesPerModel: [3], devicesPerIndicator: [3] },
    })
  })

  it('does not count a device whose behaviour lies outside the window', () => {
    expect(run([{ device: 'a', at: 0 }, { device: 'b', at: 250 }, { device: 'c', at: 260 }])).toEqual([])
  })

  it('adds each later device as a new revision, and resolves once every member has been quiet for quietMs', () => {
    const records = run([
      { device: 'a', at: 0, until: 20 }, { device: 'b', at: 10, until: 30 }, { device: 'c', at: 20, until: 40 },
      { device: 'd', at: 100, until: 110 },
      // event time moves on: 2 h after d's last activity the campaign resolves
      { device: 'x', model: 'lumen-tv', detector: 'fanout', indicator: 'fanout/ports', at: 231 },
    ])
    expect(records.map((r) => [r.status, r.revision, r.deviceCount])).toEqual([['firing', 1, 3], ['firing', 2, 4], ['resolved', 3, 4]])
    expect(records[2]).toMatchObject({ endsAt: '2026-11-02T01:50:00.000Z', updatedAt: '2026-11-02T01:50:00.000Z' })
    expect(new Set(records.map((r) => r.id)).size).toBe(1)
  })

  it('stays open while a member still has an alert firing', () => {
    const records = run([
      { device: 'a', at: 0 }, { device: 'b', at: 10, until: 30 }, { device: 'c', at: 20, until: 40 },
      { device: 'x', model: 'lumen-tv', detector: 'fanout', indicator: 'fanout/ports', at: 600 },
    ])
    expect(records.map((r) => r.status)).toEqual(['firing'])
  })

  it('opens a campaign of one model when enough devices of it show the behaviour, and keeps other models out of it', () => {
    const records = last(run([
      { device: 'g1', at: 0 }, { device: 'g2', at: 5 }, { device: 'g3', at: 20 }, { device: 'f1', model: 'frostbyte-fridge', at: 25 },
      { device: 'f2', model: 'frostbyte-fridge', at: 30 }, { device: 'h1', model: 'hue-bridge', at: 40 }, { device: 'g4', at: 50 },
    ]))
    expect(records.map((r) => [r.model, r.deviceCount, r.evidence.devices])).toEqual([
      ['glacier-fridge', 4, ['g1', 'g2', 'g3', 'g4']],
      [null, 3, ['f1', 'f2', 'h1']],
    ])
    expect(records[0]!.summary).toBe('4 glacier-fridge devices: smtp-burst smtp/direct since 2026-11-01T23:58:00.000Z')
    expect(records[1]!.summary).toBe('3 devices of 2 models: smtp-burst smtp/direct since 2026-11-02T00:23:00.000Z')
  })

  it('opens a campaign across models when mixed devices reach the count first; later devices of any model join it', () => {
    const records = last(run([{ device: 'g1', at: 0 }, { device: 'f1', model: 'frostbyte-fridge', at: 5 }, { device: 'g2', at: 10 }, { device: 'g3', at: 20 }]))
    expect(records.map((r) => [r.model, r.models, r.evidence.devicesPerModel])).toEqual([[null, ['glacier-fridge', 'frostbyte-fridge'], [3, 1]]])
  })

  it('keeps apart behaviours with different indicators (direct-to-MX and submission spam)', () => {
    const records = run([
      { device: 'a', at: 0 }, { device: 'b', at: 1, indicator: 'smtp/submission' }, { device: 'c', at: 2 },
      { device: 'd', at: 3, indicator: 'smtp/submission' },
    ])
    expect(records).toEqual([])
  })

  it('counts a device towards the behaviour it showed first, its other alerts as indicators of that campaign', () => {
    const records = last(run([
      { device: 'a', at: 0 }, { device: 'a', detector: 'email-telemetry', indicator: 'mail/reported', at: 5 },
      { device: 'a', detector: 'port-novelty', indicator: null, at: 6 },
      { device: 'b', at: 10 }, { device: 'c', at: 20 },
      { device: 'd', detector: 'email-telemetry', indicator: 'mail/reported', at: 30 },
      { device: 'e', detector: 'email-telemetry', indicator: 'mail/reported', at: 31 },
    ]))
    expect(records).toHaveLength(1)
    expect(records[0]).toMatchObject({
      deviceCount: 3,
      indicators: ['smtp-burst smtp/direct', 'email-telemetry mail/reported', 'port-novelty port 25'],
      evidence: { devicesPerIndicator: [3, 1, 1] },
    })
  })

  it('takes the stronger of two behaviours a device shows at the same instant', () => {
    const records = last(run([
      { device: 'a', detector: 'fanout', indicator: 'fanout/addresses', severity: 'medium', at: 0 },
      { device: 'a', at: 0, severity: 'critical' },
      { device: 'b', at: 1 }, { device: 'c', at: 2 },
    ]))
    expect(records.map((r) => [r.behaviour, r.deviceCount])).toEqual([['smtp-burst smtp/direct', 3]])
  })

  it('gives the same records whatever order the alerts arrive in', () => {
    const specs: Spec[] = Array.from({ length: 12 }, (_, i) => ({
      device: `d${i}`, model: i % 3 === 0 ? 'lumen-tv' : 'glacier-fridge', at: i * 17, until: i * 17 + 15 + (i % 4) * 40,
      indicator: i % 5 === 0 ? 'smtp/submission' : 'smtp/direct',
    }))
    const alerts = specs.flatMap(alert)
    const expected = correlateAll(alerts, settings)
    expect(expected.length).toBeGreaterThan(2)
    fc.assert(fc.property(fc.shuffledSubarray(alerts, { minLength: alerts.length }), (shuffled) => {
      expect(correlateAll(shuffled, settings)).toEqual(expected)
    }), { numRuns: 50 })
  })

  it('opens with the strongest alert of any of its devices, and writes a revision when a member raises the severity', () => {
    const records = run([
      { device: 'a', at: 0, severity: 'critical' }, { device: 'b', at: 1, severity: 'medium' }, { device: 'c', at: 2, severity: 'medium' },
    ])
    expect(records.map((r) => [r.revision, r.severity, r.previousSeverity])).toEqual([[1, 'critical', null]])
    const rising = run([
      { device: 'a', at: 0, severity: 'medium' }, { device: 'b', at: 1, severity: 'medium' }, { device: 'c', at: 2, severity: 'medium' },
      { device: 'b', detector: 'port-novelty', indicator: null, at: 10, severity: 'high' },
      { device: 'c', detector: 'port-novelty', indicator: null, at: 11, severity: 'medium' },
    ])
    expect(rising.map((r) => [r.revision, r.severity, r.previousSeverity])).toEqual([[1, 'medium', null], [2, 'high', 'medium']])
  })

  it('resolves at a watermark (event time known to have passed) and writes the resolution in its event-time place', () => {
    const a = [{ device: 'a', at: 0, until: 10 }, { device: 'b', at: 1, until: 10 }, { device: 'c', at: 2, until: 10 }]
    const b = [{ device: 'x', at: 300, indicator: 'smtp/submission' }, { device: 'y', at: 301, indicator: 'smtp/submission' }, { device: 'z', at: 302, indicator: 'smtp/submission' }]
    expect(run(a).map((r) => r.status)).toEqual(['firing'])
    const records = correlateAll([...a, ...b].flatMap(alert), settings, T0 + 400 * MIN)
    expect(records.map((r) => [r.behaviour, r.status, r.updatedAt])).toEqual([
      ['smtp-burst smtp/direct', 'firing', '2026-11-02T00:02:00.000Z'],
      ['smtp-burst smtp/direct', 'resolved', '2026-11-02T00:10:00.000Z'],
      ['smtp-burst smtp/submission', 'firing', '2026-11-02T05:02:00.000Z'],
    ])
  })

  it('keeps its devices through the sweeps that forget devices quiet for a window', () => {
    // Thousands of devices with one novelty alert each (no behaviour), then a campaign whose members outlive several sweeps.
    const fillers: Spec[] = Array.from({ length: 9000 }, (_, i) => ({ device: `f${i}`, detector: 'port-novelty', indicator: null, at: i / 100 }))
    const records = run([
      ...fillers, { device: 'a', at: 30, until: 100 }, { device: 'b', at: 40, until: 100 }, { device: 'c', at: 50, until: 100 },
      ...fillers.map((f) => ({ ...f, device: `g${f.device}`, at: 60 + f.at })),
      { device: 'x', model: 'lumen-tv', detector: 'fanout', indicator: 'fanout/ports', at: 400 },
    ])
    expect(records.map((r) => [r.status, r.deviceCount, r.endsAt])).toEqual([['firing', 3, null], ['resolved', 3, '2026-11-02T01:40:00.000Z']])
  })

  it('ignores fleet-scope records fed back to it', () => {
    const records = run([{ device: 'a', at: 0 }, { device: 'b', at: 30 }, { device: 'c', at: 60 }])
    const correlator = new Correlator(settings, () => undefined)
    correlator.observe(records[0] as unknown as Alert)
    expect(correlator.counters.alerts).toBe(0)
    expect([...[alert({ device: 'a', at: 1 })[0]!, alert({ device: 'a', at: 0 })[0]!]].sort(compareAlerts)[0]!.detectedAt).toBe('2026-11-02T00:00:00.000Z')
  })
})
