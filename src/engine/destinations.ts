// One identity for a destination, by precedence: the registered domain of its name, else the owner (AS) of its address, else its prefix.
import { hashString } from './window.ts'
import { ipv4Number, prefixKey, registeredDomain } from './net.ts'
import { FNV_OFFSET, fnvFinish, fnvStep } from './window.ts'
import { OwnerTable } from './owners.ts'
import type { Owners } from './owners.ts'

/** Slots of the IPv4 owners' cache (a power of two). */
const V4_SLOTS = 1 << 12

/** Entries each memory holds at most; past it it starts again. */
const MAX_REMEMBERED = 65_536

/** What a finding's evidence says of one destination. */
export interface DestinationFacts {
  readonly address: string
  readonly name: string | null
  readonly domain: string | null
  readonly asn: number | null
  readonly owner: string | null
  /** The owner's announced range that holds the address. */
  readonly range: string | null
}

/**
 * A destination's identity for novelty and fleet knowledge, by precedence:
 * - the registered domain of the host name the collector (or DNS) gives: a service's rotating
 *   addresses and CDN edges are one destination;
 * - else the autonomous system that owns the address (`AS16509`), from the owner table: a vendor's
 *   endpoint moving between addresses of its cloud is not a new destination (the range it moved to
 *   is in the evidence);
 * - else the address's /24 (IPv4) or /48 (IPv6): private, reserved and unrouted space, and
 *   addresses the table does not hold.
 * Identities are remembered by name and by address (flows repeat them).
 */
export class Destinations {
  private readonly byName = new Map<string, number>()
  /** The hash of each AS's identity (`AS16509`). */
  private readonly byOwner = new Map<number, number>()
  /** The owner table's row of each address remembered (-1: none): IPv6 and mapped addresses. */
  private readonly rows = new Map<string, number>()
  /**
   * IPv4 addresses' rows, direct-mapped by the address's low bits (`v4Key` holds the address, -1
   * for none): a binary search over the table's 400,000 ranges misses the CPU's caches at each step.
   */
  private readonly v4Key = new Float64Array(V4_SLOTS).fill(-1)
  private readonly v4Row = new Int32Array(V4_SLOTS)

  constructor(readonly owners: Owners | null) {}

  /** The owners of `destinations.owners`: `builtin`, `none`, or a CSV or MMDB file's path. */
  static fromConfig(owners: string): Destinations {
    return new Destinations(owners === 'none' ? null : OwnerTable.load(owners))
  }

  /** The owner table's row of an address (`n`: its IPv4 number when the caller has it), or -1. */
  private row(ip: string, n = ipv4Number(ip)): number {
    if (this.owners === null) return -1
    if (n >= 0) return this.rowV4(n)
    let r = this.rows.get(ip)
    if (r === undefined) {
      r = this.owners.row(ip)
      if (this.rows.size >= MAX_REMEMBERED) this.rows.clear()
      this.rows.set(ip, r)
    }
    return r
  }

  /** The owner table's row of an IPv4 address given as a number, or -1. */
  private rowV4(n: number): number {
    const slot = (n ^ (n >>> 16)) & (V4_SLOTS - 1)
    if (this.v4Key[slot] === n) return this.v4Row[slot]!
    const r = this.owners!.rowV4(n)
    this.v4Key[slot] = n
    this.v4Row[slot] = r
    return r
  }

  /** The identity, as text: `example.co.uk`, `AS16509`, `203.0.113.0/24`. */
  key(dstIp: string, dstHost: string | undefined): string {
    if (dstHost !== undefined && dstHost.length > 0) return registeredDomain(dstHost)
    const r = this.row(dstIp)
    return r >= 0 ? `AS${this.owners!.asnOf(r)}` : prefixKey(dstIp)
  }

  /** `hashString(key(dstIp, dstHost))`: a name's remembered, an owner's per AS, an IPv4 prefix's hashed in place. */
  hash(dstIp: string, dstHost: string | undefined): number {
    if (dstHost !== undefined && dstHost.length > 0) {
      let h = this.byName.get(dstHost)
      if (h === undefined) {
        h = hashString(registeredDomain(dstHost))
        if (this.byName.size >= MAX_REMEMBERED) this.byName.clear()
        this.byName.set(dstHost, h)
      }
      return h
    }
    const n = ipv4Number(dstIp)
    const r = this.row(dstIp, n)
    if (r >= 0) {
      const asn = this.owners!.asnOf(r)
      let h = this.byOwner.get(asn)
      if (h === undefined) {
        h = hashString(`AS${asn}`)
        this.byOwner.set(asn, h)
      }
      return h
    }
    return n >= 0 ? prefixHashV4(dstIp) : hashString(prefixKey(dstIp))
  }

  /** What evidence says of a destination: its address, name, registered domain, and its address's owner and range. */
  facts(dstIp: string, dstHost: string | undefined): DestinationFacts {
    const named = dstHost !== undefined && dstHost.length > 0
    const r = this.row(dstIp)
    return {
      address: dstIp,
      name: named ? dstHost.toLowerCase() : null,
      domain: named ? registeredDomain(dstHost) : null,
      asn: r >= 0 ? this.owners!.asnOf(r) : null,
      owner: r >= 0 ? this.owners!.nameOf(r) : null,
      range: r >= 0 ? this.owners!.rangeOf(r) : null,
    }
  }
}

const SUFFIX_24 = '.0/24'

/** `hashString(prefixKey(ip))` of a dotted quad, hashed in place (its characters to the last dot, then `.0/24`). */
const prefixHashV4 = (ip: string): number => {
  const lastDot = ip.lastIndexOf('.')
  let h = FNV_OFFSET
  for (let i = 0; i < lastDot; i++) h = fnvStep(h, ip.charCodeAt(i))
  for (let i = 0; i < SUFFIX_24.length; i++) h = fnvStep(h, SUFFIX_24.charCodeAt(i))
  return fnvFinish(h)
}
