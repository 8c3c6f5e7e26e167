// pmacct JSON records (Kafka or print plugin) → canonical egress events, with errors naming pmacct's fields.
import { SKIPPED, fail } from './result.ts'
import type { DecodeResult } from './result.ts'
import { protocolNumber } from './protocols.ts'
import { digits, digitsEnd, fractionMs, localClock, parseDateTime } from './zone.ts'
import type { LocalClock } from './zone.ts'
import { addIssue, canonicalWithSourceNames, placeFlow, toUint } from './fields.ts'

/*
 * A record as pmacct's kafka/print plugins write it (one JSON object per line), e.g.
 *   {"event_type":"purge","ip_src":"192.168.1.20","ip_dst":"203.0.113.5","port_src":51234,"port_dst":25,
 *    "ip_proto":"tcp","packets":6,"bytes":399,"stamp_inserted":"2026-11-24 23:37:00"}
 * Times are "YYYY-MM-DD HH:MM:SS[.ffffff]" (UTC unless an offset follows, as with timestamps_rfc3339)
 * or epoch seconds (timestamps_since_epoch). `tag` and `peer_ip_src` are tolerated and not used.
 */

/** The canonical field each pmacct field becomes, reversed: for renaming schema issues. */
const SOURCE_FIELD: Readonly<Record<string, string>> = {
  deviceId: 'ip_src',
  srcIp: 'ip_src',
  dstIp: 'ip_dst',
  dstPort: 'port_dst',
  proto: 'ip_proto',
  bytesOut: 'bytes',
  packetsOut: 'packets',
  durationMs: 'timestamp_end',
  label: 'label',
}

/** Event time candidates, best first: flow start, earliest start of stitched flows, time bin. */
const TIME_FIELDS = ['timestamp_start', 'timestamp_min', 'stamp_inserted'] as const

/** Markers the kafka plugin writes around each purge; they carry no flow. */
const MARKERS = new Set(['purge_init', 'purge_close'])

const PORT_ISSUE = 'port_dst: expected an integer 0-65535'
const PROTO_ISSUE = 'ip_proto: expected a protocol name (tcp, udp, icmp, …) or number 0-255'
const TIME_ISSUE = ': expected "YYYY-MM-DD HH:MM:SS[.ffffff]" (UTC, or input.timeZone) or epoch seconds'

const UTC = localClock('UTC')

/** Whether a parsed JSON object looks like a pmacct record (auto-detection). */
export const isPmacctRecord = (o: Readonly<Record<string, unknown>>): boolean =>
  o.event_type !== undefined || (o.ip_src !== undefined && o.ip_dst !== undefined && o.bytes !== undefined)

/** pmacct prints protocol names from /etc/protocols (IANA's keywords, lower case), or numbers. */
const protoNumber = (v: unknown): number => {
  if (typeof v === 'string') {
    const known = protocolNumber(v)
    if (known >= 0) return known
  }
  const n = toUint(v)
  return n <= 255 ? n : -1
}

/** Decimal epoch seconds `S[.fff…]` → epoch ms (truncated), or NaN. */
const secondsStringToMs = (s: string): number => {
  const n = s.indexOf('.')
  const whole = n < 0 ? s.length : n
  if (whole === 0 || whole > 12) return NaN
  const sec = digits(s, 0, whole)
  if (sec < 0) return NaN
  if (n < 0) return sec * 1000
  const end = digitsEnd(s, n + 1)
  return end === n + 1 || end !== s.length ? NaN : sec * 1000 + fractionMs(s, n + 1, end)
}

/** A pmacct time value → epoch ms; 0 when pmacct left it unset (zero), NaN when malformed. */
const timeMs = (v: unknown, clock: LocalClock): number => {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? Math.floor(Math.round(v * 1e6) / 1e3) : NaN
  if (typeof v !== 'string') return NaN
  if (v.length >= 19 && v.charCodeAt(4) === 45) return v.startsWith('0000-') ? 0 : parseDateTime(v, clock)
  return secondsStringToMs(v)
}


/** Canonical field names in a schema failure → the source's, after the adapter's own issues. */
const finish = (issues: string, value: Record<string, unknown>): DecodeResult => canonicalWithSourceNames(issues, value, SOURCE_FIELD)

/** Epoch ms of the first set (non-zero) time field: -1 when none is set, NaN when that field is malformed. */
const eventTime = (o: Readonly<Record<string, unknown>>, clock: LocalClock): number => {
  for (const f of TIME_FIELDS) {
    const v = o[f]
    if (v === undefined) continue
    const t = timeMs(v, clock)
    if (Number.isNaN(t) || t > 0) return t
  }
  return -1
}

/** The issue for a missing or malformed event time (failure path only). */
const timeIssue = (o: Readonly<Record<string, unknown>>): string => {
  for (const f of TIME_FIELDS) {
    if (o[f] !== undefined && Number.isNaN(timeMs(o[f], UTC))) return f + TIME_ISSUE
  }
  return 'stamp_inserted: missing (also looked for timestamp_start, timestamp_min)'
}

/**
 * Decodes one parsed pmacct record. `deviceId` is `ip_src` (the inventory maps ids to models);
 * purge markers are skipped (`marker`). Adapter rejections name pmacct's field, e.g. `port_dst: expected an integer 0-65535`.
 */
export const decodePmacctValue = (value: unknown, clock: LocalClock = UTC): DecodeResult => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('schema', '(root): expected a JSON object')
  const o = value as Readonly<Record<string, unknown>>
  if (typeof o.event_type === 'string' && MARKERS.has(o.event_type)) return SKIPPED.marker
  let issues = ''

  let ts = eventTime(o, clock)
  if (!(ts > 0)) {
    issues = addIssue(issues, timeIssue(o))
    ts = 0
  }
  // The flow's end: timestamp_end with timestamp_start, timestamp_max with stitching's timestamp_min
  // (each purge of a stitched flow reports the bytes since the last, up to timestamp_max).
  let durationMs: number | undefined
  const endField = o.timestamp_start !== undefined ? 'timestamp_end' : o.timestamp_min !== undefined ? 'timestamp_max' : undefined
  if (ts > 0 && endField !== undefined && o[endField] !== undefined) {
    const end = timeMs(o[endField], clock)
    if (Number.isNaN(end)) issues = addIssue(issues, `${endField}${TIME_ISSUE}`)
    else {
      if (end >= ts) durationMs = end - ts
      ts = placeFlow(ts, end)
    }
  }

  const src = o.ip_src
  const srcOk = typeof src === 'string' && src.length > 0
  if (!srcOk) issues = addIssue(issues, 'ip_src: expected an IPv4 or IPv6 address')

  let proto = protoNumber(o.ip_proto)
  if (proto < 0) {
    issues = addIssue(issues, PROTO_ISSUE)
    proto = 0
  }
  // ICMP has no ports; pmacct may leave port_dst out for it.
  let dstPort = o.port_dst === undefined && (proto === 1 || proto === 58) ? 0 : toUint(o.port_dst)
  if (dstPort < 0 || dstPort > 65535) {
    issues = addIssue(issues, PORT_ISSUE)
    dstPort = 0
  }

  return finish(issues, {
    type: 'egress', ts, deviceId: srcOk ? src : '-', srcIp: srcOk ? src : undefined, dstIp: o.ip_dst, dstPort, proto,
    bytesOut: o.bytes, packetsOut: o.packets, durationMs, label: typeof o.label === 'string' ? o.label : undefined,
  })
}
