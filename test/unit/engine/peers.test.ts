import { describe, expect, it } from 'vitest'
import { initialFeatures, PeerGroups } from '../../../src/engine/peers.ts'
import type { DeviceFeatures } from '../../../src/engine/peers.ts'
import { at, egress } from '../../helpers/events.ts'

const HOUR = 60

/** Ten fridges mailing `perHour` times an hour for three hours; `spammer` sends 200 an hour in the third. */
const cohort = () => {
  const peers = new PeerGroups()
  const devices = new Map<string, DeviceFeatures>()
  for (let d = 0; d < 10; d++) {
    peers.join('fridge')
    devices.set(`f${d}`, initialFeatures())
  }
  for (let h = 0; h < 3; h++) {
    for (const [id, f] of devices) {
      const mails = id === 'f9' && h === 2 ? 200 : id === 'f0' ? 0 : 2
      for (let i = 0; i < mails; i++) peers.observe(f, 'fridge', egress({ ts: at(h * HOUR + (i * HOUR) / (mails + 1)), dstPort: 25, bytesOut: 5000 }))
      peers.observe(f, 'fridge', egress({ ts: at(h * HOUR + 59), dstPort: 443, bytesOut: 1000 }))
    }
  }
  return { peers, devices }
}

describe('peer groups', () => {
  it("compares a device's hour with its model's completed device-hours: ratio to the mean, median, robust z, percentile", () => {
    const { peers, devices } = cohort()
    // Hours 0 and 1 are complete for all ten (20 device-hours: 18 of 2 mails, 2 of none); the spammer's third hour is under way.
    expect(peers.evidence('smtp-burst', 'fridge', devices.get('f9')!)).toEqual({
      peerFeature: 'smtpFlowsPerHour', peerValue: 200, peerMedian: 2, peerMean: 1.8, peerRatio: 111.1, peerZ: null,
      peerPercentile: 100, peerDevices: 9, peerHours: 20,
      peerSummary: '200 SMTP connections an hour, 111.1× the mean of its 9 fridge peers (median 2, above 100% of 20 device-hours)',
    })
    // An ordinary fridge sits at the median; flows are the feature of detectors without one of their own.
    expect(peers.evidence('smtp-burst', 'fridge', devices.get('f3')!)).toMatchObject({ peerValue: 2, peerRatio: 1.1, peerPercentile: 10 })
    expect(peers.evidence('port-novelty', 'fridge', devices.get('f3')!)).toMatchObject({ peerFeature: 'flowsPerHour', peerValue: 3, peerMedian: 3 })
  })

  it('gives no evidence for a model without completed hours, and counts devices that leave', () => {
    const { peers, devices } = cohort()
    expect(peers.evidence('smtp-burst', 'tv', initialFeatures())).toEqual({})
    peers.leave('fridge')
    expect(peers.evidence('smtp-burst', 'fridge', devices.get('f9')!)).toMatchObject({ peerDevices: 8 })
  })

  it('restores from a snapshot to the same evidence', () => {
    const { peers, devices } = cohort()
    const copy = new PeerGroups()
    copy.restore(JSON.parse(JSON.stringify(peers.snapshot())) as ReturnType<PeerGroups['snapshot']>)
    for (let d = 0; d < 10; d++) copy.join('fridge')
    expect(copy.evidence('smtp-burst', 'fridge', devices.get('f9')!)).toEqual(peers.evidence('smtp-burst', 'fridge', devices.get('f9')!))
  })
})
