// Zeek logs (JSON lines, or TSV with `#` headers read per file) → canonical events: conn.log flows, and the names dns.log, ssl.log (SNI) and http.log (Host) give addresses; errors name Zeek's fields.
import { isIP } from 'node:net'
import { PROTO_NUMBERS } from '../types.ts'
import { SKIPPED, fail } from './result.ts'
import type { DecodeResult } from './result.ts'
import { addIssue, canonicalWithSourceNames, placeFlow, toUint } from './fields.ts'

/*
 * JSON (LogAscii::use_json): {"ts":1764027420.123456,"uid":"C1…","id.orig_h":"192.168.1.20","id.orig_p":51234,
 *   "id.resp_h":"203.0.113.5","id.resp_p":25,"proto":"tcp","duration":0.52,"orig_bytes":120,"orig_pkts":6,
 *   "orig_ip_bytes":399,…}; `ts` may also be ISO-8601 (JSON::TS_ISO8601). Unset fields are left out.
 * TSV: `#separator \x09`, `#set_separator`, `#empty_field (empty)`, `#unset_field -`, `#path conn`, `#open`,
 *   `#fields ts uid id.orig_h …`, `#types …`, data rows, `#close`. Columns are found by name from `#fields`.
 */

/** Canonical field → the Zeek field it came from, for renaming schema issues. */
const SOURCE_FIELD: Readonly<Record<string, string>> = {
  deviceId: 'id.orig_h',
  srcIp: 'id.orig_h',
  dstIp: 'id.resp_h',
  dstPort: 'id.resp_p',
  proto: 'proto',
  bytesOut: 'orig_ip_bytes',
  bytesIn: 'resp_ip_bytes',
  packetsOut: 'orig_pkts',
  durationMs: 'duration',
}
/** Same, for records that only have payload bytes (`orig_bytes`). */
const SOURCE_FIELD_PAYLOAD: Readonly<Record<string, string>> = { ...SOURCE_FIELD, bytesOut: 'orig_bytes', bytesIn: 'resp_bytes' }

/** The TSV columns this adapter reads; the numeric ones are converted to numbers, as in Zeek's JSON. */
const COLUMNS: ReadonlyMap<string, boolean> = new Map([
  ['ts', true], ['id.orig_h', false], ['id.resp_h', false], ['id.resp_p', true], ['proto', false], ['duration', true],
  ['orig_bytes', true], ['orig_ip_bytes', true], ['orig_pkts', true], ['resp_bytes', true], ['resp_ip_bytes', true],
  ['local_orig', false],
  // dns.log
  ['query', false], ['answers', false], ['TTLs', false],
  // ssl.log and http.log
  ['server_name', false], ['established', false], ['host', false], ['trans_depth', true], ['method', false],
])

/** Zeek's `unknown_transport`: an IP protocol it does not analyse (GRE, ESP, …), taken as IANA's reserved 255, port 0. */
const UNKNOWN_TRANSPORT = 255
/** Without these a file is no log this adapter can read; and it needs one of `KINDS`. */
const REQUIRED = ['ts', 'id.orig_h', 'id.resp_h'] as const
/** The column each log this adapter reads has: conn.log and dns.log `proto`, ssl.log `server_name`, http.log `trans_depth`. */
const KINDS = ['proto', 'server_name', 'trans_depth'] as const

/** Whether a parsed JSON object looks like a Zeek conn.log record (auto-detection). */
export const isZeekRecord = (o: Readonly<Record<string, unknown>>): boolean => o['id.orig_h'] !== undefined

/** Seconds (Zeek `time`/`interval`, microsecond precision) → ms, floored without float error at .xxx999. */
const secondsToMs = (s: number): number => Math.floor(Math.round(s * 1e6) / 1e3)

/** `ts` → epoch ms: seconds as a number, or an ISO-8601 string with `T` and a zone; NaN otherwise. */
const timeMs = (v: unknown): number => {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? secondsToMs(v) : NaN
  if (typeof v !== 'string' || v.length < 20 || v.charCodeAt(4) !== 45 || v.charCodeAt(10) !== 84) return NaN
  const last = v.charCodeAt(v.length - 1)
  const zoned = last === 90 || v.charCodeAt(v.length - 6) === 43 || v.charCodeAt(v.length - 6) === 45
  const t = zoned ? Date.parse(v) : NaN
  return t >= 0 ? t : NaN
}


/** Canonical field names in a schema failure → Zeek's, after the adapter's own issues. */
const finish = canonicalWithSourceNames

/**
 * Decodes one conn.log record (parsed JSON, or a TSV row as name → value). `deviceId` is `id.orig_h`;
 * bytes out are `orig_ip_bytes` (IP level), else `orig_bytes` (payload). Adapter rejections name Zeek's field.
 */
export const decodeZeekValue = (value: unknown): DecodeResult => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('schema', '(root): expected a JSON object')
  const o = value as Readonly<Record<string, unknown>>
  if (o.query !== undefined) return decodeZeekDns(o)
  if (o.server_name !== undefined || o.established !== undefined) return decodeZeekName(o, o.server_name, 'server_name')
  // Not by `host` alone: log shippers add a `host` (their own) to the records they carry.
  if (o.trans_depth !== undefined) return decodeZeekName(o, hostName(o.host), 'host')
  // Zeek says the originator is not in its Site::local_nets: an inbound connection, not a device's egress.
  const localOrig = o.local_orig
  if (localOrig === false || localOrig === 'F') return SKIPPED.outside
  const origin = originOf(o)
  let issues = origin.issues
  let ts = origin.ts
  const { src, srcOk } = origin

  const p = o.proto
  let proto = p === 'tcp' || p === 'udp' || p === 'icmp' ? PROTO_NUMBERS[p] : p === 'unknown_transport' ? UNKNOWN_TRANSPORT : -1
  if (proto < 0) {
    issues = addIssue(issues, 'proto: expected "tcp", "udp", "icmp" or "unknown_transport"')
    proto = 0
  }

  // For ICMP Zeek logs the ICMP code as id.resp_p; without it the port is 0.
  const port = o['id.resp_p']
  let dstPort = port === undefined && proto === PROTO_NUMBERS.icmp ? 0 : toUint(port)
  if (dstPort < 0 || dstPort > 65535) {
    issues = addIssue(issues, 'id.resp_p: expected an integer 0-65535')
    dstPort = 0
  }

  let durationMs: number | undefined
  const duration = o.duration
  if (duration !== undefined) {
    if (typeof duration === 'number' && duration >= 0 && Number.isFinite(duration)) durationMs = secondsToMs(duration)
    else issues = addIssue(issues, 'duration: expected non-negative seconds')
  }
  // Zeek writes a connection's row when it ends: it is placed there.
  if (durationMs !== undefined && ts > 0) ts = placeFlow(ts, ts + durationMs)

  const ipBytes = o.orig_ip_bytes !== undefined || o.orig_bytes === undefined
  return finish(issues, {
    type: 'egress', ts, deviceId: srcOk ? src : '-', srcIp: srcOk ? src : undefined, dstIp: o['id.resp_h'], dstPort, proto,
    bytesOut: ipBytes ? o.orig_ip_bytes : o.orig_bytes, bytesIn: ipBytes ? o.resp_ip_bytes : o.resp_bytes, packetsOut: o.orig_pkts,
    durationMs,
  }, ipBytes ? SOURCE_FIELD : SOURCE_FIELD_PAYLOAD)
}

/** A record's time and originator (`ts`, `id.orig_h`), with the issues of either. */
const originOf = (o: Readonly<Record<string, unknown>>): { issues: string; ts: number; src: unknown; srcOk: boolean } => {
  let issues = ''
  let ts = timeMs(o.ts)
  if (Number.isNaN(ts)) {
    issues = addIssue(issues, o.ts === undefined ? 'ts: missing' : 'ts: expected epoch seconds or an ISO-8601 date-time with a zone')
    ts = 0
  }
  const src = o['id.orig_h']
  const srcOk = typeof src === 'string' && src.length > 0
  if (!srcOk) issues = addIssue(issues, 'id.orig_h: expected an IPv4 or IPv6 address')
  return { issues, ts, src, srcOk }
}

/** A Zeek vector: a JSON array, or a TSV cell of comma-separated values; empty when unset. */
const vector = (v: unknown): unknown[] => (Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : v === undefined ? [] : [v])

/**
 * One dns.log record: the device (`id.orig_h`) received `answers` to `query`, each valid for its
 * `TTLs` entry; the event's TTL is the shortest of its addresses'. A query with no answer (NXDOMAIN,
 * a timeout) names nothing: skipped as blank.
 */
const decodeZeekDns = (o: Readonly<Record<string, unknown>>): DecodeResult => {
  const { issues, ts, src, srcOk } = originOf(o)
  const answers = vector(o.answers)
  const ttls = vector(o.TTLs).map((t) => (typeof t === 'number' ? t : Number(t)))
  let ttl = Infinity
  answers.forEach((a, i) => {
    const t = ttls[i]
    if (typeof a === 'string' && isIP(a) !== 0 && t !== undefined && Number.isFinite(t) && t >= 0 && t < ttl) ttl = t
  })
  if (issues === '' && !answers.some((a) => typeof a === 'string' && isIP(a) !== 0)) return SKIPPED.blank
  return canonicalWithSourceNames(issues, {
    type: 'dns', ts, deviceId: srcOk ? src : '-', srcIp: srcOk ? src : undefined, query: o.query, answers,
    ...(Number.isFinite(ttl) ? { ttl: Math.floor(ttl) } : {}),
  }, DNS_SOURCE_FIELD)
}

const DNS_SOURCE_FIELD: Readonly<Record<string, string>> = { deviceId: 'id.orig_h', srcIp: 'id.orig_h', query: 'query', answers: 'answers', ttl: 'TTLs' }

/** An HTTP Host header's name: its port taken off; undefined for an address literal (`203.0.113.5:8080`, `[2001:db8::1]`) or what is no name (`a:1:2`). */
const hostName = (host: unknown): unknown => {
  if (typeof host !== 'string') return host
  const colon = host.indexOf(':')
  const name = colon < 0 ? host : host.slice(0, colon)
  if (name.length === 0 || isIP(name) !== 0 || host.lastIndexOf(':') !== colon) return undefined
  return name
}

/**
 * How long a connection's own name (SNI, Host) names its address: a day. Zeek writes its ssl.log
 * or http.log row when the connection starts and its conn.log row when it ends, hours later for a
 * long MQTT session over TLS; the grace past the last use then holds it while it is in use.
 */
const CONNECTION_NAME_TTL_SECONDS = 86_400

/**
 * One ssl.log (`server_name`, the TLS SNI) or http.log (`host`) record: the name the device used
 * for the address it connected to (`id.resp_h`), as a `dns` event with that one answer for
 * `CONNECTION_NAME_TTL_SECONDS`. A connection without a name (no SNI, an address for a Host) names
 * nothing: skipped as blank. The client chooses these names (malware may send a vendor's SNI to its
 * own server); a resolver's answers are harder to forge.
 */
const decodeZeekName = (o: Readonly<Record<string, unknown>>, name: unknown, field: 'server_name' | 'host'): DecodeResult => {
  const { issues, ts, src, srcOk } = originOf(o)
  if (issues === '' && (name === undefined || name === '')) return SKIPPED.blank
  return canonicalWithSourceNames(issues, {
    type: 'dns', ts, deviceId: srcOk ? src : '-', srcIp: srcOk ? src : undefined, query: name, answers: [o['id.resp_h']], ttl: CONNECTION_NAME_TTL_SECONDS,
  }, field === 'host' ? HTTP_SOURCE_FIELD : SSL_SOURCE_FIELD)
}

const SSL_SOURCE_FIELD: Readonly<Record<string, string>> = { deviceId: 'id.orig_h', srcIp: 'id.orig_h', query: 'server_name', answers: 'id.resp_h' }
const HTTP_SOURCE_FIELD: Readonly<Record<string, string>> = { deviceId: 'id.orig_h', srcIp: 'id.orig_h', query: 'host', answers: 'id.resp_h' }

/** `\x09`-style escapes of a `#separator` header → the characters. */
const unescapeSeparator = (s: string): string =>
  s.replace(/\\x([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))

/** Reads one Zeek TSV log: `#` headers set the columns, later rows are records. One reader per file. */
export interface ZeekTsvReader {
  /** Whether a `#fields` header has been read, so that rows can be decoded. */
  readonly ready: boolean
  /** A `#` line: learns the separator, unset/empty markers and columns; always a `header` skip (no event). */
  header(line: string): DecodeResult
  /** A data row; `unknown_format` before any `#fields` header or when the columns are no log this adapter reads. */
  record(line: string): DecodeResult
}

export const createZeekTsvReader = (): ZeekTsvReader => {
  let separator = '\t'
  let unset = '-'
  let empty = '(empty)'
  /** For each column, its name when this adapter reads it, else undefined. */
  let columns: (string | undefined)[] | undefined
  let width = 0
  /** Non-empty when `#fields` lacks a required column: the failure every row gets. */
  let unusable = ''

  const readFields = (names: readonly string[]): void => {
    const read = names.slice(1).map((n) => (COLUMNS.has(n) ? n : undefined))
    const missing: string[] = REQUIRED.filter((r) => !read.includes(r))
    if (!KINDS.some((k) => read.includes(k))) missing.push(KINDS.join(' or '))
    columns = read
    width = read.length
    unusable = missing.length === 0 ? '' : `zeek #fields has no ${missing.join(', ')} column: not a conn.log, dns.log, ssl.log or http.log`
  }

  return {
    get ready() {
      return columns !== undefined
    },

    header(line) {
      if (line.startsWith('#separator ')) {
        separator = unescapeSeparator(line.slice('#separator '.length)) || '\t'
        return SKIPPED.header
      }
      const parts = line.split(separator)
      const value = parts[1]
      switch (parts[0]) {
        case '#fields':
          readFields(parts)
          break
        case '#unset_field':
          if (value !== undefined) unset = value
          break
        case '#empty_field':
          if (value !== undefined) empty = value
          break
      }
      return SKIPPED.header
    },

    record(line) {
      if (columns === undefined) return fail('unknown_format', 'zeek TSV row before a #fields header')
      if (unusable !== '') return fail('unknown_format', unusable)
      const row: Record<string, unknown> = {}
      let col = 0
      let start = 0
      for (;;) {
        const sep = line.indexOf(separator, start)
        const end = sep < 0 ? line.length : sep
        const name = columns[col]
        if (name !== undefined) {
          const raw = line.slice(start, end)
          if (raw !== unset && raw !== empty) {
            const n = COLUMNS.get(name) === true && raw !== '' ? Number(raw) : Number.NaN
            row[name] = Number.isNaN(n) ? raw : n
          }
        }
        col++
        if (sep < 0) break
        start = sep + separator.length
      }
      if (col !== width) return fail('schema', `(root): expected ${width} separated fields as in #fields, got ${col}`)
      return decodeZeekValue(row)
    },
  }
}
