import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Device, DeviceTable } from '../../../src/engine/device.ts'

/** A table for `n` detectors, those at `words` keeping their states in words. */
const tableOf = (n: number, words: readonly number[] = []): DeviceTable =>
  new DeviceTable(Array.from({ length: n }, (_, i) => ({ id: `detector-${i}`, rowState: words.includes(i) })))

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
    const d = new Device(tableOf(3), 'cam-1', 'peep-cam', '1.0')
    expect(fresh(d)).toEqual(NEW)
    expect([d.id, d.model, d.firmware, d.state(0), d.state(2), d.alerts, d.names]).toEqual(['cam-1', 'peep-cam', '1.0', undefined, undefined, null, null])
  })

  it('keeps every number exactly, event times and byte counts past 2^31 included, apart from the other devices of its rows', () => {
    const rows = tableOf(1)
    // More devices than the rows' first capacity: the arrays are replaced as they grow, and each keeps its numbers.
    const devices = Array.from({ length: 600 }, (_, k) => new Device(rows, `d${k}`, 'm', ''))
    devices.forEach((d, k) => fill(d, k))
    devices.forEach((d, k) => {
      const want = new Device(tableOf(1), 'x', 'm', '')
      fill(want, k)
      expect(fresh(d)).toEqual(fresh(want))
    })
    expect(fresh(devices[599]!).bytesNow).toBe(2 ** 45 + 7 + 599)
    expect(fresh(devices[0]!).countsNow).toBe(0x3fff * 0x10000 + 0xffff)
  })

  it('keeps a state per detector and device', () => {
    const table = tableOf(2)
    const a = new Device(table, 'a', 'm', '')
    const b = new Device(table, 'b', 'm', '')
    a.setState(0, 'a0')
    a.setState(1, 'a1')
    b.setState(1, 'b1')
    expect([a.state(0), a.state(1), b.state(0), b.state(1)]).toEqual(['a0', 'a1', undefined, 'b1'])
  })

  it('gives its row back: the next device takes it and starts as new, with no state, the others keep theirs', () => {
    const rows = tableOf(1)
    const a = new Device(rows, 'a', 'm', '')
    const b = new Device(rows, 'b', 'm', '')
    fill(a, 1)
    fill(b, 2)
    a.setState(0, { a: 1 })
    b.setState(0, 'b')
    a.release()
    expect(rows.states[0]).toEqual([undefined, 'b'])
    expect(rows.size).toBe(1)
    const c = new Device(rows, 'c', 'm', '')
    expect(rows.size).toBe(2)
    expect(fresh(c)).toEqual(NEW)
    expect([c.state(0), b.state(0)]).toEqual([undefined, 'b'])
    const want = new Device(tableOf(1), 'x', 'm', '')
    fill(want, 2)
    expect(fresh(b)).toEqual(fresh(want))
  })
})

describe('Device: states, profile and extras', () => {
  it('keeps the states of detectors that said they are 32-bit integers in words, through growth and reuse of rows', () => {
    const table = tableOf(3, [1])
    const devices = Array.from({ length: 600 }, (_, k) => new Device(table, `d${k}`, 'm', ''))
    devices.forEach((d, k) => {
      d.setState(0, `o${k}`)
      d.setState(1, k % 2 === 0 ? 2 ** 31 - 1 - k : -(2 ** 31) + k)
    })
    expect(devices.map((d) => [d.state(0), d.state(1)]).filter(([o, w], k) => o !== `o${k}` || w !== (k % 2 === 0 ? 2 ** 31 - 1 - k : -(2 ** 31) + k))).toEqual([])
    // Its column holds nothing: the words do.
    expect([table.states[1]!.length, table.states[0]!.length]).toEqual([0, 600])
    devices[3]!.release()
    const next = new Device(table, 'next', 'm', '')
    expect([next.row, next.state(1), next.state(0)]).toEqual([3, 0, undefined])
  })

  it('refuses a state that is not a 32-bit integer from a detector that said its states are, naming it', () => {
    const d = new Device(tableOf(2, [1]), 'a', 'm', '')
    expect(() => d.setState(1, { row: 1 })).toThrow('detector detector-1 says its states are rows (32-bit integers) but gave object')
    expect(() => d.setState(1, 2 ** 31)).toThrow('but gave 2147483648')
    expect(() => d.setState(1, 1.5)).toThrow('but gave 1.5')
  })

  it('changes one device\'s model or firmware without the others of the same pair', () => {
    const table = tableOf(1)
    const a = new Device(table, 'a', 'peep-cam', '1.0')
    const b = new Device(table, 'b', 'peep-cam', '1.0')
    a.firmware = '2.0'
    b.model = 'lumen-tv'
    expect([a.model, a.firmware, b.model, b.firmware]).toEqual(['peep-cam', '2.0', 'lumen-tv', '1.0'])
  })

  it('keeps alert slots and names apart', () => {
    const d = new Device(tableOf(1), 'a', 'm', '')
    const names = { addresses: ['192.0.2.1'], names: ['c2.example'], until: [5] }
    d.alerts = ['slot']
    d.names = names
    d.alerts = null
    expect([d.alerts, d.names]).toEqual([null, names])
    d.names = null
    d.alerts = ['again']
    expect([d.alerts, d.names]).toEqual([['again'], null])
  })
})

describe('DeviceTable: devices by id, least recently seen first', () => {
  type Op = { op: 'add' | 'remove' | 'touch' | 'get'; k: number }
  const ops = fc.array(
    fc.record({ op: fc.constantFrom<Op['op']>('add', 'add', 'remove', 'touch', 'get'), k: fc.nat(400) }),
    { maxLength: 1200 },
  )

  it('finds, orders and counts devices as a map re-inserted on each touch does, through growth and removals', () => {
    fc.assert(
      fc.property(ops, (steps) => {
        const table = tableOf(1)
        const model = new Map<string, Device>()
        for (const { op, k } of steps) {
          const id = `dev-${k}`
          const known = model.get(id)
          if (op === 'add' && known === undefined) {
            const d = new Device(table, id, 'm', '')
            table.add(d)
            model.set(id, d)
          } else if (op === 'remove' && known !== undefined) {
            table.remove(known)
            known.release()
            model.delete(id)
          } else if (op === 'touch' && known !== undefined) {
            table.touch(known)
            model.delete(id)
            model.set(id, known)
          }
          expect(table.get(id)).toBe(model.get(id))
        }
        expect(table.count).toBe(model.size)
        expect([...table.values()]).toEqual([...model.values()])
        for (let k = 0; k <= 400; k++) expect(table.get(`dev-${k}`)).toBe(model.get(`dev-${k}`))
      }),
    )
  })

  it('lets a walk over the devices remove the one it is at', () => {
    const table = tableOf(1)
    for (let k = 0; k < 100; k++) table.add(new Device(table, `d${k}`, 'm', ''))
    const seen: string[] = []
    for (const d of table.values()) {
      seen.push(d.id)
      if (Number(d.id.slice(1)) % 3 !== 0) {
        table.remove(d)
        d.release()
      }
    }
    expect(seen).toHaveLength(100)
    expect([...table.values()].map((d) => d.id)).toEqual(Array.from({ length: 34 }, (_, k) => `d${3 * k}`))
    expect(table.get('d1')).toBeUndefined()
    expect(table.get('d99')!.id).toBe('d99')
  })
})
