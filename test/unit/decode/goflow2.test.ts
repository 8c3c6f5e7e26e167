// Specification of the goflow2 adapter: nanosecond times, protocol names, raw (unsampled) counts, v1 field names, biflow records, errors.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { decodeGoflow2Value, isGoflow2Record } from '../../../src/decode/goflow2.ts'
import type { EgressEvent } from '../../../src/types.ts'

/** An egress event with every optional field unset unless given. */
const flow = (fields: Pick<EgressEvent, 'ts' | 'deviceId' | 'dstIp' | 'dstPort' | 'proto' | 'bytesOut'> & Partial<EgressEvent>): EgressEvent => ({
  type: 'egress', srcIp: undefined, bytesIn: undefined, packetsOut: undefined, durationMs: undefined, continued: false, dstHost: undefined,
  model: undefined, firmware: undefined, label: undefined, ...fields,
})

/** goflow2 v2 JSON of one IPFIX flow, sampled 1:100. */
const ipfix = {
  type: 'IPFIX', time_received_ns: 1764027421000000000, sequence_num: 8812, sampling_rate: 100, sampler_address: '192.0.2.1',
  time_flow_start_ns: '1764027420123456789', time_flow_end_ns: '1764027420623999999', bytes: 1500, packets: 3,
  src_addr: '192.168.1.20', dst_addr: '203.0.113.5', etype: 'IPv4', proto: 'TCP', src_port: 51234, dst_port: 443,
  in_if: 3, out_if: 1, tcp_flags: 27,
}
/** 2025-11-24T23:37:00.123Z: time_flow_start_ns cut to milliseconds. */
const T = 1764027420123

/** goflow2 v1 JSON (CamelCase) of an IPFIX flow without flow times. */
const v1 = {
  Type: 'IPFIX', TimeReceived: 1703760968, SequenceNum: 3924, SamplingRate: 10, SamplerAddress: '1.0.0.6', TimeFlowStart: 0,
  TimeFlowEnd: 0, TimeFlowStartMs: 0, TimeFlowEndMs: 0, Bytes: 94, Packets: 1, SrcAddr: '10.0.36.1', DstAddr: '198.51.100.53',
  Etype: 2048, Proto: 17, SrcPort: 37892, DstPort: 53,
}

const decode = (fields: Record<string, unknown>) => decodeGoflow2Value({ ...ipfix, ...fields })
/** The event time of a record without an end time: its start's. */
const tsOf = (fields: Record<string, unknown>) => {
  const r = decode({ time_flow_end_ns: undefined, ...fields })
  return r?.ok ? r.event.ts : r
}
const errorOf = (record: Record<string, unknown>) => {
  const r = decodeGoflow2Value(record)
  return r.ok === false ? `${r.reason} | ${r.error}` : 'decoded'
}

describe('goflow2 adapter', () => {
  it('maps a v2 record from src_addr, with bytes and packets as exported (not scaled by sampling_rate), placed at its end', () => {
    expect(decodeGoflow2Value(ipfix)).toStrictEqual({
      ok: true,
      event: flow({
        ts: T + 500, deviceId: '192.168.1.20', srcIp: '192.168.1.20', dstIp: '203.0.113.5', dstPort: 443, proto: 6,
        bytesOut: 1500, packetsOut: 3, durationMs: 500,
      }),
    })
  })

  it('cuts nanosecond strings to milliseconds exactly and floors nanosecond numbers', () => {
    expect(tsOf({ time_flow_start_ns: '1764027420999999999' })).toBe(1764027420999)
    // As goflow2 writes uint64 fields: a JSON number beyond 2^53, which JSON.parse rounds to 1764027420123456768.
    expect(tsOf(JSON.parse('{"time_flow_start_ns":1764027420123456789}') as Record<string, unknown>)).toBe(T)
    expect(tsOf({ time_flow_start_ns: '999999' })).toBe(1764027421000) // under 1 ms: unset, received time used
  })

  it('places a flow at its end, or at its start when the end is missing, before the start or more than a week after it', () => {
    const end = (ns: string | undefined) => {
      const r = decodeGoflow2Value({ ...ipfix, time_flow_start_ns: '1764027420000000000', time_flow_end_ns: ns })
      return r.ok && r.event.type === 'egress' ? [r.event.ts - 1764027420000, r.event.durationMs] : r
    }
    expect(end('1764027480000000000')).toEqual([60_000, 60_000])
    expect(end(undefined)).toEqual([0, undefined])
    expect(end('1764027419000000000')).toEqual([0, undefined])
    expect(end('1764632220000000000')).toEqual([604_800_000, 604_800_000]) // a week: softflowd's longest flow
    expect(end('1764632220001000000')).toEqual([0, 604_800_001])
  })

  it('uses time_received_ns when the flow start is missing or zero (sFlow)', () => {
    expect(tsOf({ time_flow_start_ns: 0 })).toBe(1764027421000)
    expect(tsOf({ time_flow_start_ns: undefined, time_received_ns: '1764027421500000000' })).toBe(1764027421500)
  })

  it('takes proto as goflow2 names (any case) or numbers', () => {
    const proto = (p: unknown) => {
      const r = decode({ proto: p })
      return r?.ok && r.event.type === 'egress' ? r.event.proto : r
    }
    expect([proto('TCP'), proto('UDP'), proto('ICMPv6'), proto('SCTP'), proto('tcp'), proto(47), proto('6')]).toEqual([6, 17, 58, 132, 6, 47, 6])
  })

  it('marks a TCP record with flags but no SYN as the continuation of a connection (an active timeout\'s report)', () => {
    const continued = (fields: Record<string, unknown>) => {
      const r = decode(fields)
      return r.ok === true && r.event.type === 'egress' ? r.event.continued : r
    }
    expect([continued({ tcp_flags: 0x18 }), continued({ tcp_flags: 0x1a }), continued({ tcp_flags: 0 }), continued({}), continued({ proto: 'UDP', tcp_flags: 0x18 })])
      .toEqual([true, false, false, false, false])
    const r = decodeGoflow2Value({ ...v1, Proto: 6, TCPFlags: 0x10 })
    expect(r.ok === true && r.event.type === 'egress' && r.event.continued).toBe(true)
  })

  it('gives ICMP flows without dst_port destination port 0', () => {
    const { dst_port: _, ...icmp } = ipfix
    const r = decodeGoflow2Value({ ...icmp, proto: 'ICMP' })
    expect(r?.ok && r.event.type === 'egress' && [r.event.proto, r.event.dstPort]).toEqual([1, 0])
  })

  it('reads the v1 CamelCase record, falling back from TimeFlowStartMs and TimeFlowStart to TimeReceived seconds', () => {
    expect(decodeGoflow2Value(v1)).toStrictEqual({
      ok: true,
      event: flow({
        ts: 1703760968000, deviceId: '10.0.36.1', srcIp: '10.0.36.1', dstIp: '198.51.100.53', dstPort: 53, proto: 17,
        bytesOut: 94, packetsOut: 1,
      }),
    })
    const started = decodeGoflow2Value({ ...v1, TimeFlowStart: 1703760960, TimeFlowEnd: 1703760962 })
    expect(started?.ok && started.event.type === 'egress' && [started.event.ts, started.event.durationMs]).toEqual([1703760962000, 2000])
    const startedMs = decodeGoflow2Value({ ...v1, TimeFlowStartMs: 1703760960250 })
    expect(startedMs?.ok && startedMs.event.ts).toBe(1703760960250)
  })

  it('names the goflow2 field it rejects', () => {
    expect(errorOf({ ...ipfix, dst_port: 'https' })).toBe('schema | dst_port: expected an integer 0-65535')
    expect(errorOf({ ...ipfix, proto: '' })).toBe('schema | proto: expected an IANA protocol keyword (TCP, UDP, IPv6-ICMP, GRE, …) or number 0-255')
    expect(errorOf({ ...ipfix, proto: 'toString' })).toBe('schema | proto: expected an IANA protocol keyword (TCP, UDP, IPv6-ICMP, GRE, …) or number 0-255')
    expect(errorOf({ ...ipfix, time_flow_start_ns: '1.76e18' })).toBe('schema | time_flow_start_ns: expected epoch nanoseconds')
    expect(errorOf({ ...ipfix, time_flow_start_ns: undefined, time_received_ns: undefined })).toBe(
      'schema | time_flow_start_ns: missing (also looked for time_received_ns)',
    )
    expect(errorOf({ ...ipfix, dst_addr: '203.0.113' })).toBe('schema | dst_addr: expected an IPv4 or IPv6 address')
    expect(errorOf({ ...v1, DstPort: -1, Bytes: 1.5 })).toBe('schema | DstPort: expected an integer 0-65535; Bytes: Invalid input: expected int, received number')
  })

  it('is recognised by time_flow_start_ns, or by both addresses in either naming', () => {
    expect(isGoflow2Record({ time_flow_start_ns: 1 })).toBe(true)
    expect(isGoflow2Record({ src_addr: '192.0.2.1', dst_addr: '192.0.2.2' })).toBe(true)
    expect(isGoflow2Record({ SrcAddr: '192.0.2.1', DstAddr: '192.0.2.2' })).toBe(true)
    expect(isGoflow2Record({ src_addr: '192.0.2.1' })).toBe(false)
  })
})

describe('goflow2 biflow records (IPFIX, softflowd -b)', () => {
  const COLLECTORS = fileURLToPath(new URL('../../../fixtures/collectors/', import.meta.url))
  const flows = (file: string): EgressEvent[] =>
    readFileSync(`${COLLECTORS}${file}`, 'utf8').trimEnd().split('\n').flatMap((line) => {
      const r = decodeGoflow2Value(JSON.parse(line))
      return r.ok === true && r.event.type === 'egress' ? [r.event] : []
    })

  it('takes a record with no forward packets as its destination\'s flow to its source (the repro line: the telnet scanner\'s probe)', () => {
    const [probe] = flows('repro/09-goflow2-biflow-reverse-only.json')
    expect(probe).toMatchObject({ deviceId: '192.168.2.16', srcIp: '192.168.2.16', dstIp: '67.189.205.92', dstPort: 23, proto: 6, bytesOut: 0, packetsOut: 0 })
  })

  it('gives the telnet scanner of test7 its probes from the biflow export as from the uniflow one (its bytes are not in the records)', () => {
    const probes = (file: string) => new Set(flows(file).filter((e) => e.srcIp === '192.168.2.16').map((e) => `${e.dstIp}:${e.dstPort}`))
    const uniflow = probes('goflow2/test7-softflowd-ipfix-a-milli.json')
    const biflow = probes('goflow2/test7-softflowd-ipfix-a-milli-biflow.json')
    expect([uniflow.size, biflow.size]).toEqual([283, 272])
    expect([...biflow].filter((p) => !uniflow.has(p))).toEqual([])
  })
})
