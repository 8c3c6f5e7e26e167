// The lines of fixtures/collectors/repro/ (one per decoding gap seen in real collector output) decode as the tool meant them.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createLineDecoder, splitObjects } from '../../../src/decode/formats.ts'

const REPRO = fileURLToPath(new URL('../../../fixtures/collectors/repro/', import.meta.url))

/** Each line of a repro file through the auto decoder: the event's protocol and addresses, or the outcome. */
const decoded = (file: string) => {
  const decoder = createLineDecoder('auto')
  return readFileSync(`${REPRO}${file}`, 'utf8').trimEnd().split('\n').map((line) => {
    const r = decoder.decode(line)
    return r.ok === true && r.event.type === 'egress' ? { proto: r.event.proto, srcIp: r.event.srcIp, dstIp: r.event.dstIp, bytesOut: r.event.bytesOut } : r
  })
}

/** Each line's event time (ISO) and bytes out. */
const times = (file: string) => {
  const decoder = createLineDecoder('auto')
  return readFileSync(`${REPRO}${file}`, 'utf8').trimEnd().split('\n').map((line) => {
    const r = decoder.decode(line)
    return r.ok === true && r.event.type === 'egress' ? [new Date(r.event.ts).toISOString(), r.event.bytesOut] as const : [String(r.ok), 0] as const
  })
}

describe('real collector lines', () => {
  it('01: goflow2 2.2 writes ICMPv6 as IANA\'s keyword IPv6-ICMP: protocol 58', () => {
    expect(decoded('01-goflow2-proto-ipv6-icmp.json')).toEqual([{ proto: 58, srcIp: 'fe80::d2:4591:568e:c3d1', dstIp: 'ff02::16', bytesOut: 424 }])
  })

  it('02: goflow2 writes IGMP by its keyword: protocol 2', () => {
    expect(decoded('02-goflow2-proto-igmp.json')).toEqual([{ proto: 2, srcIp: '192.168.2.16', dstIp: '224.0.0.251', bytesOut: 32 }])
  })

  it('03: goflow2\'s two records on one line (two workers, one file) are split and decoded one by one', () => {
    const line = readFileSync(`${REPRO}03-goflow2-concatenated-line.json`, 'utf8').trimEnd()
    const decoder = createLineDecoder('auto')
    expect(decoder.decode(line)).toMatchObject({ ok: false, reason: 'invalid_json' })
    const parts = splitObjects(line)!
    expect(parts.map((p) => {
      const r = decoder.decode(p)
      return r.ok === true && r.event.type === 'egress' ? `${r.event.srcIp} > ${r.event.dstIp}:${r.event.dstPort}` : r
    })).toEqual(['192.168.2.16 > 160.139.9.155:8789', '192.168.2.16 > 219.42.179.134:12545'])
  })

  it('06: pmacct\'s timestamp_max years after timestamp_min (a replayed capture\'s wall clock) is no end: the flow is placed at its start', () => {
    expect(times('06-pmacct-localtime.json')).toEqual([['2018-03-09T21:49:48.154Z', 51]])
  })

  it('07: a stitched flow re-reported at each purge is placed at each report\'s timestamp_max, its bytes counted once: 55.5 MB, the upload and its headers', () => {
    const reports = times('07-pmacct-stitching-rereport.json')
    expect(reports.map(([t]) => t)).toEqual(['2026-12-05T23:57:00.000Z', '2026-12-05T23:58:00.000Z', '2026-12-05T23:59:00.000Z', '2026-12-05T23:59:19.000Z'])
    // live/live2-traffic-timeline.txt: 55,443,456 bytes of payload sent over 170 s.
    expect(reports.reduce((sum, [, bytes]) => sum + bytes, 0)).toBe(55_531_708)
  })

  it('08: a long flow reported at its active timeout, after a short one that began 100 s later, is placed at its end: in the order they came', () => {
    expect(times('08-goflow2-long-flow-late.json')).toEqual([['2026-12-06T00:01:57.251Z', 164], ['2026-12-06T00:02:18.624Z', 39_810_824]])
  })

  it('10: Zeek\'s unknown_transport is protocol 255', () => {
    expect(decoded('10-zeek-unknown-transport.CONSTRUCTED.json')).toEqual([{ proto: 255, srcIp: '192.168.1.5', dstIp: '203.0.113.9', bytesOut: 120 }])
  })
})
