import { describe, expect, it } from 'vitest'
import { bytes, initialFeatures, PeerGroups } from '../../../src/engine/peers.ts'
import type { DeviceFeatures } from '../../../src/engine/peers.ts'
import { soloFleet } from '../../../src/engine/fleet.ts'
import { at, egress, MIN } from '../../helpers/events.ts'

const HOUR = 60
const EPOCH = 10 * MIN

/** Ten fridges mailing `perHour` times an hour for three hours; `spammer` sends 200 an hour in the third. */
const cohort = () => {
  const fleet = soloFleet(MIN, EPOCH)
  const peers = new PeerGroups(fleet.access('peers'))
  const devices = new Map<string, DeviceFeatures>()
  for (let d = 0; d < 10; d++) devices.set(`f${d}`, initialFeatures())
  for (let h = 0; h < 3; h++) {
    for (const [id, f] of devices) {
      const mails = id === 'f9' && h === 2 ? 200 : id === 'f0' ? 0 : 2
      for (let i = 0; i < mails; i++) peers.observe(f, 'fridge', egress({ ts: at(h * HOUR + (i * HOUR) / (mails + 1)), dstPort: 25, bytesOut: 5000 }))
      peers.observe(f, 'fridge', egress({ ts: at(h * HOUR + 59), dstPort: 443, bytesOut: 1000 }))
      if (h === 2) fleet.devices.active('fridge', at(h * HOUR + 59))
    }
  }
  // The fleet closes every epoch up to the end of hour 2: evidence read in hour 3 sees all of it.
  const through = Math.floor(at(3 * HOUR) / EPOCH) - 1
  fleet.publish({ shard: 0, closedThrough: through, clock: at(3 * HOUR), epochs: fleet.shard.take(through) })
  return { peers, devices, now: at(3 * HOUR) + EPOCH }
}

describe('peer groups', () => {
  it("compares a device's hour with its model's completed device-hours over the fleet: ratio to the mean, median, robust z, percentile", () => {
    const { peers, devices, now } = cohort()
    // Hours 0 and 1 are complete for all ten (20 device-hours: 18 of 2 mails, 2 of none), each counted
    // in the epoch it completed in and decayed by 0.9 an epoch since: f0's empty hours complete at its
    // last event of the next hour, later than the others', and weigh more (mean 1.68, not 1.8; ~10
    // device-hours of weight). The spammer's third hour is under way.
    expect(peers.evidence('smtpFlowsPerHour', 'fridge', devices.get('f9')!, now)).toEqual({
      peerFeature: 'smtpFlowsPerHour', peerValue: 200, peerMedian: 2, peerMean: 1.68, peerRatio: 118.8, peerZ: null,
      peerPercentile: 100, peerDevices: 9, peerHours: 10,
      peerSummary: '200 SMTP connections an hour, 118.8× the mean of its 9 fridge peers (median 2, above 100% of 10 recent device-hours)',
    })
    // An ordinary fridge sits at the median; flows are the feature of detectors that name none.
    expect(peers.evidence('smtpFlowsPerHour', 'fridge', devices.get('f3')!, now)).toMatchObject({ peerValue: 2, peerRatio: 1.2, peerPercentile: 15.8 })
    expect(peers.evidence('flowsPerHour', 'fridge', devices.get('f3')!, now)).toMatchObject({ peerFeature: 'flowsPerHour', peerValue: 3, peerMedian: 3 })
  })

  it('gives no evidence for a model without completed hours in the fleet', () => {
    const { peers, now } = cohort()
    expect(peers.evidence('smtpFlowsPerHour', 'tv', initialFeatures(), now)).toEqual({})
  })

  it('says bytes in decimal units, and gives no evidence for a device with fewer than five peers', () => {
    const { peers, devices, now } = cohort()
    expect(peers.evidence('bytesOutPerHour', 'fridge', devices.get('f9')!, now)).toMatchObject({
      peerValue: 1_001_000,
      peerSummary: '1 MB out an hour, 106.3× the mean of its 9 fridge peers (median 11.1 kB, above 100% of 10 recent device-hours)',
    })
    expect([bytes(950), bytes(1_000), bytes(272_577_447), bytes(12_345_678_901)]).toEqual(['950 B', '1 kB', '273 MB', '12.3 GB'])
    expect([bytes(999.6), bytes(999_960), bytes(999_600_000), bytes(99_960)]).toEqual(['1 kB', '1 MB', '1 GB', '100 kB'])
    // Bytes an hour: a cohort of 1–3.7 kB puts a 100 MB hour tens of thousands of spreads off; shown as 100.
    const tight = soloFleet(MIN, EPOCH)
    const p = new PeerGroups(tight.access('peers'))
    const fs = Array.from({ length: 10 }, () => initialFeatures())
    for (let h = 0; h < 3; h++) {
      fs.forEach((x, i) => p.observe(x, 'fridge', egress({ ts: at(h * HOUR + 30), dstPort: 443, bytesOut: i === 9 && h === 2 ? 100_000_000 : 1000 + 300 * i })))
      if (h === 2) for (let i = 0; i < 10; i++) tight.devices.active('fridge', at(h * HOUR + 30))
    }
    const closed = Math.floor(at(3 * HOUR) / EPOCH) - 1
    tight.publish({ shard: 0, closedThrough: closed, clock: at(3 * HOUR), epochs: tight.shard.take(closed) })
    expect(p.evidence('bytesOutPerHour', 'fridge', fs[9]!, at(3 * HOUR) + EPOCH).peerZ).toBe(100)
    // Four fridges: three peers each, too few to say what is normal.
    const fleet = soloFleet(MIN, EPOCH)
    const few = new PeerGroups(fleet.access('peers'))
    const f = Array.from({ length: 4 }, () => initialFeatures())
    for (let h = 0; h < 2; h++) for (const x of f) few.observe(x, 'fridge', egress({ ts: at(h * HOUR + 30), dstPort: 443, bytesOut: 1000 }))
    for (let i = 0; i < 4; i++) fleet.devices.active('fridge', at(HOUR + 30))
    const through = Math.floor(at(2 * HOUR) / EPOCH) - 1
    fleet.publish({ shard: 0, closedThrough: through, clock: at(2 * HOUR), epochs: fleet.shard.take(through) })
    expect(few.evidence('flowsPerHour', 'fridge', f[0]!, at(2 * HOUR) + EPOCH)).toEqual({})
  })
})
