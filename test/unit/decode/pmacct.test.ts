// Specification of the pmacct adapter: which pmacct fields become which canonical fields, and how bad records are named.
import { describe, expect, it } from 'vitest'
import { decodePmacctValue, isPmacctRecord } from '../../../src/decode/pmacct.ts'
import type { EgressEvent } from '../../../src/types.ts'

/** An egress event with every optional field unset unless given. */
const flow = (fields: Pick<EgressEvent, 'ts' | 'deviceId' | 'dstIp' | 'dstPort' | 'proto' | 'bytesOut'> & Partial<EgressEvent>): EgressEvent => ({
  type: 'egress', srcIp: undefined, bytesIn: undefined, packetsOut: undefined, durationMs: undefined, continued: false, dstHost: undefined,
  model: undefined, firmware: undefined, label: undefined, ...fields,
})

/** A purge record of pmacct's kafka plugin (aggregate: src_host, dst_host, src_port, dst_port, proto). */
const purge = {
  event_type: 'purge', ip_src: '192.168.1.20', ip_dst: '203.0.113.5', port_src: 51234, port_dst: 25,
  ip_proto: 'tcp', packets: 6, bytes: 399, stamp_inserted: '2026-11-24 23:37:00',
}
/** 2026-11-24T23:37:00Z */
const T = Date.UTC(2026, 10, 24, 23, 37)

const decode = (fields: Record<string, unknown>) => decodePmacctValue({ ...purge, ...fields })
const errorOf = (fields: Record<string, unknown>) => {
  const r = decode(fields)
  return r.ok === false ? `${r.reason} | ${r.error}` : 'decoded'
}

describe('pmacct adapter', () => {
  it('maps a purge record to an egress event from ip_src, with stamp_inserted read as UTC', () => {
    expect(decodePmacctValue(purge)).toStrictEqual({
      ok: true,
      event: flow({
        ts: 1795563420000, deviceId: '192.168.1.20', srcIp: '192.168.1.20', dstIp: '203.0.113.5', dstPort: 25,
        proto: 6, bytesOut: 399, packetsOut: 6,
      }),
    })
    expect(T).toBe(1795563420000)
  })

  it('prefers timestamp_start (microseconds floored to ms), takes the duration from timestamp_end and places the flow there', () => {
    const r = decode({ timestamp_start: '2026-11-24 23:36:58.250731', timestamp_end: '2026-11-24 23:36:59.5' })
    expect(r?.ok && [r.event.ts, r.event.type === 'egress' && r.event.durationMs]).toEqual([T - 500, 1250])
  })

  it('falls back to timestamp_min (nfacctd stitching), then stamp_inserted; zero times count as unset', () => {
    const ts = (fields: Record<string, unknown>) => {
      const r = decode(fields)
      return r?.ok ? r.event.ts : r
    }
    expect(ts({ timestamp_min: '2026-11-24 23:36:30.000000' })).toBe(T - 30_000)
    expect(ts({ timestamp_start: '0000-00-00 00:00:00' })).toBe(T)
    expect(ts({ timestamp_start: 0, timestamp_min: '0' })).toBe(T)
  })

  it('reads epoch seconds (timestamps_since_epoch) as numbers or strings, and RFC 3339 with an offset', () => {
    const ts = (stamp: unknown) => {
      const r = decode({ stamp_inserted: stamp })
      return r?.ok ? r.event.ts : r
    }
    expect(ts(1795563420)).toBe(T)
    expect(ts('1795563420')).toBe(T)
    expect(ts('1795563420.999999')).toBe(T + 999)
    expect(ts(1795563420.0029)).toBe(T + 2)
    expect(ts('2026-11-25T00:37:00+01:00')).toBe(T)
    expect(ts('2026-11-24T23:37:00.125Z')).toBe(T + 125)
  })

  it('takes ip_proto as a name or an IANA number', () => {
    const proto = (ip_proto: unknown) => {
      const r = decode({ ip_proto })
      return r?.ok && r.event.type === 'egress' ? r.event.proto : r
    }
    expect([proto('tcp'), proto('udp'), proto('TCP'), proto(17), proto('17'), proto('gre'), proto('ipv6-icmp')]).toEqual([6, 17, 6, 17, 17, 47, 58])
  })

  it('gives ICMP flows without port_dst destination port 0', () => {
    const { port_dst: _, ...icmp } = purge
    const r = decodePmacctValue({ ...icmp, ip_proto: 'icmp' })
    expect(r?.ok && r.event.type === 'egress' && [r.event.proto, r.event.dstPort]).toEqual([1, 0])
  })

  it('keeps a label, and ignores tag and peer_ip_src', () => {
    const r = decode({ label: 'benign', tag: 7, peer_ip_src: '192.0.2.1' })
    expect(r?.ok && r.event.label).toBe('benign')
  })

  it('skips the purge_init and purge_close markers (reason marker)', () => {
    expect(decodePmacctValue({ event_type: 'purge_init', seq: 1, timestamp: '2026-11-24 23:37:00', writer_pid: 4242 })).toEqual({ ok: null, reason: 'marker' })
    expect(decodePmacctValue({ event_type: 'purge_close', seq: 1, purged_entries: 120 })).toEqual({ ok: null, reason: 'marker' })
  })

  it('names the pmacct field it rejects', () => {
    expect(errorOf({ port_dst: 70000 })).toBe('schema | port_dst: expected an integer 0-65535')
    expect(errorOf({ ip_proto: 'carrier-pigeon' })).toBe('schema | ip_proto: expected a protocol name (tcp, udp, icmp, …) or number 0-255')
    expect(errorOf({ ip_proto: 'constructor' })).toBe('schema | ip_proto: expected a protocol name (tcp, udp, icmp, …) or number 0-255')
    expect(errorOf({ stamp_inserted: '2026-02-30 12:00:00' })).toBe(
      'schema | stamp_inserted: expected "YYYY-MM-DD HH:MM:SS[.ffffff]" (UTC, or input.timeZone) or epoch seconds',
    )
    expect(errorOf({ stamp_inserted: undefined })).toBe('schema | stamp_inserted: missing (also looked for timestamp_start, timestamp_min)')
    expect(errorOf({ ip_src: undefined })).toBe('schema | ip_src: expected an IPv4 or IPv6 address')
  })

  it('renames the canonical schema issues to pmacct fields and lists every issue', () => {
    expect(errorOf({ ip_dst: 'mail.example.com', bytes: -1 })).toBe(
      'schema | ip_dst: expected an IPv4 or IPv6 address; bytes: Too small: expected number to be >=0',
    )
    expect(errorOf({ ip_src: 'router-7', port_dst: '25/tcp' })).toBe(
      'schema | port_dst: expected an integer 0-65535; ip_src: expected an IPv4 or IPv6 address',
    )
  })

  it('rejects a value that is not an object', () => {
    expect(decodePmacctValue([purge])).toStrictEqual({ ok: false, reason: 'schema', error: '(root): expected a JSON object' })
  })

  it('is recognised by event_type, or by ip_src, ip_dst and bytes together', () => {
    expect(isPmacctRecord({ event_type: 'purge' })).toBe(true)
    expect(isPmacctRecord({ ip_src: '192.168.1.20', ip_dst: '203.0.113.5', bytes: 1 })).toBe(true)
    expect(isPmacctRecord({ ip_src: '192.168.1.20', ip_dst: '203.0.113.5' })).toBe(false)
  })
})
