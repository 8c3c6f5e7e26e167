import { describe, expect, it } from 'vitest'
import { fanout } from '../../../detectors/fanout.ts'
import type { EgressEvent } from '../../../src/types.ts'
import { at, egress } from '../../helpers/events.ts'
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
    expect(found[0]!.finding).toEqual({
      severity: 'medium',
      score: expect.closeTo(0.5 + Math.log2(61 / 40) / 6, 9), // the sketch estimates 60 addresses as 61
      summary: '~61 distinct destinations and ~1 distinct ports in 1 min (thresholds 40 / 20)',
      evidence: {
        distinctDestinations: 61,
        distinctPorts: 1,
        thresholdDestinations: 40,
        thresholdPorts: 20,
        levelDestinations: 1, // the level of a device that talks to one host a minute
        recentDestinations: sample,
        indicator: 'fanout/addresses',
      },
      destinations: sample,
    })
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
    expect(found[0]!.finding.summary).toBe('~1 distinct destinations and ~28 distinct ports in 1 min (thresholds 40 / 20)')
    expect(found[0]!.finding.evidence).toMatchObject({ distinctDestinations: 1, distinctPorts: 28, recentDestinations: ['203.0.113.50'], indicator: 'fanout/ports' })
  })

  it('is high from five times a threshold', () => {
    const wide = detectorFindings(fanout, telnetScan('dev-1', 0, 250))
    expect(minutesOf(wide)).toEqual([0])
    expect(wide[0]!.finding).toMatchObject({
      severity: 'high',
      score: expect.closeTo(0.5 + Math.log2(227 / 40) / 6, 9),
      summary: '~227 distinct destinations and ~1 distinct ports in 1 min (thresholds 40 / 20)',
    })
    const narrower = detectorFindings(fanout, telnetScan('dev-1', 0, 190))
    expect(narrower[0]!.finding).toMatchObject({ severity: 'medium', evidence: expect.objectContaining({ distinctDestinations: 181 }) })
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
    // After 25 bursts of 30 the stick's level is about 22, so 60 stays under 4x it; the new TV has only the floor.
    expect(minutesOf(found, 'stick-1')).toEqual([])
    expect(minutesOf(found, 'tv-1')).toEqual([250])
    expect(minutesOf(found, 'hub-1')).toEqual([])
  })

  it('honours minDistinctIps, minDistinctPorts and factor overrides', () => {
    const scan = [...chatter('dev-1', 0, 10), ...telnetScan('dev-1', 10, 60)]
    expect(detectorFindings(fanout, scan, { minDistinctIps: 100 })).toEqual([])
    expect(detectorFindings(fanout, scan, { factor: 80 })).toEqual([]) // 80 x a level of 1
    const ports = sweep('dev-1', 0, 15, () => '203.0.113.50', (i) => 8000 + i)
    expect(detectorFindings(fanout, ports)).toEqual([])
    const found = detectorFindings(fanout, ports, { minDistinctPorts: 10 })
    expect(minutesOf(found)).toEqual([0])
    expect(found[0]!.finding.evidence).toMatchObject({ distinctPorts: 13, thresholdPorts: 10 }) // the sketch's estimate of 15
  })

  // Regression: the engine evaluates window w after it may have observed flows of w+1; the sketches keep
  // one map per window of the lookahead, so a scan followed by ordinary traffic is still measured.
  it('reports a scan window even when the device keeps talking afterwards', () => {
    const found = detectorFindings(fanout, [...chatter('dev-1', 0, 10), ...telnetScan('dev-1', 10, 60), ...chatter('dev-1', 11, 20)])
    expect(minutesOf(found)).toEqual([10])
  })

  // Regression: ports are hashed with a full mixer, so a sequential scan is estimated like any other
  // (an unmixed multiplicative hash overestimated 90 consecutive ports as 100).
  it('keeps a sequential scan of 90 ports at medium: high needs 100 distinct ports', () => {
    const found = detectorFindings(fanout, sweep('dev-1', 0, 90, () => '203.0.113.50', (i) => 1 + i))
    expect(found[0]!.finding.severity).toBe('medium')
  })
})

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i)
}
