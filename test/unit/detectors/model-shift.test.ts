import { describe, expect, it } from 'vitest'
import { modelShift } from '../../../detectors/model-shift.ts'
import type { DeviceEvent } from '../../../src/types.ts'
import { at, egress } from '../../helpers/events.ts'
import { detectorFindings } from '../../helpers/run.ts'
import { Destinations } from '../../../src/engine/destinations.ts'
import { soloFleet } from '../../../src/engine/fleet.ts'
import { hashString } from '../../../src/engine/window.ts'

const DEVICES = Array.from({ length: 8 }, (_, i) => `cam-${i}`)

/**
 * Eight cameras of one model calling their vendor every minute for 5 h; from minute 180 the
 * `adopters` also call `host`, each a minute after the one before; `firmwareAt` (minutes after
 * its first call) is when each adopter's firmware changes, or null.
 */
const fleet = (adopters: number, host: string, firmwareAt: number | null): DeviceEvent[] => {
  const events: DeviceEvent[] = []
  DEVICES.forEach((deviceId, d) => {
    for (let m = 0; m < 300; m++) {
      const updated = firmwareAt !== null && d < adopters && m >= 180 + d + firmwareAt
      const firmware = updated ? '2.0' : '1.0'
      events.push(egress({ deviceId, model: 'cam', firmware, ts: at(m + d / 100), dstHost: 'api.vendor.example', dstIp: '192.0.2.10' }))
      if (d < adopters && m >= 180 + d) events.push(egress({ deviceId, model: 'cam', firmware, ts: at(m + 0.5), dstHost: host, dstIp: '192.0.2.99' }))
    }
  })
  return events
}

describe('model-shift', () => {
  it('reports a rollout (a notice, low) when most of a model takes up a new host with a firmware change, once it settled', () => {
    const found = detectorFindings(modelShift, fleet(6, 'fw.vendor.example', 2))
    expect(new Set(found.map((f) => f.deviceId))).toEqual(new Set(DEVICES.slice(0, 6)))
    const first = found.find((f) => f.deviceId === 'cam-5')!
    // Its first call, ten minutes to settle (the download precedes the new firmware), and the fleet's
    // level to have its peers' adoptions: first reported at 200 (epoch 20 reads epoch 18, which has them).
    expect(first.minute).toBe(200)
    expect(first.finding).toEqual({
      kind: 'notice', severity: 'low', score: 0.3,
      summary: 'took up fw.vendor.example, new to cam, with 5 peers after its firmware changed to 2.0: a rollout',
      evidence: { rule: 'rollout', host: 'fw.vendor.example', peers: 5, firmware: '2.0', indicator: 'rollout fw.vendor.example firmware 2.0' },
      destinations: ['fw.vendor.example'],
    })
  })

  it('reports the same move without a firmware change as a shift (medium)', () => {
    const found = detectorFindings(modelShift, fleet(6, 'relay.attacker.example', null))
    expect(new Set(found.map((f) => f.deviceId)).size).toBe(6)
    expect(found[0]!.finding).toMatchObject({ kind: 'alert', severity: 'medium', evidence: { rule: 'shift', indicator: 'shift relay.attacker.example', peers: 5 } })
  })

  it('still sees a shift after one device scanned hundreds of addresses, or reached the new host on a local address', () => {
    const shift = fleet(6, 'relay.attacker.example', null)
    const scan = Array.from({ length: 300 }, (_, i) => egress({ deviceId: 'cam-7', model: 'cam', firmware: '1.0', ts: at(170 + i / 100), dstIp: `198.18.${i >> 8}.${i & 255}`, dstPort: 23 }))
    expect(new Set(detectorFindings(modelShift, [...shift, ...scan]).map((f) => f.deviceId)).size).toBe(6)
    const local = egress({ deviceId: 'cam-7', model: 'cam', firmware: '1.0', ts: at(175), dstIp: '10.0.0.9', dstHost: 'relay.attacker.example' })
    expect(new Set(detectorFindings(modelShift, [...shift, local]).map((f) => f.deviceId)).size).toBe(6)
  })

  it("keeps a host's adopters counted while they may still report, past the window for new adopters", () => {
    // Five cameras take the host up, the last almost three hours after the first; a sixth calls it just after the window.
    const events: DeviceEvent[] = []
    DEVICES.forEach((deviceId, d) => {
      for (let m = 0; m < 500; m++) {
        events.push(egress({ deviceId, model: 'cam', firmware: '1.0', ts: at(m + d / 100), dstHost: 'api.vendor.example', dstIp: '192.0.2.10' }))
        const start = [180, 181, 182, 183, 359, 362][d]
        if (start !== undefined && m >= start) events.push(egress({ deviceId, model: 'cam', firmware: '1.0', ts: at(m + 0.5), dstHost: 'late.example', dstIp: '192.0.2.98' }))
      }
    })
    const found = detectorFindings(modelShift, events, { minShare: 0.4 })
    expect([...new Set(found.map((f) => f.deviceId))].sort()).toEqual(DEVICES.slice(0, 5))
  })

  it('stays quiet when a few devices take a host up (an ad server), and for hosts the model used while it learned', () => {
    expect(detectorFindings(modelShift, fleet(3, 'ads.example', null))).toEqual([]) // 3 of 8: under half the model
    const learned = fleet(6, 'api.vendor.example', null).filter((e) => e.type === 'egress' && e.dstHost === 'api.vendor.example')
    expect(detectorFindings(modelShift, learned)).toEqual([])
  })

  it('writes its hosts a field per array and restores them to the same checkpoint; an older one without hashes or trails as they were made', () => {
    const detector = modelShift.create(modelShift.configSchema.parse({}), { windowMs: 60_000, lookaheadWindows: 1, fleet: soloFleet(60_000).access('model-shift'), destinations: new Destinations(null) })
    const device = { id: 'cam-0', model: 'cam', firmware: '1.0', firmwareChangedAt: -Infinity, firstSeen: at(0) }
    const current = { adopted: { hosts: ['fw.vendor.example', 'relay.example'], hashes: [7, 9], first: [100, 104], last: [103, 104], trail: [0b101, 1], active: [3, 1] } }
    expect(JSON.parse(JSON.stringify(detector.snapshot(detector.restore(structuredClone(current), device))))).toEqual(current)
    const older = { adopted: { hosts: ['fw.vendor.example'], first: [100], last: [103], active: [3] } }
    expect(JSON.parse(JSON.stringify(detector.snapshot(detector.restore(older, device))))).toEqual({
      adopted: { hosts: ['fw.vendor.example'], hashes: [hashString('fw.vendor.example')], first: [100], last: [103], trail: [1], active: [3] },
    })
  })
})
