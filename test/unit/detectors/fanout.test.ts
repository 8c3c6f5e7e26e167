import { describe, expect, it } from 'vitest'
import { fanout } from '../../../detectors/fanout.ts'
import type { EgressEvent } from '../../../src/types.ts'
import { at, egress, MIN } from '../../helpers/events.ts'
import { soloFleet } from '../../../src/engine/fleet.ts'
import { Destinations } from '../../../src/engine/destinations.ts'
import { detectorFindings, minutesOf } from '../../helpers/run.ts'

// Distinct counts come from an 80-byte linear-counting sketch: the numbers below are its deterministic
// estimates for these exact addresses and ports, which for these sizes equal or nearly equal the true counts.

/** One flow a minute to the vendor cloud over minutes [from, to). */
const chatter = (deviceId: string, from: number, to: number, model = 'test-model'): EgressEvent[] =>
  range(from, to).map((m) => egress({ deviceId, model, ts: at(m), dstIp: '52.10.0.1' }))

/** `n` flows spread over the minute `minute`, to `dst(i)` on `port(i)`. */
const sweep = (deviceId: string, minute: number, n: number, dst: (i: number) => string, port: (i: number) => number, model = 'test-model'): EgressEvent[] =>
  range(0, n).map((i) => egress({ deviceId, model, ts: at(minute + i / n), dstIp: dst(i), dstPort: port(i) }))

const telnetScan = (deviceId: string, minute: number, n: number): EgressEvent[] =>
  sweep(deviceId, minute, n, (i) => `45.${i}.7.9`, () => 23)

describe('fanout', () => {
  it('reports a telnet scan of 60 addresses in the window it happens', () => {
    const found = detectorFindings(fanout, [...chatter('dev-1', 0, 10), ...telnetScan('dev-1', 10, 60)])
    expect(minutesOf(found)).toEqual([10])
    // The last three sampled, oldest first; 45.56, 45.57 and 45.58 hashed to bits already set, so it was taken for a repeat.
    const sample = ['45.54.7.9', '45.55.7.9', '45.59.7.9']
    // The level of a device that talks to one host a minute is 1: 61 (the sketch's estimate of 60)
    // is far past anything its negative binomial allows, so high.
    expect(found[0]!.finding).toEqual({
      severity: 'high',
      score: 1,
      summary: '~61 distinct destinations and ~1 distinct ports in 1 min (its level 1 / 1)',
      evidence: {
        distinctDestinations: 61,
        distinctPorts: 1,
        levelDestinations: 1,
        levelPorts: 1,
        surprise: expect.any(Number),
        recentDestinations: sample,
        indicator: 'fanout/addresses',
      },
      destinations: sample,
    })
    expect(found[0]!.finding.evidence.surprise).toBeGreaterThan(50)
  })

  it('counts addresses and ports separately, each against its own floor, and ignores multicast', () => {
    const found = detectorFindings(fanout, [
      // one host, 30 ports: a port scan
      ...sweep('portscan', 0, 30, () => '203.0.113.50', (i) => 8000 + i),
      // 30 hosts on 15 ports: below both floors
      ...sweep('busy', 0, 30, (i) => `151.101.${i}.1`, (i) => 8000 + (i % 15)),
      // SSDP and mDNS discovery to 60 groups and 30 ports, and a DHCP broadcast: not destinations
      ...sweep('discovery', 0, 60, (i) => `239.255.${i}.250`, () => 1900),
      ...sweep('discovery', 1, 30, (i) => `224.0.0.${i + 1}`, (i) => 5000 + i),
      egress({ deviceId: 'discovery', ts: at(2), dstIp: '255.255.255.255', dstPort: 67, proto: 17 }),
    ])
    expect(found.map((f) => [f.deviceId, f.minute])).toEqual([['portscan', 0]])
    expect(found[0]!.finding.summary).toBe('~1 distinct destinations and ~28 distinct ports in 1 min (its level 1 / 1)')
    expect(found[0]!.finding.evidence).toMatchObject({ distinctDestinations: 1, distinctPorts: 28, recentDestinations: ['203.0.113.50'], indicator: 'fanout/ports' })
  })

  it('judges a device that regularly talks to many hosts against its own level', () => {
    // A streaming stick reaches 30 CDN edges every ten minutes; the hub keeps the fleet's event time moving,
    // so each burst is evaluated once the stick has been idle for five minutes.
    const stick = range(0, 25).flatMap((k) => sweep('stick-1', k * 10, 30, (i) => `151.101.${k}.${i}`, () => 443, 'stream-stick'))
    const found = detectorFindings(fanout, [
      ...chatter('hub-1', 0, 270, 'hub'),
      ...stick,
      ...sweep('stick-1', 250, 60, (i) => `151.102.0.${i}`, () => 443, 'stream-stick'),
      ...sweep('tv-1', 250, 60, (i) => `151.102.0.${i}`, () => 443, 'smart-tv'),
    ])
    // After 25 bursts of 30 the stick's level is 30 (the plain mean of its first windows), and 60 is
    // an ordinary burst for it; the new TV has only its model's level (1) and the floor.
    expect(minutesOf(found, 'stick-1')).toEqual([])
    expect(minutesOf(found, 'tv-1')).toEqual([250])
    expect(minutesOf(found, 'hub-1')).toEqual([])
  })

  it('follows the surprise: medium for a count its device makes once in millions of windows, high far past that', () => {
    const stick = range(0, 25).flatMap((k) => sweep('stick-1', k * 10, 30, (i) => `151.101.${k}.${i}`, () => 443, 'stream-stick'))
    const burst = (n: number) => detectorFindings(fanout, [
      ...chatter('hub-1', 0, 270, 'hub'),
      ...stick,
      ...sweep('stick-1', 250, n, (i) => `151.102.${i >> 8}.${i & 255}`, () => 443, 'stream-stick'),
    ]).filter((f) => f.deviceId === 'stick-1').map((f) => [f.finding.severity, f.finding.evidence.surprise])
    expect(burst(120)).toEqual([])
    const medium = burst(200)
    expect(medium.map(([severity]) => severity)).toEqual(['medium'])
    expect(medium[0]![1]).toBeGreaterThanOrEqual(6)
    expect(burst(300).map(([severity]) => severity)).toEqual(['high'])
  })

  it('honours minDistinctIps, minDistinctPorts and surprise overrides', () => {
    const scan = [...chatter('dev-1', 0, 10), ...telnetScan('dev-1', 10, 60)]
    expect(detectorFindings(fanout, scan, { minDistinctIps: 100 })).toEqual([])
    const surprise = detectorFindings(fanout, scan)[0]!.finding.evidence.surprise as number
    expect(detectorFindings(fanout, scan, { surprise: surprise + 1 })).toEqual([])
    const ports = sweep('dev-1', 0, 15, () => '203.0.113.50', (i) => 8000 + i)
    expect(detectorFindings(fanout, ports)).toEqual([])
    const found = detectorFindings(fanout, ports, { minDistinctPorts: 10 })
    expect(minutesOf(found)).toEqual([0])
    expect(found[0]!.finding.evidence).toMatchObject({ distinctPorts: 13 }) // the sketch's estimate of 15
  })

  // Regression: the engine evaluates window w after it may have observed flows of w+1; the sketches keep
  // one map per window of the lookahead, so a scan followed by ordinary traffic is still measured.
  it('reports a scan window even when the device keeps talking afterwards', () => {
    const found = detectorFindings(fanout, [...chatter('dev-1', 0, 10), ...telnetScan('dev-1', 10, 60), ...chatter('dev-1', 11, 20)])
    expect(minutesOf(found)).toEqual([10])
  })

  it('gives an evicted device\'s row to the next device empty: no sketch, samples or levels of the one before', () => {
    const detector = fanout.create(fanout.configSchema.parse({}), { windowMs: MIN, lookaheadWindows: 1, fleet: soloFleet(MIN).access('fanout'), destinations: new Destinations(null) })
    const device = { id: 'dev-1', model: 'test-model', firmware: '', firmwareChangedAt: -Infinity, firstSeen: at(0) }
    const empty = JSON.stringify(detector.snapshot(detector.init(device)))
    const scanner = detector.init(device)
    for (const e of telnetScan('dev-1', 10, 60)) detector.observeEgress!(scanner, e, device)
    const scanned = detector.snapshot(scanner) as { sketch: number[]; sample: string[] }
    expect(scanned.sample.filter((ip) => ip !== '')).toHaveLength(3)
    detector.forget!(scanner)
    const next = detector.init(device)
    expect(next).toBe(scanner)
    expect(JSON.stringify(detector.snapshot(next))).toBe(empty)
    // A restored device with levels learned, evicted in its turn.
    const learned = { ...scanned, levelIps: 3, levelPorts: 1, spreadIps: 2, spreadPorts: 0.5, learned: 20 }
    const restored = detector.restore(JSON.parse(JSON.stringify(learned)), device)
    expect(detector.snapshot(restored)).toEqual(learned)
    detector.forget!(restored)
    detector.forget!(next)
    expect(JSON.stringify(detector.snapshot(detector.init(device)))).toBe(empty)
    expect(JSON.stringify(detector.snapshot(detector.init(device)))).toBe(empty)
  })

  // Regression: ports are hashed with a full mixer, so a sequential scan is estimated like any other
  // (an unmixed multiplicative hash overestimated 90 consecutive ports as 100).
  it('estimates a sequential scan of 90 ports as about 90', () => {
    const found = detectorFindings(fanout, sweep('dev-1', 0, 90, () => '203.0.113.50', (i) => 1 + i))
    expect(found[0]!.finding.evidence.distinctPorts).toBeGreaterThanOrEqual(85)
    expect(found[0]!.finding.evidence.distinctPorts).toBeLessThanOrEqual(95)
  })
})

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i)
}
