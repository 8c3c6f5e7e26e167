// The nfdump adapter: one flow record of `nfdump -o json`, one JSON object a line (e.g. `| jq -c '.[]'`) → a canonical egress event.
//
// nfdump 1.7 writes, for each flow (times are the nfdump host's local time, without a zone):
//   {"type":"FLOW","sampled":0,"first":"2018-03-09T20:57:50.781","last":"2018-03-09T20:57:51.303","in_packets":1,
//    "in_bytes":60,"proto":6,"src_port":45285,"dst_port":53217,"src4_addr":"192.168.2.16","dst4_addr":"108.200.116.255",...}
// (`src6_addr`/`dst6_addr` for IPv6; `out_bytes`/`out_packets` for biflows). `nfdump -o json` itself writes
// them pretty-printed in one array: a replayed file is read record by record (formats.ts, prettyArrayAware).
import { addIssue, canonicalWithSourceNames, placeFlow, toUint } from './fields.ts'
import { fail } from './result.ts'
import { protocolNumber } from './protocols.ts'
import type { DecodeResult } from './result.ts'
import { parseDateTime } from './zone.ts'
import type { LocalClock } from './zone.ts'

/** Whether a parsed JSON object looks like an nfdump flow record (auto-detection). */
export const isNfdumpRecord = (o: Readonly<Record<string, unknown>>): boolean =>
  o.type === 'FLOW' && (o.src4_addr !== undefined || o.src6_addr !== undefined)

const TIME_ISSUE = ': expected "YYYY-MM-DDTHH:MM:SS[.fff]" (nfdump\'s local time: input.timeZone)'

/** Decodes one nfdump flow record; `deviceId` is the source address, wall times are read in `clock`'s zone. */
export const decodeNfdumpValue = (value: unknown, clock: LocalClock): DecodeResult => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('schema', '(root): expected a JSON object')
  const o = value as Readonly<Record<string, unknown>>
  let issues = ''
  const v4 = o.src4_addr !== undefined
  const names = v4 ? SOURCE_V4 : SOURCE_V6

  let ts = typeof o.first === 'string' ? parseDateTime(o.first, clock) : NaN
  if (!(ts > 0)) {
    issues = addIssue(issues, o.first === undefined ? 'first: missing' : `first${TIME_ISSUE}`)
    ts = 0
  }
  let durationMs: number | undefined
  if (o.last !== undefined) {
    const end = typeof o.last === 'string' ? parseDateTime(o.last, clock) : NaN
    if (Number.isNaN(end)) issues = addIssue(issues, `last${TIME_ISSUE}`)
    else if (ts > 0 && end >= ts) durationMs = end - ts
    if (ts > 0) ts = placeFlow(ts, end)
  }

  // A biflow whose initiator sent nothing (a probe answered, its reply counted in out_*) is its
  // responder's flow to it: the destination is the sender and the device, as goflow2's reversed biflows.
  const reversed = o.in_packets === 0 && o.in_bytes === 0 && typeof o.out_bytes === 'number' && o.out_bytes > 0
  const src = reversed ? (v4 ? o.dst4_addr : o.dst6_addr) : v4 ? o.src4_addr : o.src6_addr
  const dst = reversed ? (v4 ? o.src4_addr : o.src6_addr) : v4 ? o.dst4_addr : o.dst6_addr
  const srcOk = typeof src === 'string' && src.length > 0
  if (!srcOk) issues = addIssue(issues, `${reversed ? names.dstIp : names.srcIp}: expected an IPv4 or IPv6 address`)

  let proto = toUint(o.proto)
  if (proto < 0 || proto > 255) {
    issues = addIssue(issues, 'proto: expected a protocol number 0-255')
    proto = 0
  }
  // ICMP flows have no ports: nfdump writes icmp_type and icmp_code instead.
  const port = reversed ? o.src_port : o.dst_port
  let dstPort = port === undefined && (proto === 1 || proto === 58) ? 0 : toUint(port)
  if (dstPort < 0 || dstPort > 65535) {
    issues = addIssue(issues, `${reversed ? 'src_port' : 'dst_port'}: expected an integer 0-65535`)
    dstPort = 0
  }

  // A TCP record with flags but no SYN (nfdump writes them as `...AP.SF`, SYN second to last)
  // continues a connection reported before (an active timeout).
  const flags = o.tcp_flags
  const continued = proto === 6 && typeof flags === 'string' && flags.length === 8 && flags !== '........' && flags.charCodeAt(6) !== 0x53

  return canonicalWithSourceNames(issues, {
    type: 'egress', ts, deviceId: srcOk ? src : '-', srcIp: srcOk ? src : undefined, dstIp: dst, dstPort, proto,
    bytesOut: reversed ? o.out_bytes : o.in_bytes, bytesIn: reversed ? o.in_bytes : o.out_bytes, packetsOut: reversed ? o.out_packets : o.in_packets, durationMs, continued,
  }, reversed ? (v4 ? REVERSED_V4 : REVERSED_V6) : names)
}

/** Canonical field → the nfdump field it came from, for renaming schema issues. */
const SOURCE_V4: Readonly<Record<string, string>> = {
  deviceId: 'src4_addr', srcIp: 'src4_addr', dstIp: 'dst4_addr', dstPort: 'dst_port', proto: 'proto',
  bytesOut: 'in_bytes', bytesIn: 'out_bytes', packetsOut: 'in_packets', durationMs: 'last',
}
const SOURCE_V6: Readonly<Record<string, string>> = { ...SOURCE_V4, deviceId: 'src6_addr', srcIp: 'src6_addr', dstIp: 'dst6_addr' }
const REVERSED_V4: Readonly<Record<string, string>> = {
  ...SOURCE_V4, deviceId: 'dst4_addr', srcIp: 'dst4_addr', dstIp: 'src4_addr', dstPort: 'src_port', bytesOut: 'out_bytes', bytesIn: 'in_bytes', packetsOut: 'out_packets',
}
const REVERSED_V6: Readonly<Record<string, string>> = { ...REVERSED_V4, deviceId: 'dst6_addr', srcIp: 'dst6_addr', dstIp: 'src6_addr' }

/** The columns of `nfdump -o csv` a record needs. */
const CSV_COLUMNS = ['ts', 'te', 'sa', 'da', 'sp', 'dp', 'pr', 'flg', 'ipkt', 'ibyt', 'opkt', 'obyt'] as const

/** A CSV cell as nfdump's JSON would have it: a number for digits, else the text (its issue then names the field). */
const cellNumber = (s: string | undefined): unknown => (s !== undefined && /^\d{1,15}$/.test(s) ? Number(s) : s)

/**
 * `nfdump -o csv`, header-driven: the header line (`ts,te,td,sa,da,…`) names the columns; each row
 * becomes the record nfdump's JSON would hold for it and is decoded as one (`first`/`last` at
 * seconds, as the CSV writes them; ICMP's `dp`, its type and code, is no port); `Summary` and the
 * lines after it are skipped as markers.
 */
export const createNfdumpCsvReader = (clock: LocalClock) => {
  let at: Record<(typeof CSV_COLUMNS)[number], number> | null = null
  let summary = false
  return {
    /** The header: learns the columns; false when a column a record needs is not there. */
    header(line: string): boolean {
      const names = line.trim().split(',')
      const found = Object.fromEntries(CSV_COLUMNS.map((c) => [c, names.indexOf(c)])) as Record<(typeof CSV_COLUMNS)[number], number>
      if (CSV_COLUMNS.some((c) => found[c] < 0)) return false
      at = found
      return true
    },
    record(line: string): DecodeResult {
      if (summary || line.startsWith('Summary')) {
        summary = true
        return { ok: null, reason: 'marker' }
      }
      if (at === null) return fail('unknown_format', 'an nfdump CSV row before its header (ts,te,td,sa,da,…)')
      const cells = line.split(',')
      const sa = cells[at.sa]
      const v6 = sa?.includes(':') === true
      const pr = cells[at.pr] ?? ''
      const proto = /^\d+$/.test(pr) ? Number(pr) : protocolNumber(pr)
      const obyt = cellNumber(cells[at.obyt])
      const icmp = proto === 1 || proto === 58
      return decodeNfdumpValue({
        type: 'FLOW',
        first: cells[at.ts],
        last: cells[at.te],
        [v6 ? 'src6_addr' : 'src4_addr']: sa,
        [v6 ? 'dst6_addr' : 'dst4_addr']: cells[at.da],
        src_port: icmp ? undefined : cellNumber(cells[at.sp]),
        dst_port: icmp ? undefined : cellNumber(cells[at.dp]),
        proto: proto < 0 ? pr : proto,
        tcp_flags: cells[at.flg],
        in_packets: cellNumber(cells[at.ipkt]),
        in_bytes: cellNumber(cells[at.ibyt]),
        ...(obyt === 0 ? {} : { out_bytes: obyt, out_packets: cellNumber(cells[at.opkt]) }),
      }, clock)
    },
  }
}
