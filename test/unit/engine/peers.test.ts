import { describe, expect, it } from 'vitest'
import { bytes, initialFeatures, PeerGroups } from '../../../src/engine/peers.ts'
import type { DeviceFeatures } from '../../../src/engine/peers.ts'
import { soloFleet } from '../../../src/engine/fleet.ts'
import { at, egress, MIN } from '../../helpers/events.ts'

const HOUR = 60
const EPOCH = 10 * MIN

/** Ten fridges mailing twice an hour for three hours (f0 never); f9 sends 200 in the third (and the second with `longSpam`). */
const cohort = (longSpam = false) => {
  const fleet = soloFleet(MIN, EPOCH)
  const peers = new PeerGroups(fleet.access('peers'))
  const devices = new Map<string, DeviceFeatures>()
  for (let d = 0; d < 10; d++) devices.set(`f${d}`, initialFeatures())
  for (let h = 0; h < 3; h++) {
    for (const [id, f] of devices) {
      const mails = id === 'f9' && (h === 2 || (longSpam && h === 1)) ? 200 : id === 'f0' ? 0 : 2
      for (let i = 0; i < mails; i++) peers.observe(f, 'fridge', egress({ ts: at(h * HOUR + (i * HOUR) / (mails + 1)), dstPort: 25, bytesOut: 5000 }))
      peers.observe(f, 'fridge', egress({ ts: at(h * HOUR + 59), dstPort: 443, bytesOut: 1000 }))
      if (h === 2) fleet.devices.active('fridge', at(h * HOUR + 59))
    }
  }
  // The fleet closes every epoch up to the end of hour 2: evidence read in hour 3 sees all of it.
  const through = Math.floor(at(3 * HOUR) / EPOCH) - 1
  fleet.publish({ shard: 0, closedThrough: through, clock: at(3 * HOUR), epochs: fleet.shard.take(through) })
  return { fleet, peers, devices, now: at(3 * HOUR) + EPOCH }
}

describe('peer groups', () => {
  it("compares a device's hour with its peers' latest completed hours over the fleet: ratio to the mean, median, robust z, percentile", () => {
    const { peers, devices, now } = cohort()
    // Each fridge's latest completed hour is hour 1 (hour 0's was replaced): eight of 2 mails and
    // f0's none among f9's nine peers (mean 16/9), its own hour 1 left out. Its third hour is under way.
    expect(peers.evidence('smtpFlowsPerHour', 'fridge', devices.get('f9')!, now)).toEqual({
      peerFeature: 'smtpFlowsPerHour', peerValue: 200, peerMedian: 2, peerMean: 1.78, peerRatio: 112.5, peerZ: null,
      peerPercentile: 100, peerDevices: 9,
      peerSummary: '200 SMTP connections an hour, 112.5× the mean of its 9 fridge peers (median 2, above 100% of their latest hours)',
    })
    // An ordinary fridge sits at the median, above f0 alone of its nine peers; flows are the feature of detectors that name none.
    expect(peers.evidence('smtpFlowsPerHour', 'fridge', devices.get('f3')!, now)).toMatchObject({ peerValue: 2, peerRatio: 1.1, peerPercentile: 11.1, peerDevices: 9 })
    expect(peers.evidence('flowsPerHour', 'fridge', devices.get('f3')!, now)).toMatchObject({ peerFeature: 'flowsPerHour', peerValue: 3, peerMedian: 3 })
  })

  it("leaves the device's own completed hour out of its peers': a spammer's earlier hour does not make it look ordinary", () => {
    // f9 spammed in hour 1 too: its own 200 are in the fleet's distribution, and not among its peers.
    const { peers, devices, now } = cohort(true)
    expect(peers.evidence('smtpFlowsPerHour', 'fridge', devices.get('f9')!, now)).toMatchObject({
      peerValue: 200, peerMedian: 2, peerMean: 1.78, peerRatio: 112.5, peerPercentile: 100, peerDevices: 9,
    })
    // Its peers have it among theirs: f3 sees f9's 200 (its bucket's 206: mean (14 + 206) / 9).
    expect(peers.evidence('smtpFlowsPerHour', 'fridge', devices.get('f3')!, now)).toMatchObject({ peerMean: 24.46, peerDevices: 9 })
  })

  it('retracts the hour of a device that leaves its model (evicted, or its model changed) once the level holds the retraction', () => {
    const { fleet, peers, devices, now } = cohort(true)
    // f9 goes at the start of hour 3: data of that epoch is still read with it, data two epochs on without it.
    peers.forget(devices.get('f9')!, 'fridge', at(3 * HOUR))
    const epoch = Math.floor(at(3 * HOUR) / EPOCH)
    fleet.publish({ shard: 0, closedThrough: epoch, clock: at(3 * HOUR) + EPOCH, epochs: fleet.shard.take(epoch) })
    expect(peers.evidence('smtpFlowsPerHour', 'fridge', devices.get('f3')!, now)).toMatchObject({ peerMean: 24.46, peerDevices: 9 })
    expect(peers.evidence('smtpFlowsPerHour', 'fridge', devices.get('f3')!, at(3 * HOUR) + 2 * EPOCH)).toMatchObject({ peerMean: 1.75, peerDevices: 8 })
  })

  it('gives no evidence for a model without completed hours in the fleet', () => {
    const { peers, now } = cohort()
    expect(peers.evidence('smtpFlowsPerHour', 'tv', initialFeatures(), now)).toEqual({})
  })

  it('says bytes in decimal units, and gives no evidence for a device with fewer than five peers', () => {
    const { peers, devices, now } = cohort()
    expect(peers.evidence('bytesOutPerHour', 'fridge', devices.get('f9')!, now)).toMatchObject({
      peerValue: 1_001_000,
      // The mean by the histogram's buckets (within 5 % above 32): 1 MB against 8 × 11 kB and 1 kB.
      peerSummary: '1 MB out an hour, 100.4× the mean of its 9 fridge peers (median 11.1 kB, above 100% of their latest hours)',
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
