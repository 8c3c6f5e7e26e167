// Specification of the line decoder: format names, auto-detection per record, Zeek TSV files, invalid lines, and that it never throws.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createLineDecoder, INPUT_FORMATS, splitObjects } from '../../../src/decode/formats.ts'
import type { DecodeResult } from '../../../src/decode/result.ts'
import { CONN_LOG_HEADER } from '../../helpers/zeek.ts'

const canonicalLine = JSON.stringify({
  type: 'egress', ts: 1795563420000, deviceId: 'cam-17', srcIp: '192.168.1.17', dstIp: '198.51.100.10', dstPort: 443, proto: 'tcp',
  bytesOut: 5120,
})
const pmacctLine =
  '{"event_type":"purge","ip_src":"192.168.1.20","ip_dst":"203.0.113.5","port_src":51234,"port_dst":25,"ip_proto":"tcp","packets":6,"bytes":399,"stamp_inserted":"2026-11-24 23:37:00"}'
const goflow2Line =
  '{"type":"IPFIX","time_received_ns":1764027421000000000,"sampling_rate":100,"sampler_address":"192.0.2.1","time_flow_start_ns":"1764027420123456789","time_flow_end_ns":"1764027420623456789","bytes":1500,"packets":3,"src_addr":"192.168.1.21","dst_addr":"203.0.113.9","etype":"IPv4","proto":"UDP","src_port":40000,"dst_port":123}'
const zeekLine =
  '{"ts":1795563420.123456,"uid":"CHhAvVGS1DHFjwGM9","id.orig_h":"192.168.1.22","id.orig_p":51234,"id.resp_h":"203.0.113.7","id.resp_p":8883,"proto":"tcp","duration":2.5,"orig_bytes":900,"resp_bytes":300,"conn_state":"SF","orig_pkts":9,"orig_ip_bytes":1270,"resp_pkts":7,"resp_ip_bytes":664}'

const ZEEK_TSV = [
  ...CONN_LOG_HEADER,
  '1795563420.123456\tCHhAvVGS1DHFjwGM9\t192.168.1.20\t51234\t203.0.113.5\t25\ttcp\tsmtp\t0.520311\t120\t310\tSF\tT\tF\t0\tShAdDafF\t6\t399\t5\t578\t(empty)',
  '',
  '1795563422.5\tCUM0KZ3MLUfNB0cl11\t192.168.1.20\t40001\t198.51.100.7\t23\ttcp\t-\t-\t-\t-\tS0\tT\tF\t0\tS\t1\t44\t0\t0\t(empty)',
  '#close\t2026-11-25-00-00-00',
]

/** A result in one line: `deviceId ts proto dstIp:dstPort bytesOut`, `reason: error`, or `skip: reason`. */
const summary = (r: DecodeResult): string => {
  if (r.ok === null) return `skip: ${r.reason}`
  if (!r.ok) return `${r.reason}: ${r.error}`
  const e = r.event
  return e.type === 'egress' ? `${e.deviceId} ${e.ts} ${e.proto} ${e.dstIp}:${e.dstPort} ${e.bytesOut}` : `${e.deviceId} ${e.ts} telemetry`
}

const decodeAll = (format: (typeof INPUT_FORMATS)[number], lines: readonly string[]) => {
  const decoder = createLineDecoder(format)
  return lines.map((l) => summary(decoder.decode(l)))
}

describe('input formats', () => {
  it('are auto, canonical, pmacct, goflow2, zeek and nfdump', () => {
    expect(INPUT_FORMATS).toEqual(['auto', 'canonical', 'pmacct', 'goflow2', 'zeek', 'nfdump'])
  })
})

// Collectors' records are placed at their flow's end (goflow2 time_flow_end_ns, Zeek ts + duration), canonical ones at ts.
describe('auto line decoder', () => {
  it('detects the format of each record of a mixed file', () => {
    expect(decodeAll('auto', [canonicalLine, pmacctLine, goflow2Line, zeekLine])).toEqual([
      'cam-17 1795563420000 6 198.51.100.10:443 5120',
      '192.168.1.20 1795563420000 6 203.0.113.5:25 399',
      '192.168.1.21 1764027420623 17 203.0.113.9:123 1500',
      '192.168.1.22 1795563422623 6 203.0.113.7:8883 1270',
    ])
  })

  it('decodes canonical telemetry', () => {
    const line = JSON.stringify({ type: 'telemetry', ts: '2026-11-24T23:37:00Z', deviceId: 'cam-17', metrics: { smtp_queue: 12 } })
    expect(decodeAll('auto', [line])).toEqual(['cam-17 1795563420000 telemetry'])
  })

  it('switches to Zeek TSV at the header block: headers and blank lines are skipped, rows give events', () => {
    const header = 'skip: header'
    expect(decodeAll('auto', ZEEK_TSV)).toEqual([
      header, header, header, header, header, header, header, header,
      '192.168.1.20 1795563420643 6 203.0.113.5:25 399',
      'skip: blank',
      '192.168.1.20 1795563422500 6 198.51.100.7:23 44',
      header,
    ])
  })

  it('starts every file afresh: Zeek columns learnt from one file do not apply to the next', () => {
    const first = createLineDecoder('auto')
    first.decode(ZEEK_TSV[6]!)
    expect(summary(first.decode(ZEEK_TSV[8]!))).toBe('192.168.1.20 1795563420643 6 203.0.113.5:25 399')
    expect(summary(createLineDecoder('auto').decode(ZEEK_TSV[8]!))).toBe('unknown_format: zeek TSV row before a #fields header')
  })

  it('reports a non-JSON line that is not tab-separated as invalid JSON', () => {
    expect(decodeAll('auto', ['2026-11-24 23:37:00,192.168.1.20,203.0.113.5,25'])).toEqual([
      'invalid_json: line is not valid JSON: unexpected non-whitespace character after JSON at position 4',
    ])
  })

  it('skips blank and whitespace-only lines (reason blank)', () => {
    expect(decodeAll('auto', ['', '   ', '\t', '\r', ' \t \r '])).toEqual(Array(5).fill('skip: blank'))
  })

  it('skips a byte-order mark at the start of a file', () => {
    expect(decodeAll('auto', [`\uFEFF${pmacctLine}`])).toEqual(['192.168.1.20 1795563420000 6 203.0.113.5:25 399'])
  })

  it('reports invalid JSON without quoting the line', () => {
    expect(decodeAll('auto', ['{"ip_src":', '{"ip_src":"192.168', 'secret-token-abc', '{"a":1}}', '{ip_src: 1}'])).toEqual([
      'invalid_json: line is not valid JSON: unexpected end of JSON input',
      'invalid_json: line is not valid JSON: unterminated string at position 18',
      'invalid_json: line is not valid JSON: unexpected token',
      'invalid_json: line is not valid JSON: unexpected non-whitespace character after JSON at position 7',
      "invalid_json: line is not valid JSON: expected property name or '}' at position 1",
    ])
  })

  it('reports a record of no known format, naming what it looked for', () => {
    expect(decodeAll('auto', ['{"src":"192.168.1.20","dst":"203.0.113.5"}'])).toEqual([
      'unknown_format: record matches no input format: looked for deviceId or type (canonical), event_type or ip_src+ip_dst+bytes (pmacct), time_flow_start_ns or src_addr+dst_addr (goflow2), id.orig_h (zeek), type FLOW with src4_addr or src6_addr (nfdump)',
    ])
  })

  it('sends a record with an unknown type to the canonical schema, and JSON that is not an object to a schema error', () => {
    expect(decodeAll('auto', ['{"type":"flow","ts":0}', '[1,2]', '42'])).toEqual([
      'schema: type: expected "egress", "telemetry" or "dns"',
      'schema: (root): expected a JSON object',
      'schema: (root): expected a JSON object',
    ])
  })

  it('names the bad field of a detected record', () => {
    expect(decodeAll('auto', [pmacctLine.replace('"port_dst":25', '"port_dst":70000'), canonicalLine.replace('"dstPort":443', '"dstPort":-1')])).toEqual([
      'schema: port_dst: expected an integer 0-65535',
      'schema: dstPort: Too small: expected number to be >=0',
    ])
  })
})

describe('splitObjects', () => {
  it('splits objects written back to back, braces inside strings and nested values included', () => {
    expect(splitObjects('{"a":1}{"b":"}{"}')).toEqual(['{"a":1}', '{"b":"}{"}'])
    expect(splitObjects('{"a":{"b":[1,{"c":2}]}} {"d":"\\"}"}')).toEqual(['{"a":{"b":[1,{"c":2}]}}', '{"d":"\\"}"}'])
  })

  it('leaves every other line alone: one object, an unclosed one, a value that is no object, text', () => {
    expect([splitObjects('{"a":1}'), splitObjects('{"a":1}{"b":'), splitObjects('{"a":1}[1]'), splitObjects('{"a":1} x'), splitObjects('{"a":"}{')]).toEqual([null, null, null, null, null])
  })
})

describe('explicit format line decoders', () => {
  it('decode their own records', () => {
    expect(decodeAll('canonical', [canonicalLine])).toEqual(['cam-17 1795563420000 6 198.51.100.10:443 5120'])
    expect(decodeAll('pmacct', [pmacctLine])).toEqual(['192.168.1.20 1795563420000 6 203.0.113.5:25 399'])
    expect(decodeAll('goflow2', [goflow2Line])).toEqual(['192.168.1.21 1764027420623 17 203.0.113.9:123 1500'])
    expect(decodeAll('zeek', [zeekLine, ...ZEEK_TSV]).filter((s) => !s.startsWith('skip: '))).toEqual([
      '192.168.1.22 1795563422623 6 203.0.113.7:8883 1270',
      '192.168.1.20 1795563420643 6 203.0.113.5:25 399',
      '192.168.1.20 1795563422500 6 198.51.100.7:23 44',
    ])
  })

  it('give schema errors naming their own fields for a record of another format', () => {
    expect(decodeAll('pmacct', [goflow2Line])).toEqual([
      'schema: stamp_inserted: missing (also looked for timestamp_start, timestamp_min); ip_src: expected an IPv4 or IPv6 address; ' +
        'ip_proto: expected a protocol name (tcp, udp, icmp, …) or number 0-255; port_dst: expected an integer 0-65535; ' +
        'ip_dst: expected an IPv4 or IPv6 address',
    ])
    expect(decodeAll('canonical', [pmacctLine])).toEqual([
      'schema: ts: expected epoch milliseconds or an ISO-8601 date-time; deviceId: Invalid input: expected string, received undefined; ' +
        'dstIp: expected an IPv4 or IPv6 address; dstPort: Invalid input: expected number, received undefined; ' +
        'proto: expected "tcp", "udp", "icmp" or an IANA protocol number 0-255; bytesOut: Invalid input: expected number, received undefined',
    ])
  })

  it('zeek fails a TSV row before any #fields header with unknown_format', () => {
    expect(decodeAll('zeek', [ZEEK_TSV[8]!])).toEqual(['unknown_format: zeek TSV row before a #fields header'])
  })
})

describe('line decoder robustness', () => {
  /** Lines that look like the formats above, plus arbitrary text. */
  const line = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.json(),
    fc.constantFrom(canonicalLine, pmacctLine, goflow2Line, zeekLine, ...ZEEK_TSV),
    fc.array(fc.oneof(fc.string(), fc.constantFrom('-', '(empty)', '1795563420.5', '192.168.1.20', 'tcp', '25')), { maxLength: 24 }).map((cols) => cols.join('\t')),
    fc.dictionary(
      fc.constantFrom('ts', 'deviceId', 'type', 'event_type', 'ip_src', 'ip_dst', 'bytes', 'stamp_inserted', 'time_flow_start_ns', 'src_addr', 'dst_addr', 'proto', 'id.orig_h', 'id.resp_p'),
      fc.jsonValue(),
    ).map((o) => JSON.stringify(o)),
  )

  it.each(INPUT_FORMATS)('%s never throws and returns an event, a failure or a skip', (format) => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 20 }), (lines) => {
        const decoder = createLineDecoder(format)
        for (const l of lines) {
          const r = decoder.decode(l)
          if (r.ok === null ? !['blank', 'header', 'marker'].includes(r.reason) : typeof r.ok !== 'boolean') return false
        }
        return true
      }),
      { numRuns: 300 },
    )
  })
})
