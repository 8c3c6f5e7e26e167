import { describe, expect, it } from 'vitest'
import { Device, deviceRows } from '../../../src/engine/device.ts'

const fresh = (d: Device) => ({
  maxTs: d.maxTs, firstSeen: d.firstSeen, firmwareChangedAt: d.firmwareChangedAt, touchedAt: d.touchedAt, nextWindow: d.nextWindow,
  lastDataWindow: d.lastDataWindow, pending: d.pending, featureHour: d.featureHour, countsNow: d.countsNow, bytesNow: d.bytesNow,
  countsBefore: d.countsBefore, bytesBefore: d.bytesBefore, shared: d.shared, sharedEpoch: d.sharedEpoch, sharedBefore: d.sharedBefore,
})

const NEW = {
  maxTs: -Infinity, firstSeen: 0, firmwareChangedAt: -Infinity, touchedAt: 0, nextWindow: 0, lastDataWindow: 0, pending: false,
  featureHour: -1, countsNow: 0, bytesNow: 0, countsBefore: 0, bytesBefore: 0, shared: -1, sharedEpoch: 0, sharedBefore: -1,
}

/** Sets every number of a device to a value of its own, past 2^31 where the field may be. */
const fill = (d: Device, k: number): void => {
  d.maxTs = 1_793_836_800_123 + k
  d.firstSeen = 1_793_800_000_001 + k
  d.firmwareChangedAt = 1_793_810_000_002 + k
  d.touchedAt = 2 ** 40 + k
  d.nextWindow = 29_897_280 + k
  d.lastDataWindow = 29_897_279 + k
  d.pending = true
  d.featureHour = 498_288 + k
  d.countsNow = 0x3fff * 0x10000 + 0xffff - k
  d.bytesNow = 2 ** 45 + 7 + k
  d.countsBefore = 12 + k
  d.bytesBefore = 2 ** 33 + k
  d.shared = (1 << 27) - 1 - k
  d.sharedEpoch = 2_989_728 + k
  d.sharedBefore = 513 + k
}

describe('Device: a device record with its numbers in its engine\'s rows', () => {
  it('starts as a new device: no event time, firmware never changed, no hour or share yet', () => {
    const d = new Device(deviceRows(), 'cam-1', 'peep-cam', '1.0', 3)
    expect(fresh(d)).toEqual(NEW)
    expect([d.id, d.model, d.firmware, d.states.length, d.alerts, d.names]).toEqual(['cam-1', 'peep-cam', '1.0', 3, null, null])
  })

  it('keeps every number exactly, event times and byte counts past 2^31 included, apart from the other devices of its rows', () => {
    const rows = deviceRows()
    // More devices than the rows' first capacity: the arrays are replaced as they grow, and each keeps its numbers.
    const devices = Array.from({ length: 600 }, (_, k) => new Device(rows, `d${k}`, 'm', '', 1))
    devices.forEach((d, k) => fill(d, k))
    devices.forEach((d, k) => {
      const want = new Device(deviceRows(), 'x', 'm', '', 1)
      fill(want, k)
      expect(fresh(d)).toEqual(fresh(want))
    })
    expect(fresh(devices[599]!).bytesNow).toBe(2 ** 45 + 7 + 599)
    expect(fresh(devices[0]!).countsNow).toBe(0x3fff * 0x10000 + 0xffff)
  })

  it('gives its row back: the next device takes it and starts as new, the others keep theirs', () => {
    const rows = deviceRows()
    const a = new Device(rows, 'a', 'm', '', 1)
    const b = new Device(rows, 'b', 'm', '', 1)
    fill(a, 1)
    fill(b, 2)
    a.release()
    expect(rows.size).toBe(1)
    const c = new Device(rows, 'c', 'm', '', 1)
    expect(rows.size).toBe(2)
    expect(fresh(c)).toEqual(NEW)
    const want = new Device(deviceRows(), 'x', 'm', '', 1)
    fill(want, 2)
    expect(fresh(b)).toEqual(fresh(want))
  })
})
