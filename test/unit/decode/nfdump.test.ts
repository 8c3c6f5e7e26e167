// nfdump's JSON records (one a line, or its pretty-printed array): decoded as goflow2 decodes the same exporter's records.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createLineDecoder } from '../../../src/decode/formats.ts'
import { decodeNfdumpValue } from '../../../src/decode/nfdump.ts'
import { localClock } from '../../../src/decode/zone.ts'
import type { EgressEvent } from '../../../src/types.ts'

const COLLECTORS = fileURLToPath(new URL('../../../fixtures/collectors/', import.meta.url))

const events = (file: string, format: 'auto' | 'nfdump' = 'auto', timeZone?: string): EgressEvent[] => {
  const decoder = createLineDecoder(format, timeZone)
  return readFileSync(`${COLLECTORS}${file}`, 'utf8').trimEnd().split('\n').map((line) => {
    const r = decoder.decode(line)
    if (r.ok !== true || r.event.type !== 'egress') throw new Error(`${file}: ${JSON.stringify(r)}`)
    return r.event
  })
}

const flow = (e: EgressEvent): string => [e.srcIp, e.dstIp, e.dstPort, e.proto, e.bytesOut, e.packetsOut].join(' ')
const byFlow = (list: EgressEvent[]): EgressEvent[] => [...list].sort((a, b) => (flow(a) < flow(b) ? -1 : flow(a) > flow(b) ? 1 : a.ts - b.ts))

describe('nfdump JSON records, one a line', () => {
  // One softflowd IPFIX export of test7 (-v 10 -a -A milli), collected by nfcapd and by goflow2.
  const nfdump = byFlow(events('nfdump/test7-softflowd-ipfix-a-milli.ndjson'))
  const goflow2 = byFlow(events('goflow2/test7-softflowd-ipfix-a-milli.json'))

  it('gives the flows goflow2 gives for the same exporter: addresses, port, protocol, bytes and packets of all 349', () => {
    expect(nfdump).toHaveLength(349)
    expect(nfdump.map(flow)).toEqual(goflow2.map(flow))
  })

  it('gives the same times (each flow placed at its end) and durations within a millisecond (nfdump prints milliseconds, goflow2 nanoseconds)', () => {
    expect(Math.max(...nfdump.map((e, i) => Math.abs(e.ts - goflow2[i]!.ts)))).toBeLessThanOrEqual(1)
    expect(Math.max(...nfdump.map((e, i) => Math.abs((e.durationMs ?? 0) - (goflow2[i]!.durationMs ?? 0))))).toBeLessThanOrEqual(1)
  })

  it('reads its local times in input.timeZone', () => {
    const prague = events('nfdump/test7-softflowd-ipfix-a-milli.ndjson', 'nfdump', 'Europe/Prague')
    const utc = events('nfdump/test7-softflowd-ipfix-a-milli.ndjson', 'nfdump')
    expect(prague.map((e, i) => utc[i]!.ts - e.ts)).toEqual(utc.map(() => 3_600_000))
  })

  it('decodes the repro line (IPv6, ICMPv6 without ports) and names nfdump\'s fields in errors', () => {
    const line = readFileSync(`${COLLECTORS}repro/04-nfdump-json-record.json`, 'utf8')
    const r = decodeNfdumpValue(JSON.parse(line), localClock('UTC'))
    // Placed at `last`, first + 9979 ms.
    expect(r.ok === true && r.event).toMatchObject({ ts: Date.UTC(2018, 2, 9, 20, 49, 25, 796), srcIp: '::', dstIp: 'ff02::1:ff8e:c3d1', dstPort: 0, proto: 58, bytesOut: 144, packetsOut: 2, durationMs: 9979 })
    const bad = decodeNfdumpValue({ ...JSON.parse(line), first: '09/03/2018', dst6_addr: 'nowhere', proto: 300 }, localClock('UTC'))
    // (Without a protocol it knows, the missing port of the ICMP record is an issue too.)
    expect(bad).toEqual({
      ok: false, reason: 'schema',
      error: 'first: expected "YYYY-MM-DDTHH:MM:SS[.fff]" (nfdump\'s local time: input.timeZone); proto: expected a protocol number 0-255; ' +
        'dst_port: expected an integer 0-65535; dst6_addr: expected an IPv4 or IPv6 address',
    })
  })
})

describe('nfdump -o json as nfdump writes it: one pretty-printed array', () => {
  /** Each line's outcome through the file decoder. */
  const outcomes = (file: string, format: 'auto' | 'nfdump') => {
    const decoder = createLineDecoder(format)
    return readFileSync(`${COLLECTORS}${file}`, 'utf8').trimEnd().split('\n').map((line) => decoder.decode(line))
  }

  it.each(['auto', 'nfdump'] as const)('gives, read as %s, the events of the same records one a line, each at its last line', (format) => {
    const lines = outcomes('nfdump/test7-softflowd-ipfix-a-milli.json', format)
    expect(lines.filter((r) => r.ok === true).map((r) => r.ok === true && r.event)).toEqual(events('nfdump/test7-softflowd-ipfix-a-milli.ndjson'))
    const skipped = lines.filter((r) => r.ok === null).map((r) => (r.ok === null ? r.reason : ''))
    expect(new Set(skipped)).toEqual(new Set(['marker', 'continuation']))
    expect(lines.filter((r) => r.ok === false)).toEqual([])
  })

  it('reads the repro array (one record, a comma after it) as the record the repro line holds', () => {
    const [open, ...rest] = outcomes('repro/05-nfdump-json-pretty.json', 'auto')
    expect(open).toEqual({ ok: null, reason: 'marker' })
    const decoded = rest.filter((r) => r.ok === true)
    expect(decoded).toHaveLength(1)
    expect(decoded[0]).toEqual(createLineDecoder('auto').decode(readFileSync(`${COLLECTORS}repro/04-nfdump-json-record.json`, 'utf8')))
  })
})

describe('nfdump TCP flags', () => {
  it('mark a TCP record without SYN as the continuation of a connection, in JSON and CSV', () => {
    const tcp = { type: 'FLOW', first: '2018-03-09T20:57:44.781', last: '2018-03-09T20:57:59.810', in_packets: 3, in_bytes: 180, proto: 6, src_port: 40006, dst_port: 23, src4_addr: '192.168.2.16', dst4_addr: '67.189.205.92' }
    const continued = (flags: string | undefined, proto = 6) => {
      const r = decodeNfdumpValue({ ...tcp, proto, tcp_flags: flags }, localClock('UTC'))
      return r.ok === true && r.event.type === 'egress' ? r.event.continued : r
    }
    expect([continued('...AP...'), continued('...AP.SF'), continued('......S.'), continued('........'), continued(undefined), continued('...AP...', 17)])
      .toEqual([true, false, false, false, false, false])
    const decoder = createLineDecoder('nfdump')
    decoder.decode('ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt')
    const r = decoder.decode('2018-03-09 20:59:57,2018-03-09 21:00:57,60.000,192.168.2.16,105.4.165.167,36247,23,TCP,...AP...,0,0,40,6000,0,0')
    expect(r.ok === true && r.event.type === 'egress' && r.event.continued).toBe(true)
  })
})

describe('nfdump biflows', () => {
  // Repro 09's record (softflowd -b, a telnet probe's target answering) as nfdump writes a biflow: out_* are the responder's.
  const answered = {
    type: 'FLOW', first: '2018-03-09T20:57:44.781', last: '2018-03-09T20:57:59.810', in_packets: 0, in_bytes: 0, out_packets: 2, out_bytes: 120,
    proto: 6, src_port: 23, dst_port: 40006, src4_addr: '67.189.205.92', dst4_addr: '192.168.2.16',
  }

  it('takes a record whose initiator sent nothing as its responder\'s flow to it: the device is the destination', () => {
    const r = decodeNfdumpValue(answered, localClock('UTC'))
    expect(r.ok === true && r.event).toMatchObject({ deviceId: '192.168.2.16', dstIp: '67.189.205.92', dstPort: 23, bytesOut: 120, packetsOut: 2, bytesIn: 0 })
  })

  it('keeps both directions of an ordinary biflow: in_* out, out_* in', () => {
    const r = decodeNfdumpValue({ ...answered, in_packets: 3, in_bytes: 180 }, localClock('UTC'))
    expect(r.ok === true && r.event).toMatchObject({ deviceId: '67.189.205.92', dstIp: '192.168.2.16', dstPort: 40006, bytesOut: 180, packetsOut: 3, bytesIn: 120 })
  })
})

describe('nfdump -o csv', () => {
  /** Each row's outcome: events, and the header and summary lines skipped. */
  const rows = (file: string) => {
    const decoder = createLineDecoder('auto')
    return readFileSync(`${COLLECTORS}${file}`, 'utf8').trimEnd().split('\n').map((line) => decoder.decode(line))
  }

  it('is read by its header\'s columns: the same 349 flows as its JSON, at the second its CSV writes, header and summary skipped', () => {
    const results = rows('nfdump/test7-softflowd-ipfix-a-milli.csv')
    expect(results.filter((r) => r.ok !== true).map((r) => r.ok === null && r.reason)).toEqual(['header', 'marker', 'marker', 'marker'])
    const csv = byFlow(results.flatMap((r) => (r.ok === true && r.event.type === 'egress' ? [r.event] : [])))
    const json = byFlow(events('nfdump/test7-softflowd-ipfix-a-milli.ndjson'))
    expect(csv.map(flow)).toEqual(json.map(flow))
    expect(csv.map((e, i) => Math.floor(json[i]!.ts / 1000) * 1000 - e.ts).filter((d) => d !== 0)).toEqual([])
  })

  it('names the nfdump field of a bad cell, and refuses a row before its header', () => {
    const decoder = createLineDecoder('nfdump')
    const header = 'ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt'
    expect(decoder.decode(header)).toEqual({ ok: null, reason: 'header' })
    expect(decoder.decode('2018-03-09 20:59:57,2018-03-09 20:59:57,0.000,192.168.2.16,105.4.165.167,36247,telnet,TCP,......S.,0,0,1,60,0,0'))
      .toMatchObject({ ok: false, reason: 'schema', error: expect.stringContaining('dst_port') })
    expect(createLineDecoder('nfdump').decode('2018-03-09 20:59:57,2018-03-09 20:59:57,0.000,192.168.2.16')).toMatchObject({ ok: false, reason: 'invalid_json' })
  })
})
