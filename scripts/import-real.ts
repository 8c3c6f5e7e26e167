// Converts excerpts of public, labeled captures (IoT-23, Stratosphere, CTU-13) into canonical
// egress NDJSON under fixtures/real/ (captures with a timeline) and fixtures/samples/ (unordered
// samples: decoding and labels only). Run after `npm run build`:
//   node dist/scripts/import-real.js [rawDir]
// rawDir defaults to ../shared/data/real relative to the repository root. The output is
// deterministic: the same raw files give byte-identical fixtures. fixtures/real/README.md
// documents the provenance, the monitored hosts and every conversion rule used here.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** One canonical egress line; optional fields are omitted from the JSON when absent. */
export interface RealEvent {
  readonly type: 'egress'
  readonly ts: number
  readonly deviceId: string
  readonly srcIp: string
  readonly dstIp: string
  readonly dstPort: number
  readonly proto: 'tcp' | 'udp' | 'icmp'
  readonly bytesOut: number
  readonly bytesIn?: number | undefined
  readonly packetsOut?: number | undefined
  readonly durationMs?: number | undefined
  readonly model: string
  readonly label: string
}

type Row = Readonly<Record<string, string>>
/** A converted row, or the reason it was dropped. */
type Outcome = RealEvent | string

/** One monitored device: the originator address and the model to attach to its events. */
export interface MonitoredHost {
  readonly ip: string
  readonly model: string
}

/** One raw file of a job: where it is, how to read it, and which capture it belongs to. */
export interface Source {
  readonly file: string
  readonly format: 'iot23-csv' | 'zeek-tsv' | 'binetflow' | 'zeek-smtp-json'
  /** Device ids are `<capture>/<ip>`. */
  readonly capture: string
  readonly hosts: readonly MonitoredHost[]
}

/** One output fixture, made from one or more raw files. */
export interface Job {
  /** Path under fixtures/: `real/` for captures with a timeline, `samples/` for unordered samples (decoding and labels only). */
  readonly output: string
  readonly sources: readonly Source[]
}

export interface JobReport {
  readonly output: string
  readonly rowsIn: number
  readonly events: number
  readonly devices: number
  readonly maliciousDevices: number
  readonly maliciousEvents: number
  readonly firstTs: number | null
  readonly firstMaliciousOffsetMs: number | null
  readonly dropped: Readonly<Record<string, number>>
  readonly bytes: number
}

// ---------------------------------------------------------------------------------------------
// Small, exact parsers

/** Splits one line on a single-character separator. The raw files have no quoted fields. */
export const splitLine = (line: string, separator: string): string[] => line.split(separator)

/** Zeek/IoT-23 unset or empty markers. */
export const isUnset = (value: string | undefined): boolean =>
  value === undefined || value === '' || value === '-' || value === '(empty)'

/** A non-negative decimal integer field, or undefined when unset or not an integer. */
export const parseCount = (value: string | undefined): number | undefined => {
  if (value === undefined || !/^\d+$/.test(value)) return undefined
  return Number(value)
}

/**
 * A non-negative decimal number of seconds (e.g. `1537522822.965530`) as integer milliseconds,
 * rounded half-up on the decimal digits, without binary floating-point error.
 */
export const secondsToMs = (value: string): number | undefined => {
  const m = /^(\d+)(?:\.(\d*))?$/.exec(value)
  if (m === null) return undefined
  const whole = Number(m[1])
  const frac = (m[2] ?? '').padEnd(4, '0')
  const ms = Number(frac.slice(0, 3)) + (frac.charCodeAt(3) >= 53 /* '5' */ ? 1 : 0)
  return whole * 1000 + ms
}

/** Last Sunday of a month (1-based month), as a day of the month. */
const lastSunday = (year: number, month: number): number => {
  const lastDay = new Date(Date.UTC(year, month, 0))
  return lastDay.getUTCDate() - lastDay.getUTCDay()
}

/**
 * Argus StartTime `YYYY/MM/DD hh:mm:ss.ffffff`, local time in Prague (CET, UTC+1; CEST, UTC+2
 * from the last Sunday of March 01:00 UTC to the last Sunday of October 01:00 UTC), as UTC
 * epoch milliseconds.
 */
export const pragueLocalToEpochMs = (value: string): number | undefined => {
  const m = /^(\d{4})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d*))?$/.exec(value)
  if (m === null) return undefined
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number]
  const fracMs = secondsToMs(`0.${m[7] ?? ''}`) ?? 0
  const localAsUtc = Date.UTC(y, mo - 1, d, h, mi, s) + fracMs
  const dstStart = Date.UTC(y, 2, lastSunday(y, 3), 1)
  const dstEnd = Date.UTC(y, 9, lastSunday(y, 10), 1)
  // Decide DST on the UTC instant assuming summer time first; the ambiguous hour is not in these data.
  const summer = localAsUtc - 2 * 3_600_000
  return summer >= dstStart && summer < dstEnd ? summer : localAsUtc - 3_600_000
}

/** A port as decimal or Argus hex (`0x0050`), or undefined. */
export const parsePort = (value: string | undefined): number | undefined => {
  if (value === undefined) return undefined
  const n = /^\d+$/.test(value) ? Number(value) : /^0x[0-9a-f]+$/i.test(value) ? Number.parseInt(value.slice(2), 16) : Number.NaN
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? n : undefined
}

/** Maps a flow protocol name to the contract's three names; Argus rtp/rtcp are UDP flows. */
export const normaliseProto = (value: string): 'tcp' | 'udp' | 'icmp' | undefined => {
  switch (value.toLowerCase()) {
    case 'tcp':
      return 'tcp'
    case 'udp':
    case 'rtp':
    case 'rtcp':
      return 'udp'
    case 'icmp':
      return 'icmp'
    default:
      return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// Address rules

const ipv4Octets = (ip: string): number[] | undefined => {
  const parts = ip.split('.')
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p))) return undefined
  const octets = parts.map(Number)
  return octets.every((o) => o <= 255) ? octets : undefined
}

/** 0.0.0.0, ::, link-local or multicast: never the originator of a device's outbound flow. */
export const isUnusableOriginator = (ip: string): boolean => {
  const v4 = ipv4Octets(ip)
  if (v4 !== undefined) {
    const [a = 0, b = 0] = v4
    return v4.every((o) => o === 0) || (a === 169 && b === 254) || a >= 224
  }
  const lower = ip.toLowerCase()
  return lower === '::' || /^fe[89ab]/.test(lower) || lower.startsWith('ff')
}

/** Multicast, limited broadcast, 0.0.0.0, or the directed broadcast of the source's /24. */
export const isMulticastOrBroadcast = (dst: string, src: string): boolean => {
  const v4 = ipv4Octets(dst)
  if (v4 !== undefined) {
    const [a = 0, b = 0, c = 0, d = 0] = v4
    if (a >= 224 || v4.every((o) => o === 0)) return true
    const s = ipv4Octets(src)
    return d === 255 && s !== undefined && s[0] === a && s[1] === b && s[2] === c
  }
  return dst.toLowerCase().startsWith('ff')
}

// ---------------------------------------------------------------------------------------------
// Labels: a label string, or null to drop the row (unknown is neither benign nor malicious)

export const iot23Label = (label: string | undefined, detailed: string | undefined): string | null => {
  const l = (label ?? '').toLowerCase()
  if (l === 'benign') return 'benign'
  if (l === 'malicious') return isUnset(detailed) ? 'iot23:malicious' : `iot23:${detailed}`
  return null
}

export const stratosphereLabel = (label: string | undefined, detailed: string | undefined): string | null => {
  if (label === 'Benign') return 'benign'
  if (label === 'Malicious') return isUnset(detailed) ? 'stratosphere:malicious' : `stratosphere:${detailed}`
  return null // Background: unknown
}

export const ctu13Label = (label: string | undefined): string | null => {
  const l = (label ?? '').replace(/^flow=/, '')
  if (l.startsWith('From-Botnet')) return l.includes('SPAM') ? 'ctu13:botnet-spam' : 'ctu13:botnet'
  if (l.startsWith('From-Normal')) return 'benign'
  return null // Background, To-…: unknown
}

// ---------------------------------------------------------------------------------------------
// Row readers: every data row of a file as a name → value record

const BINETFLOW_FIELDS = ['StartTime', 'Dur', 'Proto', 'SrcAddr', 'Sport', 'Dir', 'DstAddr', 'Dport', 'State', 'sTos', 'dTos', 'TotPkts', 'TotBytes', 'SrcBytes', 'Label']

const zip = (names: readonly string[], values: readonly string[], where: string): Row => {
  if (names.length !== values.length) throw new Error(`${where}: ${values.length} fields, expected ${names.length}`)
  return Object.fromEntries(names.map((n, i) => [n, values[i] ?? '']))
}

const lines = (text: string): string[] => text.split(/\r?\n/).filter((l) => l.length > 0)

export const readRows = (text: string, format: Source['format'], file: string): Row[] => {
  const all = lines(text)
  switch (format) {
    case 'iot23-csv': {
      const [header, ...data] = all
      if (header === undefined) return []
      const names = splitLine(header, ',')
      return data.map((l, i) => zip(names, splitLine(l, ','), `${file}:${i + 2}`))
    }
    case 'zeek-tsv': {
      const fieldsLine = all.find((l) => l.startsWith('#fields\t'))
      if (fieldsLine === undefined) throw new Error(`${file}: no #fields line`)
      const names = splitLine(fieldsLine, '\t').slice(1)
      return all.filter((l) => !l.startsWith('#')).map((l, i) => zip(names, splitLine(l, '\t'), `${file}: data row ${i + 1}`))
    }
    case 'binetflow': {
      // The botOnly files have no header line; the sample files do.
      const data = all[0]?.startsWith('StartTime,') === true ? all.slice(1) : all
      if (all[0]?.startsWith('StartTime,') === true && all[0] !== BINETFLOW_FIELDS.join(',')) throw new Error(`${file}: unexpected header`)
      return data.map((l, i) => zip(BINETFLOW_FIELDS, splitLine(l, ','), `${file}: data row ${i + 1}`))
    }
    case 'zeek-smtp-json':
      return all.map((l) => {
        const o = JSON.parse(l) as Record<string, unknown>
        return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]))
      })
  }
}

// ---------------------------------------------------------------------------------------------
// Row converters

const hostOf = (source: Source, ip: string): MonitoredHost | undefined => source.hosts.find((h) => h.ip === ip)

/** Checks the originator and destination rules common to every format. */
const addressDrop = (source: Source, src: string, dst: string): string | undefined => {
  if (isUnusableOriginator(src)) return 'unusable originator (0.0.0.0, ::, link-local, multicast)'
  if (hostOf(source, src) === undefined) return 'originator is not a monitored host (inbound or other host)'
  if (isMulticastOrBroadcast(dst, src)) return 'multicast or broadcast destination'
  return undefined
}

/** Zeek conn.log fields (IoT-23 CSV or Stratosphere TSV). */
const convertConn = (source: Source, row: Row, labelOf: (r: Row) => string | null): Outcome => {
  const src = row['id.orig_h'] ?? ''
  const dst = row['id.resp_h'] ?? ''
  const drop = addressDrop(source, src, dst)
  if (drop !== undefined) return drop
  const label = labelOf(row)
  if (label === null) return 'label neither benign nor malicious (Background/unknown)'
  const proto = normaliseProto(row.proto ?? '')
  if (proto === undefined) return `protocol ${row.proto ?? ''}`
  const dstPort = proto === 'icmp' ? 0 : parsePort(row['id.resp_p'])
  if (dstPort === undefined) return 'bad destination port'
  const ts = secondsToMs(row.ts ?? '')
  if (ts === undefined) return 'bad timestamp'
  const duration = row.duration ?? ''
  return {
    type: 'egress',
    ts,
    deviceId: `${source.capture}/${src}`,
    srcIp: src,
    dstIp: dst,
    dstPort,
    proto,
    bytesOut: parseCount(row.orig_ip_bytes) ?? 0,
    bytesIn: parseCount(row.resp_ip_bytes),
    packetsOut: parseCount(row.orig_pkts),
    durationMs: isUnset(duration) ? undefined : secondsToMs(duration),
    model: hostOf(source, src)?.model ?? '',
    label,
  }
}

/** CTU-13 Argus bidirectional flow. */
const convertBinetflow = (source: Source, row: Row): Outcome => {
  const label = ctu13Label(row.Label)
  if (label === null) return 'label neither From-Botnet nor From-Normal (Background/To-…)'
  const src = row.SrcAddr ?? ''
  const dst = row.DstAddr ?? ''
  const drop = addressDrop(source, src, dst)
  if (drop !== undefined) return drop
  const proto = normaliseProto(row.Proto ?? '')
  if (proto === undefined) return `protocol ${row.Proto ?? ''}`
  const dstPort = proto === 'icmp' ? 0 : parsePort(row.Dport)
  if (dstPort === undefined) return 'bad destination port'
  const ts = pragueLocalToEpochMs(row.StartTime ?? '')
  if (ts === undefined) return 'bad timestamp'
  const bytesOut = parseCount(row.SrcBytes) ?? 0
  const total = parseCount(row.TotBytes)
  return {
    type: 'egress',
    ts,
    deviceId: `${source.capture}/${src}`,
    srcIp: src,
    dstIp: dst,
    dstPort,
    proto,
    bytesOut,
    bytesIn: total !== undefined && total >= bytesOut ? total - bytesOut : undefined,
    packetsOut: parseCount(row.TotPkts),
    durationMs: secondsToMs(row.Dur ?? ''),
    model: hostOf(source, src)?.model ?? '',
    label,
  }
}

/** Zeek smtp.log transaction: one outbound SMTP event per transaction; bytes unknown. */
const convertSmtp = (source: Source, row: Row): Outcome => {
  const src = row['id.orig_h'] ?? ''
  const dst = row['id.resp_h'] ?? ''
  const drop = addressDrop(source, src, dst)
  if (drop !== undefined) return drop
  const dstPort = parsePort(row['id.resp_p'])
  if (dstPort === undefined) return 'bad destination port'
  const ts = secondsToMs(row.ts ?? '')
  if (ts === undefined) return 'bad timestamp'
  return {
    type: 'egress',
    ts,
    deviceId: `${source.capture}/${src}`,
    srcIp: src,
    dstIp: dst,
    dstPort,
    proto: 'tcp',
    bytesOut: 0,
    model: hostOf(source, src)?.model ?? '',
    label: 'stratosphere:smtp-spam',
  }
}

export const convertRow = (source: Source, row: Row): Outcome => {
  switch (source.format) {
    case 'iot23-csv':
      return convertConn(source, row, (r) => iot23Label(r.label, r['detailed-label']))
    case 'zeek-tsv':
      return convertConn(source, row, (r) => stratosphereLabel(r.label, r.detailedlabel))
    case 'binetflow':
      return convertBinetflow(source, row)
    case 'zeek-smtp-json':
      return convertSmtp(source, row)
  }
}

/** The canonical line: keys in contract order, absent optional fields omitted. */
export const toLine = (e: RealEvent): string =>
  JSON.stringify({
    type: e.type,
    ts: e.ts,
    deviceId: e.deviceId,
    srcIp: e.srcIp,
    dstIp: e.dstIp,
    dstPort: e.dstPort,
    proto: e.proto,
    bytesOut: e.bytesOut,
    ...(e.bytesIn === undefined ? {} : { bytesIn: e.bytesIn }),
    ...(e.packetsOut === undefined ? {} : { packetsOut: e.packetsOut }),
    ...(e.durationMs === undefined ? {} : { durationMs: e.durationMs }),
    model: e.model,
    label: e.label,
  })

// ---------------------------------------------------------------------------------------------
// The jobs: which raw file becomes which fixture, and who the monitored devices are

const one = (ip: string, model: string): MonitoredHost[] => [{ ip, model }]
const many = (ips: readonly string[], model: string): MonitoredHost[] => ips.map((ip) => ({ ip, model }))

const CTU13_BOTS_S11_S12 = ['147.32.84.165', '147.32.84.191', '147.32.84.192']
const ctu13Sample = (scenario: string, file: string, ips: readonly string[]): Source => ({
  file: `ctu13/${file}`,
  format: 'binetflow',
  capture: `ctu13-${scenario}`,
  hosts: many(ips, `ctu13-${scenario}`),
})

export const JOBS: readonly Job[] = [
  { output: 'real/iot23-honeypot-4.ndjson', sources: [{ file: 'iot23/CTU-Honeypot-Capture-4-1-labeled.csv', format: 'iot23-csv', capture: 'iot23-honeypot-4', hosts: one('192.168.1.132', 'philips-hue') }] },
  { output: 'real/iot23-honeypot-5.ndjson', sources: [{ file: 'iot23/CTU-Honeypot-Capture-5-1-labeled.csv', format: 'iot23-csv', capture: 'iot23-honeypot-5', hosts: one('192.168.2.3', 'amazon-echo') }] },
  { output: 'real/iot23-honeypot-7.ndjson', sources: [{ file: 'iot23/CTU-Honeypot-Capture-7-1-labeled.csv', format: 'iot23-csv', capture: 'iot23-honeypot-7', hosts: one('192.168.1.158', 'somfy-door-lock') }] },
  { output: 'real/iot23-malware-8.ndjson', sources: [{ file: 'iot23/CTU-Malware-Capture-8-1-labeled.csv', format: 'iot23-csv', capture: 'iot23-malware-8', hosts: one('192.168.100.113', 'iot23-malware-8') }] },
  { output: 'real/iot23-malware-20.ndjson', sources: [{ file: 'iot23/CTU-Malware-Capture-20-1-labeled.csv', format: 'iot23-csv', capture: 'iot23-malware-20', hosts: one('192.168.100.103', 'iot23-malware-20') }] },
  { output: 'real/iot23-malware-42.ndjson', sources: [{ file: 'iot23/CTU-Malware-Capture-42-1-labeled.csv', format: 'iot23-csv', capture: 'iot23-malware-42', hosts: one('192.168.1.197', 'iot23-malware-42') }] },
  { output: 'real/stratosphere-normal-008.ndjson', sources: [{ file: 'stratosphere-normal/008-zeek-mixed_data_conn.log.labeled', format: 'zeek-tsv', capture: 'stratosphere-008', hosts: one('147.32.81.167', 'windows-pc') }] },
  { output: 'real/stratosphere-normal-010.ndjson', sources: [{ file: 'stratosphere-normal/010-zeek-mixed_data_conn.log.labeled', format: 'zeek-tsv', capture: 'stratosphere-010', hosts: one('147.32.83.234', 'windows-pc') }] },
  { output: 'real/stratosphere-malicious-001.ndjson', sources: [{ file: 'stratosphere-normal/001-zeek-scenario-malicious_labeled-conn.log', format: 'zeek-tsv', capture: 'stratosphere-001', hosts: one('192.168.1.115', 'stratosphere-001') }] },
  { output: 'real/stratosphere-smtp-spam.ndjson', sources: [{ file: 'test9_smtp.log', format: 'zeek-smtp-json', capture: 'stratosphere-test9', hosts: one('10.1.11.101', 'stratosphere-test9') }] },
  { output: 'real/ctu13-botnet-s11.ndjson', sources: [{ file: 'ctu13/botOnly_capture20110818-2_scenario11.binetflow', format: 'binetflow', capture: 'ctu13-s11', hosts: many(CTU13_BOTS_S11_S12, 'ctu13-s11') }] },
  { output: 'real/ctu13-botnet-s12.ndjson', sources: [{ file: 'ctu13/botOnly_capture20110819_scenario12.binetflow', format: 'binetflow', capture: 'ctu13-s12', hosts: many(CTU13_BOTS_S11_S12, 'ctu13-s12') }] },
  {
    output: 'samples/ctu13-spam-samples.ndjson',
    sources: [
      ctu13Sample('s1', 's1_capture20110810.sample100.binetflow', ['147.32.84.165']),
      ctu13Sample('s2', 's2_capture20110811.sample100.binetflow', ['147.32.84.165', '147.32.84.170']),
      ctu13Sample('s5', 's5_capture20110815-2.sample100.binetflow', ['147.32.84.165', '147.32.84.164', '147.32.84.170']),
      ctu13Sample('s9', 's9_capture20110817.sample100.binetflow', [
        '147.32.84.165', '147.32.84.191', '147.32.84.192', '147.32.84.193', '147.32.84.204',
        '147.32.84.205', '147.32.84.206', '147.32.84.207', '147.32.84.208', '147.32.84.209',
      ]),
      ctu13Sample('s13', 's13_capture20110815-3.sample100.binetflow', ['147.32.84.165', '147.32.84.170']),
    ],
  },
]

// ---------------------------------------------------------------------------------------------
// Running

export interface JobResult {
  readonly events: readonly RealEvent[]
  readonly rowsIn: number
  readonly dropped: Readonly<Record<string, number>>
}

/** Converts one job: reads its raw files, keeps outbound labeled flows, sorts stably by ts. */
export const runJob = (job: Job, rawDir: string): JobResult => {
  const kept: RealEvent[] = []
  const dropped: Record<string, number> = {}
  let rowsIn = 0
  for (const source of job.sources) {
    const file = path.join(rawDir, source.file)
    for (const row of readRows(readFileSync(file, 'utf8'), source.format, source.file)) {
      rowsIn += 1
      const out = convertRow(source, row)
      if (typeof out === 'string') dropped[out] = (dropped[out] ?? 0) + 1
      else kept.push(out)
    }
  }
  // Array.prototype.sort is stable: ties keep the original row order.
  const events = kept.slice().sort((a, b) => a.ts - b.ts)
  return { events, rowsIn, dropped }
}

export const summarise = (output: string, result: JobResult, bytes: number): JobReport => {
  const { events } = result
  const devices = new Set(events.map((e) => e.deviceId))
  const malicious = events.filter((e) => e.label !== 'benign')
  const firstTs = events[0]?.ts ?? null
  const firstMal = malicious[0]?.ts
  return {
    output,
    rowsIn: result.rowsIn,
    events: events.length,
    devices: devices.size,
    maliciousDevices: new Set(malicious.map((e) => e.deviceId)).size,
    maliciousEvents: malicious.length,
    firstTs,
    firstMaliciousOffsetMs: firstMal === undefined || firstTs === null ? null : firstMal - firstTs,
    dropped: result.dropped,
    bytes,
  }
}

/** Walks up from this module to the directory holding package.json (works from scripts/ and dist/scripts/). */
export const findRepoRoot = (start: string): string => {
  let dir = start
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error(`no package.json above ${start}`)
    dir = parent
  }
  return dir
}

export const importReal = (rawDir: string, fixturesDir: string): JobReport[] => {
  return JOBS.map((job) => {
    const result = runJob(job, rawDir)
    const text = result.events.map((e) => `${toLine(e)}\n`).join('')
    const out = path.join(fixturesDir, job.output)
    mkdirSync(path.dirname(out), { recursive: true })
    writeFileSync(out, text)
    return summarise(job.output, result, Buffer.byteLength(text))
  })
}

const formatOffset = (ms: number | null): string => {
  if (ms === null) return '-'
  const s = Math.floor(ms / 1000)
  const hms = `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m${String(s % 60).padStart(2, '0')}s`
  return `${ms} ms (${hms})`
}

export const main = (argv: readonly string[]): void => {
  const repoRoot = findRepoRoot(path.dirname(fileURLToPath(import.meta.url)))
  const rawDir = path.resolve(argv[0] ?? path.resolve(repoRoot, '../shared/data/real'))
  const outDir = path.join(repoRoot, 'fixtures')
  const reports = importReal(rawDir, outDir)
  console.log(['fixture', 'rows in', 'events', 'devices', 'mal. devices', 'mal. events', 'first malicious after', 'bytes'].join('\t'))
  for (const r of reports) {
    console.log([r.output, r.rowsIn, r.events, r.devices, r.maliciousDevices, r.maliciousEvents, formatOffset(r.firstMaliciousOffsetMs), r.bytes].join('\t'))
    for (const [reason, n] of Object.entries(r.dropped).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) console.log(`    dropped ${n}: ${reason}`)
  }
  const total = reports.reduce((sum, r) => sum + r.bytes, 0)
  console.log(`wrote ${reports.length} files, ${total} bytes, to ${path.relative(process.cwd(), outDir) || '.'}`)
}

const invokedDirectly = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)
if (invokedDirectly) main(process.argv.slice(2))
