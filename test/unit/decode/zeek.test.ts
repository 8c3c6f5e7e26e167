// Specification of the Zeek conn.log adapter: JSON records, the TSV reader and its headers, and errors naming Zeek's fields.
import { describe, expect, it } from 'vitest'
import { createZeekTsvReader, decodeZeekValue, isZeekRecord } from '../../../src/decode/zeek.ts'
import type { EgressEvent } from '../../../src/types.ts'
import { CONN_LOG_HEADER } from '../../helpers/zeek.ts'

/** An egress event with every optional field unset unless given. */
const flow = (fields: Pick<EgressEvent, 'ts' | 'deviceId' | 'dstIp' | 'dstPort' | 'proto' | 'bytesOut'> & Partial<EgressEvent>): EgressEvent => ({
  type: 'egress', srcIp: undefined, bytesIn: undefined, packetsOut: undefined, durationMs: undefined, continued: false, dstHost: undefined,
  model: undefined, firmware: undefined, label: undefined, ...fields,
})

/** One SMTP connection as Zeek 6 logs it with LogAscii::use_json=T. */
const smtp = {
  ts: 1795563420.123456, uid: 'CHhAvVGS1DHFjwGM9', 'id.orig_h': '192.168.1.20', 'id.orig_p': 51234, 'id.resp_h': '203.0.113.5',
  'id.resp_p': 25, proto: 'tcp', service: 'smtp', duration: 0.520311, orig_bytes: 120, resp_bytes: 310, conn_state: 'SF',
  local_orig: true, local_resp: false, missed_bytes: 0, history: 'ShAdDafF', orig_pkts: 6, orig_ip_bytes: 399, resp_pkts: 5,
  resp_ip_bytes: 578,
}
/** The event of that connection: 2026-11-24T23:37:00.123Z. */
/** Placed at the connection's end, when Zeek writes it: ts + duration. */
const smtpEvent = flow({
  ts: 1795563420643, deviceId: '192.168.1.20', srcIp: '192.168.1.20', dstIp: '203.0.113.5', dstPort: 25, proto: 6,
  bytesOut: 399, bytesIn: 578, packetsOut: 6, durationMs: 520,
})

/** A conn.log as Zeek 6 writes it: header block, an SMTP connection, an ICMP echo, a rejected telnet attempt, trailer. */
const CONN_LOG = [
  ...CONN_LOG_HEADER,
  '1795563420.123456\tCHhAvVGS1DHFjwGM9\t192.168.1.20\t51234\t203.0.113.5\t25\ttcp\tsmtp\t0.520311\t120\t310\tSF\tT\tF\t0\tShAdDafF\t6\t399\t5\t578\t(empty)',
  '1795563421.000100\tC4J4Th3PJpwUYZZ6gc\t192.168.1.20\t8\t198.51.100.1\t0\ticmp\t-\t0.001021\t56\t56\tOTH\tT\tF\t0\t-\t1\t84\t1\t84\t(empty)',
  '1795563422.5\tCUM0KZ3MLUfNB0cl11\t192.168.1.20\t40001\t198.51.100.7\t23\ttcp\t-\t-\t-\t-\tS0\tT\tF\t0\tS\t1\t44\t0\t0\t(empty)',
  '#close\t2026-11-25-00-00-00',
]

const errorOf = (fields: Record<string, unknown>) => {
  const r = decodeZeekValue({ ...smtp, ...fields })
  return r.ok === false ? `${r.reason} | ${r.error}` : 'decoded'
}

describe('zeek conn.log adapter, JSON', () => {
  it('maps a connection from id.orig_h, with orig_ip_bytes out, resp_ip_bytes in and duration in ms', () => {
    expect(decodeZeekValue(smtp)).toStrictEqual({ ok: true, event: smtpEvent })
  })

  it('floors ts and duration to whole milliseconds, and places the connection at their sum', () => {
    const r = decodeZeekValue({ ...smtp, ts: 1795563420.9999, duration: 0.0019 })
    expect(r?.ok && r.event.type === 'egress' && [r.event.ts, r.event.durationMs]).toEqual([1795563421000, 1])
    const open = decodeZeekValue({ ...smtp, ts: 1795563420.9999, duration: undefined })
    expect(open?.ok && open.event.ts).toBe(1795563420999)
  })

  it('reads ts as ISO-8601 (JSON::TS_ISO8601), floored to ms', () => {
    const r = decodeZeekValue({ ...smtp, ts: '2026-11-24T23:37:00.123956Z' })
    expect(r?.ok && r.event.ts).toBe(1795563420123 + 520)
  })

  it('falls back to orig_bytes and resp_bytes (payload) without the IP-level counts', () => {
    const { orig_ip_bytes: _o, resp_ip_bytes: _r, ...payloadOnly } = smtp
    const r = decodeZeekValue(payloadOnly)
    expect(r?.ok && r.event.type === 'egress' && [r.event.bytesOut, r.event.bytesIn]).toEqual([120, 310])
  })

  it('leaves duration unset when Zeek did (S0 connections)', () => {
    const { duration: _, ...s0 } = smtp
    const r = decodeZeekValue(s0)
    expect(r?.ok && r.event.type === 'egress' && r.event.durationMs).toBeUndefined()
  })

  it('keeps id.resp_p of ICMP (the ICMP code) and uses 0 when it is missing', () => {
    const port = (fields: Record<string, unknown>) => {
      const r = decodeZeekValue({ ...smtp, proto: 'icmp', ...fields })
      return r?.ok && r.event.type === 'egress' ? [r.event.proto, r.event.dstPort] : r
    }
    expect(port({ 'id.resp_p': 3 })).toEqual([1, 3])
    expect(port({ 'id.resp_p': undefined })).toEqual([1, 0])
  })

  it('names the Zeek field it rejects, and renames canonical issues to Zeek fields', () => {
    expect(errorOf({ proto: 'gre' })).toBe('schema | proto: expected "tcp", "udp", "icmp" or "unknown_transport"')
    expect(errorOf({ 'id.resp_p': 65536 })).toBe('schema | id.resp_p: expected an integer 0-65535')
    expect(errorOf({ ts: '2026-11-24 23:37:00' })).toBe('schema | ts: expected epoch seconds or an ISO-8601 date-time with a zone')
    expect(errorOf({ ts: undefined })).toBe('schema | ts: missing')
    expect(errorOf({ duration: -1 })).toBe('schema | duration: expected non-negative seconds')
    expect(errorOf({ 'id.resp_h': '203.0.113.256', orig_pkts: 'six' })).toBe(
      'schema | id.resp_h: expected an IPv4 or IPv6 address; orig_pkts: Invalid input: expected number, received string',
    )
    expect(errorOf({ orig_ip_bytes: undefined, orig_bytes: -5 })).toBe('schema | orig_bytes: Too small: expected number to be >=0')
  })

  it('takes unknown_transport (an IP protocol Zeek does not analyse) as protocol 255, port 0', () => {
    // The line of ../shared/data/collectors/repro/10-zeek-unknown-transport.CONSTRUCTED.json.
    const r = decodeZeekValue({ ts: 1641918754.93611, uid: 'Cx', 'id.orig_h': '192.168.1.5', 'id.orig_p': 0, 'id.resp_h': '203.0.113.9', 'id.resp_p': 0, proto: 'unknown_transport', orig_ip_bytes: 120, orig_pkts: 2 })
    expect(r).toEqual({ ok: true, event: flow({ ts: 1641918754936, deviceId: '192.168.1.5', srcIp: '192.168.1.5', dstIp: '203.0.113.9', dstPort: 0, proto: 255, bytesOut: 120, packetsOut: 2 }) })
  })

  it('skips a connection Zeek says an outsider began (local_orig F, in JSON and TSV) as outside: not a device\'s egress', () => {
    expect(decodeZeekValue({ ...smtp, local_orig: false })).toEqual({ ok: null, reason: 'outside' })
    expect(decodeZeekValue({ ...smtp, local_orig: 'F' })).toEqual({ ok: null, reason: 'outside' })
    expect(decodeZeekValue({ ...smtp, local_orig: true })).toEqual({ ok: true, event: smtpEvent })
  })

  it('is recognised by id.orig_h', () => {
    expect(isZeekRecord(smtp)).toBe(true)
    expect(isZeekRecord({ ts: 1 })).toBe(false)
  })
})

describe('zeek conn.log adapter, TSV', () => {
  it('reads the header block (every header is a header skip) and decodes rows by the #fields columns', () => {
    const reader = createZeekTsvReader()
    const results = CONN_LOG.map((line) => (line.startsWith('#') ? reader.header(line) : reader.record(line)))
    const header = { ok: null, reason: 'header' }
    expect(results).toStrictEqual([
      header, header, header, header, header, header, header, header,
      { ok: true, event: smtpEvent },
      {
        ok: true,
        event: flow({
          ts: 1795563421001, deviceId: '192.168.1.20', srcIp: '192.168.1.20', dstIp: '198.51.100.1', dstPort: 0, proto: 1,
          bytesOut: 84, bytesIn: 84, packetsOut: 1, durationMs: 1,
        }),
      },
      {
        ok: true,
        event: flow({
          ts: 1795563422500, deviceId: '192.168.1.20', srcIp: '192.168.1.20', dstIp: '198.51.100.7', dstPort: 23, proto: 6,
          bytesOut: 44, bytesIn: 0, packetsOut: 1,
        }),
      },
      header,
    ])
  })

  it('is not ready, and fails rows with unknown_format, before a #fields header', () => {
    const reader = createZeekTsvReader()
    expect(reader.ready).toBe(false)
    expect(reader.record(CONN_LOG[8]!)).toStrictEqual({ ok: false, reason: 'unknown_format', error: 'zeek TSV row before a #fields header' })
    reader.header(CONN_LOG[6]!)
    expect(reader.ready).toBe(true)
  })

  it('finds columns by name in any order, with the unset marker the header declares', () => {
    const reader = createZeekTsvReader()
    reader.header('#unset_field\tNONE')
    reader.header('#fields\tproto\tid.resp_h\tid.resp_p\tid.orig_h\tts\torig_ip_bytes\tduration')
    expect(reader.record('udp\t198.51.100.53\t53\t192.168.1.20\t1795563420\t76\tNONE')).toStrictEqual({
      ok: true,
      event: flow({ ts: 1795563420000, deviceId: '192.168.1.20', srcIp: '192.168.1.20', dstIp: '198.51.100.53', dstPort: 53, proto: 17, bytesOut: 76 }),
    })
  })

  it('rejects rows whose field count differs from #fields, and logs it cannot read', () => {
    const reader = createZeekTsvReader()
    reader.header(CONN_LOG[6]!)
    expect(reader.record('1795563420.123456\tCHhAvVGS1DHFjwGM9\t192.168.1.20')).toStrictEqual({
      ok: false, reason: 'schema', error: '(root): expected 21 separated fields as in #fields, got 3',
    })
    reader.header('#fields\tts\tuid\tquery\tqtype_name')
    expect(reader.record('1795563420.1\tCx\texample.com\tA')).toStrictEqual({
      ok: false, reason: 'unknown_format', error: 'zeek #fields has no id.orig_h, id.resp_h, proto or server_name or trans_depth column: not a conn.log, dns.log, ssl.log or http.log',
    })
    // files.log: addresses, but none of the logs this adapter reads.
    reader.header('#fields\tts\tfuid\tid.orig_h\tid.resp_h\tmime_type')
    expect(reader.record('1795563420.1\tFx\t192.168.1.20\t203.0.113.5\ttext/plain')).toStrictEqual({
      ok: false, reason: 'unknown_format', error: 'zeek #fields has no proto or server_name or trans_depth column: not a conn.log, dns.log, ssl.log or http.log',
    })
  })

  it('names the Zeek column of a bad value', () => {
    const reader = createZeekTsvReader()
    reader.header(CONN_LOG[6]!)
    const bad = CONN_LOG[8]!.replace('\t399\t', '\tmany\t')
    expect(reader.record(bad)).toStrictEqual({
      ok: false, reason: 'schema', error: 'orig_ip_bytes: Invalid input: expected number, received string',
    })
  })
})

describe('zeek dns.log', () => {
  const lookup = {
    ts: 1615471020.5, uid: 'CdNs1', 'id.orig_h': '192.168.1.122', 'id.orig_p': 51234, 'id.resp_h': '192.168.1.1', 'id.resp_p': 53, proto: 'udp',
    query: 'A1B2C3-ats.iot.us-west-2.amazonaws.com', qtype_name: 'A', rcode_name: 'NOERROR',
    answers: ['a1b2c3-ats.iot.us-west-2.amazonaws.com.cdn.example', '52.89.250.177', '52.89.251.201'], TTLs: [300.0, 60.0, 45.0],
  }

  it('gives the addresses the device was answered, named by its query, for the shortest of their TTLs', () => {
    expect(decodeZeekValue(lookup)).toEqual({
      ok: true,
      event: {
        type: 'dns', ts: 1615471020500, deviceId: '192.168.1.122', srcIp: '192.168.1.122', query: 'a1b2c3-ats.iot.us-west-2.amazonaws.com',
        answers: ['52.89.250.177', '52.89.251.201'], ttlSeconds: 45, model: undefined, firmware: undefined, label: undefined,
      },
    })
  })

  it('skips a query that got no address (NXDOMAIN, no answer)', () => {
    expect(decodeZeekValue({ ...lookup, answers: undefined, TTLs: undefined, rcode_name: 'NXDOMAIN' })).toEqual({ ok: null, reason: 'blank' })
  })

  it('reads its TSV form: vectors as comma-separated cells', () => {
    const reader = createZeekTsvReader()
    reader.header('#separator \\x09')
    reader.header('#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\tanswers\tTTLs')
    const r = reader.record('1615471020.500000\tCdNs1\t192.168.1.122\t51234\t192.168.1.1\t53\tudp\texample.com\t93.184.216.34,2606:2800:220:1::1\t60.000000,120.000000')
    expect(r.ok === true && r.event).toMatchObject({ type: 'dns', query: 'example.com', answers: ['93.184.216.34', '2606:2800:220:1::1'], ttlSeconds: 60 })
  })
})

describe('zeek ssl.log and http.log', () => {
  // Field names and order as Zeek 6 writes them (ssl.log: version, cipher, curve, server_name, resumed, last_alert, next_protocol, established, …).
  const hello = {
    ts: 1615471021.25, uid: 'CsSl1', 'id.orig_h': '192.168.1.122', 'id.orig_p': 50312, 'id.resp_h': '52.89.250.177', 'id.resp_p': 8883,
    version: 'TLSv12', cipher: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', curve: 'secp256r1', server_name: 'A1B2C3-ats.iot.us-west-2.amazonaws.com',
    resumed: false, established: true, ssl_history: 'CsxknGIi',
  }
  const request = {
    ts: 1615471022.75, uid: 'CHtt1', 'id.orig_h': '192.168.1.122', 'id.orig_p': 50313, 'id.resp_h': '203.0.113.80', 'id.resp_p': 8080,
    trans_depth: 1, method: 'GET', host: 'fw.vendor.example:8080', uri: '/v2/firmware?model=x1', version: '1.1', user_agent: 'curl/7.68.0',
    request_body_len: 0, response_body_len: 5120, status_code: 200, status_msg: 'OK',
  }

  it('names the address a TLS connection went to by its SNI, as a DNS answer for a day (its conn.log row comes when it ends)', () => {
    expect(decodeZeekValue(hello)).toEqual({
      ok: true,
      event: {
        type: 'dns', ts: 1615471021250, deviceId: '192.168.1.122', srcIp: '192.168.1.122', query: 'a1b2c3-ats.iot.us-west-2.amazonaws.com',
        answers: ['52.89.250.177'], ttlSeconds: 86_400, model: undefined, firmware: undefined, label: undefined,
      },
    })
  })

  it('names the address of an HTTP request by its Host, without the port; an address for a Host names nothing', () => {
    const r = decodeZeekValue(request)
    expect(r.ok === true && r.event).toMatchObject({ type: 'dns', ts: 1615471022750, deviceId: '192.168.1.122', query: 'fw.vendor.example', answers: ['203.0.113.80'] })
    for (const host of ['203.0.113.80', '203.0.113.80:8080', '[2001:db8::1]:443', '2001:db8::1', 'a:1:2', ':80']) expect(decodeZeekValue({ ...request, host }), host).toEqual({ ok: null, reason: 'blank' })
  })

  it('reads a conn.log record that a log shipper gave a `host` field (its own name) as the flow it is', () => {
    const shipped = { ts: 1615471022.75, 'id.orig_h': '192.168.1.122', 'id.resp_h': '203.0.113.80', 'id.resp_p': 443, proto: 'tcp', orig_ip_bytes: 500, host: 'collector-01' }
    expect(decodeZeekValue(shipped)).toMatchObject({ ok: true, event: { type: 'egress', dstIp: '203.0.113.80', bytesOut: 500 } })
  })

  it('skips a TLS connection without SNI and an HTTP request without Host, and names a bad field by Zeek\'s name', () => {
    const { server_name: _sni, ...noSni } = hello
    expect(decodeZeekValue(noSni)).toEqual({ ok: null, reason: 'blank' })
    const { host: _host, ...noHost } = request
    expect(decodeZeekValue(noHost)).toEqual({ ok: null, reason: 'blank' })
    expect(decodeZeekValue({ ...hello, server_name: 'x'.repeat(300) })).toMatchObject({ ok: false, reason: 'schema', error: expect.stringMatching(/^server_name: /) as unknown })
    expect(decodeZeekValue({ ...hello, ts: 'yesterday' })).toMatchObject({ ok: false, error: expect.stringMatching(/^ts: /) as unknown })
  })

  it('reads their TSV forms, which have no proto column', () => {
    const ssl = createZeekTsvReader()
    ssl.header('#separator \\x09')
    ssl.header('#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tversion\tcipher\tcurve\tserver_name\tresumed\tlast_alert\tnext_protocol\testablished')
    const r = ssl.record('1615471021.250000\tCsSl1\t192.168.1.122\t50312\t52.89.250.177\t8883\tTLSv12\tTLS_AES_128_GCM_SHA256\tx25519\tiot.vendor.example\tF\t-\t-\tT')
    expect(r.ok === true && r.event).toMatchObject({ type: 'dns', query: 'iot.vendor.example', answers: ['52.89.250.177'] })
    expect(ssl.record('1615471021.250000\tCsSl2\t192.168.1.122\t50314\t52.89.250.177\t443\t-\t-\t-\t-\tF\t-\t-\tF')).toEqual({ ok: null, reason: 'blank' })
    const http = createZeekTsvReader()
    http.header('#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\ttrans_depth\tmethod\thost\turi')
    const h = http.record('1615471022.750000\tCHtt1\t192.168.1.122\t50313\t203.0.113.80\t80\t1\tGET\tfw.vendor.example\t/v2/firmware')
    expect(h.ok === true && h.event).toMatchObject({ type: 'dns', query: 'fw.vendor.example', answers: ['203.0.113.80'] })
  })
})
