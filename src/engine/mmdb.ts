// Owners of addresses from a MaxMind DB file (GeoLite2-ASN, DB-IP ASN Lite, IPinfo ASN): the same questions as the CSV table, answered by lookups in its tree.
import { readFileSync } from 'node:fs'
import ipaddr from 'ipaddr.js'
import { Reader } from 'mmdb-lib'
import type { Response } from 'mmdb-lib'
import { ipv4Text } from './net.ts'
import type { Owners } from './owners.ts'

/** A record of an ASN database: GeoLite2 and DB-IP name its fields one way, IPinfo another. */
interface AsnRecord {
  readonly autonomous_system_number?: unknown
  readonly autonomous_system_organization?: unknown
  readonly asn?: unknown
  readonly as_name?: unknown
  readonly name?: unknown
}

/** The AS number of a record: a number, or IPinfo's `"AS15169"`; -1 for none. */
const asnOf = (r: AsnRecord): number => {
  const v = r.autonomous_system_number ?? r.asn
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : -1
  if (typeof v === 'string') {
    const m = /^(?:AS)?(\d{1,10})$/i.exec(v)
    const n = m === null ? -1 : Number(m[1])
    return n <= 0xffffffff ? n : -1
  }
  return -1
}

const orgOf = (r: AsnRecord): string => {
  const v = r.autonomous_system_organization ?? r.as_name ?? r.name
  return typeof v === 'string' ? v : ''
}

/**
 * An MMDB file's owners. Each network a lookup lands in becomes a row (its AS, organisation and
 * CIDR), so that rows mean here what they mean in the CSV table; rows are made as addresses are
 * asked for, at most one per network of the file (the file itself is read once, outside the heap).
 */
export class MmdbOwners implements Owners {
  private readonly asns: number[] = []
  private readonly names: string[] = []
  private readonly ranges: string[] = []
  private readonly byRange = new Map<string, number>()

  private constructor(private readonly reader: Reader<Response>) {}

  /**
   * Opens `path`; a file that is no MaxMind DB, or whose records for well-known addresses hold no AS
   * numbers (a country or city database), is an error naming what is wrong.
   */
  static open(path: string): MmdbOwners {
    let reader: Reader<Response>
    try {
      reader = new Reader<Response>(readFileSync(path))
    } catch (err) {
      throw new Error(`${path}: not a MaxMind DB file (${(err as Error).message})`, { cause: err })
    }
    const owners = new MmdbOwners(reader)
    // A database of countries or cities answers lookups too: it must name AS numbers.
    const probes = ['8.8.8.8', '1.1.1.1', '13.107.1.1', '52.89.250.177', '2001:4860:4860::8888']
    const sample = probes.map((ip) => reader.get(ip) as AsnRecord | null).find((r) => r !== null)
    if (sample !== undefined && asnOf(sample) < 0) {
      throw new Error(`${path}: a ${reader.metadata.databaseType} database without AS numbers (autonomous_system_number or asn)`)
    }
    return owners
  }

  get rows(): number {
    return this.asns.length
  }

  row(ip: string): number {
    if (!ipaddr.isValid(ip)) return -1
    const addr = ipaddr.process(ip)
    // An IPv4-only file would be walked with the IPv6 address's first 32 bits: no answer.
    if (addr.kind() === 'ipv6' && this.reader.metadata.ipVersion === 4) return -1
    const text = addr.toString()
    let found: [AsnRecord | null, number]
    try {
      found = this.reader.getWithPrefixLength(text) as [AsnRecord | null, number]
    } catch {
      return -1
    }
    const [record, prefix] = found
    if (record === null) return -1
    const asn = asnOf(record)
    if (asn < 0) return -1
    const network = addr.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(`${text}/${prefix}`) : ipaddr.IPv6.networkAddressFromCIDR(`${text}/${prefix}`)
    const range = `${network.toString()}/${prefix}`
    let row = this.byRange.get(range)
    if (row === undefined) {
      row = this.asns.length
      this.asns.push(asn)
      this.names.push(orgOf(record))
      this.ranges.push(range)
      this.byRange.set(range, row)
    }
    return row
  }

  rowV4(n: number): number {
    return this.row(ipv4Text(n))
  }

  asnOf(row: number): number {
    return this.asns[row]!
  }

  nameOf(row: number): string {
    return this.names[row]!
  }

  rangeOf(row: number): string {
    return this.ranges[row]!
  }
}
