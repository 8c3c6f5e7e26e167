// goflow2 JSON flow records (v2 snake_case, v1 CamelCase) → canonical egress events, with errors naming goflow2's fields.
import { fail } from './result.ts'
import type { DecodeResult } from './result.ts'
import { protocolNumber } from './protocols.ts'
import { addIssue, canonicalWithSourceNames, placeFlow, toUint } from './fields.ts'

/*
 * goflow2 v2 writes e.g.
 *   {"type":"IPFIX","time_received_ns":1764027421000000000,"sampling_rate":100,"sampler_address":"192.0.2.1",
 *    "time_flow_start_ns":"1764027420123456789","time_flow_end_ns":1764027420623456789,"bytes":1500,"packets":3,
 *    "src_addr":"192.168.1.20","dst_addr":"203.0.113.5","etype":"IPv4","proto":"TCP","src_port":51234,"dst_port":443}
 * Nanosecond times exceed 2^53, so decimal strings are cut to milliseconds as text; JSON numbers are already
 * rounded by JSON.parse (to 256 ns), which floor(ns / 1e6) tolerates. v1 (and cloudflare/goflow) wrote
 * `TimeFlowStart` in seconds, `TimeFlowStartMs`, `SrcAddr`, `Proto` as a number. `bytes` and `packets` are
 * the exporter's raw counts: they are NOT multiplied by `sampling_rate`.
 */

type TimeUnit = 'ns' | 'ms' | 's'

interface TimeField {
  readonly name: string
  readonly unit: TimeUnit
}

interface Dialect {
  readonly src: string
  readonly dst: string
  readonly proto: string
  readonly dstPort: string
  readonly bytes: string
  readonly packets: string
  /** Event time candidates, best first; a zero means "not set" (sFlow has no flow start). */
  readonly start: readonly TimeField[]
  readonly end: readonly TimeField[]
  /** Canonical field → the goflow2 field it came from, for renaming schema issues. */
  readonly sourceField: Readonly<Record<string, string>>
}

const dialect = (
  names: { src: string; dst: string; proto: string; dstPort: string; bytes: string; packets: string },
  start: readonly TimeField[],
  end: readonly TimeField[],
): Dialect => ({
  ...names,
  start,
  end,
  sourceField: {
    deviceId: names.src, srcIp: names.src, dstIp: names.dst, dstPort: names.dstPort, proto: names.proto,
    bytesOut: names.bytes, packetsOut: names.packets, durationMs: end[0]?.name ?? 'end',
  },
})

const V2 = dialect(
  { src: 'src_addr', dst: 'dst_addr', proto: 'proto', dstPort: 'dst_port', bytes: 'bytes', packets: 'packets' },
  [{ name: 'time_flow_start_ns', unit: 'ns' }, { name: 'time_received_ns', unit: 'ns' }],
  [{ name: 'time_flow_end_ns', unit: 'ns' }],
)

const V1 = dialect(
  { src: 'SrcAddr', dst: 'DstAddr', proto: 'Proto', dstPort: 'DstPort', bytes: 'Bytes', packets: 'Packets' },
  [{ name: 'TimeFlowStartMs', unit: 'ms' }, { name: 'TimeFlowStart', unit: 's' }, { name: 'TimeReceived', unit: 's' }],
  [{ name: 'TimeFlowEndMs', unit: 'ms' }, { name: 'TimeFlowEnd', unit: 's' }],
)

/**
 * A biflow record (IPFIX, softflowd -b) of which goflow2 kept the forward counters only, and they
 * are zero: every packet went from the record's destination to its source. The destination is the
 * sender (the device), the source its peer and the source port the peer's port; the sender's bytes
 * are not in the record (bytes out 0).
 */
const reversed = (d: Dialect, srcPort: string): Dialect => dialect(
  { src: d.dst, dst: d.src, proto: d.proto, dstPort: srcPort, bytes: d.bytes, packets: d.packets }, d.start, d.end,
)
const V2_REVERSED = reversed(V2, 'src_port')
const V1_REVERSED = reversed(V1, 'SrcPort')

/** Whether a parsed JSON object looks like a goflow2 record (auto-detection). */
export const isGoflow2Record = (o: Readonly<Record<string, unknown>>): boolean =>
  o.time_flow_start_ns !== undefined ||
  (o.src_addr !== undefined && o.dst_addr !== undefined) ||
  (o.SrcAddr !== undefined && o.DstAddr !== undefined)

/** TCP's SYN flag. */
const SYN = 0x02

/** A decimal string of nanoseconds → epoch ms, by dropping the last six digits; NaN if not decimal. */
const nsStringToMs = (s: string): number => {
  if (s.length === 0 || s.length > 24) return NaN
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 48 || c > 57) return NaN
  }
  return s.length <= 6 ? 0 : Number(s.slice(0, s.length - 6))
}

/** A time in `unit` → epoch ms (floored); 0 when unset, NaN when malformed. */
const timeMs = (v: unknown, unit: TimeUnit): number => {
  if (typeof v === 'string') {
    if (unit === 'ns') return nsStringToMs(v)
    const n = toUint(v)
    return n < 0 ? NaN : unit === 'ms' ? n : n * 1000
  }
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return NaN
  return unit === 'ns' ? Math.floor(v / 1e6) : unit === 'ms' ? Math.floor(v) : Math.floor(Math.round(v * 1e6) / 1e3)
}


/** Canonical field names in a schema failure → the source's, after the adapter's own issues. */
const finish = (issues: string, value: Record<string, unknown>, d: Dialect): DecodeResult => canonicalWithSourceNames(issues, value, d.sourceField)

/** Epoch ms of the first set (non-zero) field of `fields`: -1 when none is set, NaN when that field is malformed. */
const firstTime = (o: Readonly<Record<string, unknown>>, fields: readonly TimeField[]): number => {
  for (const f of fields) {
    const v = o[f.name]
    if (v === undefined) continue
    const t = timeMs(v, f.unit)
    if (Number.isNaN(t) || t > 0) return t
  }
  return -1
}

/** The issue for a missing or malformed event time (failure path only). */
const timeIssue = (o: Readonly<Record<string, unknown>>, fields: readonly TimeField[]): string => {
  for (const f of fields) {
    if (Number.isNaN(timeMs(o[f.name], f.unit)) && o[f.name] !== undefined) {
      return `${f.name}: expected epoch ${f.unit === 'ns' ? 'nanoseconds' : f.unit === 'ms' ? 'milliseconds' : 'seconds'}`
    }
  }
  return `${fields[0]?.name ?? 'time'}: missing (also looked for ${fields.slice(1).map((f) => f.name).join(', ')})`
}

/**
 * Decodes one parsed goflow2 record. `deviceId` is the source address; flows without a flow start
 * (sFlow) take the time goflow2 received them. Adapter rejections name goflow2's field.
 */
export const decodeGoflow2Value = (value: unknown): DecodeResult => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('schema', '(root): expected a JSON object')
  const o = value as Readonly<Record<string, unknown>>
  const v1 = o.src_addr === undefined && o.SrcAddr !== undefined
  const forward = v1 ? V1 : V2
  const d = o[forward.packets] === 0 && o[forward.bytes] === 0 ? (v1 ? V1_REVERSED : V2_REVERSED) : forward
  let issues = ''

  let ts = firstTime(o, d.start)
  if (!(ts > 0)) {
    issues = addIssue(issues, timeIssue(o, d.start))
    ts = 0
  }

  let durationMs: number | undefined
  if (ts > 0) {
    const end = firstTime(o, d.end)
    if (end >= ts) durationMs = end - ts
    ts = placeFlow(ts, end)
  }

  const src = o[d.src]
  const srcOk = typeof src === 'string' && src.length > 0
  if (!srcOk) issues = addIssue(issues, `${d.src}: expected an IPv4 or IPv6 address`)

  const p = o[d.proto]
  // goflow2 2.2 writes the IANA keyword (`IPv6-ICMP`, `IGMP`, `GRE`); older versions `ICMPv6`; a number otherwise.
  let proto = typeof p === 'string' ? protocolNumber(p) : -1
  if (proto < 0) proto = toUint(p)
  if (proto < 0 || proto > 255) {
    issues = addIssue(issues, `${d.proto}: expected an IANA protocol keyword (TCP, UDP, IPv6-ICMP, GRE, …) or number 0-255`)
    proto = 0
  }

  // ICMP has no ports; exporters may leave the destination port out for it.
  const port = o[d.dstPort]
  let dstPort = port === undefined && (proto === 1 || proto === 58) ? 0 : toUint(port)
  if (dstPort < 0 || dstPort > 65535) {
    issues = addIssue(issues, `${d.dstPort}: expected an integer 0-65535`)
    dstPort = 0
  }

  // A TCP record with flags but no SYN continues a connection reported before (an active timeout).
  const flags = v1 ? o.TCPFlags : o.tcp_flags
  const continued = proto === 6 && typeof flags === 'number' && flags !== 0 && (flags & SYN) === 0

  return finish(issues, {
    type: 'egress', ts, deviceId: srcOk ? src : '-', srcIp: srcOk ? src : undefined, dstIp: o[d.dst], dstPort, proto,
    bytesOut: o[d.bytes], packetsOut: o[d.packets], durationMs, continued,
  }, d)
}
