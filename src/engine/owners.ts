// Owners of addresses: the autonomous system (number, organisation) and the announced range an address lies in, from an offline table.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import ipaddr from 'ipaddr.js'
import { MmdbOwners } from './mmdb.ts'
import { ipv4Number } from './net.ts'

/**
 * The built-in table: `@ip-location-db/asn` (RouteViews, the five RIRs and DB-IP's IP to ASN Lite,
 * CC BY 4.0; see the README for its attribution and how it is updated), as its files name them.
 */
const BUILTIN = ['@ip-location-db/asn/asn-ipv4-num.csv', '@ip-location-db/asn/asn-ipv6-num.csv']

/** What a table says of one address. */
export interface Owner {
  readonly asn: number
  /** The organisation the AS is registered to. */
  readonly name: string
  /** The range of the table's row: a CIDR when it is one, else `first-last`. */
  readonly range: string
}

/** What identities ask of a source of owners: the row an address lies in (-1 for none), and each row's AS, organisation and range. */
export interface Owners {
  row(ip: string): number
  /** `row` of an IPv4 address given as a number. */
  rowV4(n: number): number
  asnOf(row: number): number
  nameOf(row: number): string
  rangeOf(row: number): string
}

/** The arrays of a table. */
interface Parts {
  readonly v4First: Uint32Array
  readonly v4Last: Uint32Array
  readonly v4Row: Uint32Array
  readonly v6First: BigUint64Array
  readonly v6Last: BigUint64Array
  readonly v6Row: Uint32Array
  readonly asns: Uint32Array
  readonly orgs: Uint32Array
  readonly names: readonly string[]
}

const BINARY_MAGIC = 'egress-sentinel owners 1\n'

/**
 * The built-in table. Its CSV takes most of a second to read, so the table is kept, once read, as
 * binary in `node_modules/.cache/egress-sentinel/` (by the package's version; written atomically,
 * and not at all where that folder cannot be written): later processes read it in milliseconds.
 */
const loadBuiltin = (): OwnerTable => {
  const require = createRequire(import.meta.url)
  const manifest = require.resolve('@ip-location-db/asn/package.json')
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }
  const cacheDir = join(dirname(manifest), '..', '..', '.cache', 'egress-sentinel')
  const cache = join(cacheDir, `owners-${version}.bin`)
  try {
    const table = OwnerTable.fromBinary(readFileSync(cache))
    if (table !== null) return table
  } catch {
    // Not there yet.
  }
  const table = OwnerTable.parseFiles(BUILTIN.map((f) => ({ path: require.resolve(f), numeric: true })))
  try {
    mkdirSync(cacheDir, { recursive: true })
    const temp = `${cache}.${process.pid}.tmp`
    writeFileSync(temp, table.toBinary())
    renameSync(temp, cache)
  } catch {
    // A read-only installation reads the CSV each time.
  }
  return table
}

/** The last field of a CSV row, which may be quoted (RFC 4180: `"Amazon.com, Inc."`, `"LLC ""SPUTNIK"""`). */
const lastField = (line: string, from: number): string => {
  const raw = line.slice(from).trimEnd()
  return raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? raw.slice(1, -1).replaceAll('""', '"') : raw
}

/** An IPv6 address's upper 64 bits (the table's IPv6 rows are whole /64s or larger). */
const high64 = (a: ipaddr.IPv6): bigint => {
  const p = a.parts
  return (BigInt(p[0]!) << 48n) | (BigInt(p[1]!) << 32n) | (BigInt(p[2]!) << 16n) | BigInt(p[3]!)
}

const v4Number = (a: ipaddr.IPv4): number => ((a.octets[0]! << 24) >>> 0) + (a.octets[1]! << 16) + (a.octets[2]! << 8) + a.octets[3]!

const V4_MAX = 0xffffffff
const DECIMAL = /^\d{1,39}$/

/**
 * A row's range: IPv4 as numbers, IPv6 as the upper 64 bits of its addresses; null when it is not a
 * range of one family. Numeric rows are IPv4 when both ends fit 32 bits.
 */
const parseRange = (firstText: string, lastText: string, numeric: boolean): [number, number] | [bigint, bigint] | null => {
  if (numeric) {
    if (!DECIMAL.test(firstText) || !DECIMAL.test(lastText)) return null
    if (lastText.length <= 9) {
      const [f, l] = [Number(firstText), Number(lastText)]
      return l < f ? null : [f, l]
    }
    const first = BigInt(firstText)
    const last = BigInt(lastText)
    if (last < first) return null
    return last <= V4_MAX ? [Number(first), Number(last)] : [first >> 64n, last >> 64n]
  }
  if (!ipaddr.isValid(firstText) || !ipaddr.isValid(lastText)) return null
  const first = ipaddr.parse(firstText)
  const last = ipaddr.parse(lastText)
  if (first.kind() !== last.kind()) return null
  if (first.kind() === 'ipv4') {
    const [f, l] = [v4Number(first as ipaddr.IPv4), v4Number(last as ipaddr.IPv4)]
    return l < f ? null : [f, l]
  }
  const [f, l] = [high64(first as ipaddr.IPv6), high64(last as ipaddr.IPv6)]
  return l < f ? null : [f, l]
}

/** `first-last` as a CIDR when it is one. */
const rangeText = (first: ipaddr.IPv4 | ipaddr.IPv6, last: ipaddr.IPv4 | ipaddr.IPv6): string => {
  const bits = first.kind() === 'ipv4' ? 32 : 128
  for (let prefix = 0; prefix <= bits; prefix++) {
    const [net, broadcast] = first.kind() === 'ipv4'
      ? [ipaddr.IPv4.networkAddressFromCIDR(`${first.toString()}/${prefix}`), ipaddr.IPv4.broadcastAddressFromCIDR(`${first.toString()}/${prefix}`)]
      : [ipaddr.IPv6.networkAddressFromCIDR(`${first.toString()}/${prefix}`), ipaddr.IPv6.broadcastAddressFromCIDR(`${first.toString()}/${prefix}`)]
    if (net.toString() === first.toString() && broadcast.toString() === last.toString()) return `${first.toString()}/${prefix}`
  }
  return `${first.toString()}-${last.toString()}`
}

/**
 * An IP-to-AS table: rows `first,last,asn,organisation` (inclusive ranges of addresses, IPv4 or IPv6,
 * sorted, not overlapping), as `@ip-location-db/asn` writes them. Looked up by binary search over
 * typed arrays; each organisation's name is held once.
 */
export class OwnerTable implements Owners {
  private readonly v4First: Uint32Array
  private readonly v4Last: Uint32Array
  private readonly v4Row: Uint32Array
  private readonly v6First: BigUint64Array
  private readonly v6Last: BigUint64Array
  private readonly v6Row: Uint32Array
  /** Per row: AS number, organisation (index into `names`), and the row's range as text once asked for. */
  private readonly asns: Uint32Array
  private readonly orgs: Uint32Array
  private readonly ranges = new Map<number, string>()
  private readonly names: readonly string[]

  private constructor(parts: Parts) {
    this.v4First = parts.v4First
    this.v4Last = parts.v4Last
    this.v4Row = parts.v4Row
    this.v6First = parts.v6First
    this.v6Last = parts.v6Last
    this.v6Row = parts.v6Row
    this.asns = parts.asns
    this.orgs = parts.orgs
    this.names = parts.names
  }

  /**
   * `texts`: each file's text. Its rows give addresses as text (either family), or (`numeric`, as the
   * built-in table's files) as decimal numbers, IPv4 when they fit 32 bits and IPv6 otherwise.
   */
  private static parse(texts: readonly { readonly text: string; readonly numeric: boolean }[], where: string): OwnerTable {
    const names: string[] = []
    const v4: number[] = []
    const v6First: bigint[] = []
    const v6Last: bigint[] = []
    const v6Rows: number[] = []
    const asns: number[] = []
    const orgs: number[] = []
    const nameIndex = new Map<string, number>()
    for (const { text, numeric } of texts) {
      let lineNo = 0
      let from = 0
      while (from < text.length) {
        let to = text.indexOf('\n', from)
        if (to < 0) to = text.length
        const line = text.slice(from, to)
        from = to + 1
        lineNo++
        if (line.length === 0) continue
        const a = line.indexOf(',')
        const b = line.indexOf(',', a + 1)
        const c = line.indexOf(',', b + 1)
        const asn = Number(line.slice(b + 1, c))
        const range = a > 0 && b > a && c > b ? parseRange(line.slice(0, a), line.slice(a + 1, b), numeric) : null
        if (range === null || !Number.isInteger(asn) || asn < 0) {
          if (lineNo === 1) continue // a header
          throw new Error(`${where}: line ${lineNo}: expected first,last,asn,organisation (addresses${numeric ? ' as numbers' : ''})`)
        }
        const name = lastField(line, c + 1)
        let org = nameIndex.get(name)
        if (org === undefined) {
          org = names.length
          names.push(name)
          nameIndex.set(name, org)
        }
        const row = asns.length
        asns.push(asn)
        orgs.push(org)
        if (typeof range[0] === 'number') v4.push(range[0], range[1] as number, row)
        else {
          v6First.push(range[0])
          v6Last.push(range[1] as bigint)
          v6Rows.push(row)
        }
      }
    }
    // By first address: the files are sorted already (checked), a user's may not be.
    const n4 = v4.length / 3
    const order4 = Array.from({ length: n4 }, (_, i) => i)
    if (!order4.every((i) => i === 0 || v4[3 * (i - 1)]! <= v4[3 * i]!)) order4.sort((x, y) => v4[3 * x]! - v4[3 * y]!)
    const order6 = Array.from({ length: v6Rows.length }, (_, i) => i)
    if (!order6.every((i) => i === 0 || v6First[i - 1]! <= v6First[i]!)) order6.sort((x, y) => (v6First[x]! < v6First[y]! ? -1 : v6First[x]! > v6First[y]! ? 1 : 0))
    return new OwnerTable({
      v4First: Uint32Array.from(order4, (i) => v4[3 * i]!),
      v4Last: Uint32Array.from(order4, (i) => v4[3 * i + 1]!),
      v4Row: Uint32Array.from(order4, (i) => v4[3 * i + 2]!),
      v6First: BigUint64Array.from(order6, (i) => v6First[i]!),
      v6Last: BigUint64Array.from(order6, (i) => v6Last[i]!),
      v6Row: Uint32Array.from(order6, (i) => v6Rows[i]!),
      asns: Uint32Array.from(asns),
      orgs: Uint32Array.from(orgs),
      names,
    })
  }

  /** The table as one buffer: a header line (counts, organisations) and its arrays, for `fromBinary`. */
  toBinary(): Buffer {
    const header = Buffer.from(`${BINARY_MAGIC}${JSON.stringify({ v4: this.v4First.length, v6: this.v6First.length, rows: this.asns.length, names: this.names })}\n`)
    const pad = (8 - (header.length % 8)) % 8
    const arrays = [this.v6First, this.v6Last, this.v4First, this.v4Last, this.v4Row, this.v6Row, this.asns, this.orgs]
    return Buffer.concat([header, Buffer.alloc(pad), ...arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))])
  }

  /** A table `toBinary` wrote (views over a copy of its bytes); null when `data` is not one. */
  static fromBinary(data: Buffer): OwnerTable | null {
    if (data.subarray(0, BINARY_MAGIC.length).toString() !== BINARY_MAGIC) return null
    const end = data.indexOf(0x0a, BINARY_MAGIC.length)
    if (end < 0) return null
    const h = JSON.parse(data.subarray(BINARY_MAGIC.length, end).toString()) as { v4: number; v6: number; rows: number; names: string[] }
    let at = end + 1
    at += (8 - (at % 8)) % 8
    // The arrays are views over the file's bytes when they lie 8-aligned (a file read whole does), else over a copy.
    let body: ArrayBuffer
    let offset = 0
    if ((data.byteOffset + at) % 8 === 0 && data.buffer instanceof ArrayBuffer) {
      body = data.buffer
      offset = data.byteOffset + at
    } else {
      body = new ArrayBuffer(data.length - at)
      new Uint8Array(body).set(data.subarray(at))
    }
    const start = offset
    const take = <T>(make: (b: ArrayBuffer, o: number, n: number) => T, n: number, bytes: number): T => {
      const view = make(body, offset, n)
      offset += n * bytes
      return view
    }
    const u64 = (b: ArrayBuffer, o: number, n: number) => new BigUint64Array(b, o, n)
    const u32 = (b: ArrayBuffer, o: number, n: number) => new Uint32Array(b, o, n)
    const parts = {
      v6First: take(u64, h.v6, 8), v6Last: take(u64, h.v6, 8),
      v4First: take(u32, h.v4, 4), v4Last: take(u32, h.v4, 4), v4Row: take(u32, h.v4, 4), v6Row: take(u32, h.v6, 4),
      asns: take(u32, h.rows, 4), orgs: take(u32, h.rows, 4), names: h.names,
    }
    return offset - start === data.length - at ? new OwnerTable(parts) : null
  }

  /** Tables loaded, by their files: each is read once per process. */
  private static readonly loaded = new Map<string, Owners>()

  /**
   * The owners of `source`: `builtin`, the path of a CSV file of such rows (IPv4 and IPv6 alike), or
   * of a MaxMind DB file (`.mmdb`) of AS numbers.
   */
  static load(source: string): Owners {
    if (source === 'builtin') return OwnerTable.builtin()
    let table = OwnerTable.loaded.get(source)
    if (table === undefined) {
      table = source.toLowerCase().endsWith('.mmdb')
          ? MmdbOwners.open(source)
          : OwnerTable.parse([{ text: readFileSync(source, 'utf8'), numeric: false }], source)
      OwnerTable.loaded.set(source, table)
    }
    return table
  }

  private static builtinTable: OwnerTable | undefined

  /** The built-in table, read once per process. */
  static builtin(): OwnerTable {
    return (OwnerTable.builtinTable ??= loadBuiltin())
  }

  /** The table of CSV files (`numeric`: addresses written as numbers). */
  static parseFiles(files: readonly { readonly path: string; readonly numeric: boolean }[]): OwnerTable {
    return OwnerTable.parse(files.map((f) => ({ text: readFileSync(f.path, 'utf8'), numeric: f.numeric })), files.map((f) => f.path).join(', '))
  }

  /** A table of the given rows' text (tests). */
  static of(text: string): OwnerTable {
    return OwnerTable.parse([{ text, numeric: false }], 'table')
  }

  get rows(): number {
    return this.asns.length
  }

  /** The row an address lies in, or -1 (not in the table, or not an address). */
  row(ip: string): number {
    const v4 = ipv4Number(ip)
    if (v4 >= 0) return this.rowV4(v4)
    if (!ipaddr.isValid(ip)) return -1
    const addr = ipaddr.process(ip)
    if (addr.kind() === 'ipv4') return this.rowV4(v4Number(addr as ipaddr.IPv4))
    const n = high64(addr as ipaddr.IPv6)
    let lo = 0
    let hi = this.v6First.length - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (this.v6First[mid]! <= n) {
        found = mid
        lo = mid + 1
      } else hi = mid - 1
    }
    return found >= 0 && n <= this.v6Last[found]! ? this.v6Row[found]! : -1
  }

  /** The row of an IPv4 address given as a number, or -1. */
  rowV4(n: number): number {
    const i = lastAtOrBelow(this.v4First, n)
    return i >= 0 && n <= this.v4Last[i]! ? this.v4Row[i]! : -1
  }

  /** The owner of an address, or null. */
  owner(ip: string): Owner | null {
    const r = this.row(ip)
    return r < 0 ? null : { asn: this.asns[r]!, name: this.nameOf(r), range: this.rangeOf(r) }
  }

  asnOf(row: number): number {
    return this.asns[row]!
  }

  /** The organisation of a row. */
  nameOf(row: number): string {
    return this.names[this.orgs[row]!]!
  }

  /** The row's range as text, made when first asked for. */
  rangeOf(row: number): string {
    let text = this.ranges.get(row)
    if (text === undefined) {
      const i = this.v4Row.indexOf(row)
      text = i >= 0
        ? rangeText(ipaddr.fromByteArray(bytesOf(this.v4First[i]!)), ipaddr.fromByteArray(bytesOf(this.v4Last[i]!)))
        : this.v6RangeText(row)
      this.ranges.set(row, text)
    }
    return text
  }

  private v6RangeText(row: number): string {
    const i = this.v6Row.indexOf(row)
    const from = (v: bigint, fill: number): ipaddr.IPv6 => {
      const parts = [Number((v >> 48n) & 0xffffn), Number((v >> 32n) & 0xffffn), Number((v >> 16n) & 0xffffn), Number(v & 0xffffn), fill, fill, fill, fill]
      return new ipaddr.IPv6(parts)
    }
    return rangeText(from(this.v6First[i]!, 0), from(this.v6Last[i]!, 0xffff))
  }
}

const bytesOf = (n: number): number[] => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]

/** The index of the last entry at or below `n` in a sorted array, or -1. */
const lastAtOrBelow = (sorted: Uint32Array, n: number): number => {
  let lo = 0
  let hi = sorted.length - 1
  let found = -1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    if (sorted[mid]! <= n) {
      found = mid
      lo = mid + 1
    } else hi = mid - 1
  }
  return found
}
