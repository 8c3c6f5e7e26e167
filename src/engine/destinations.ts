// One identity for a destination, by precedence: the registered domain of its name, else the owner (AS) of its address, else its prefix.
import { hashString } from './window.ts'
import { prefixKey, registeredDomain } from './net.ts'
import { OwnerTable } from './owners.ts'

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
  private readonly byAddress = new Map<string, number>()
  /** The owner table's row of each address remembered (-1: none). */
  private readonly rows = new Map<string, number>()

  constructor(readonly owners: OwnerTable | null) {}

  /** The table of `destinations.owners`: `builtin`, `none`, or a CSV file's path. */
  static fromConfig(owners: string): Destinations {
    return new Destinations(owners === 'none' ? null : OwnerTable.load(owners))
  }

  /** The owner table's row of an address, or -1. */
  private row(ip: string): number {
    if (this.owners === null) return -1
    let r = this.rows.get(ip)
    if (r === undefined) {
      r = this.owners.row(ip)
      if (this.rows.size >= MAX_REMEMBERED) this.rows.clear()
      this.rows.set(ip, r)
    }
    return r
  }

  /** The identity, as text: `example.co.uk`, `AS16509`, `203.0.113.0/24`. */
  key(dstIp: string, dstHost: string | undefined): string {
    if (dstHost !== undefined && dstHost.length > 0) return registeredDomain(dstHost)
    const r = this.row(dstIp)
    return r >= 0 ? `AS${this.owners!.asnOf(r)}` : prefixKey(dstIp)
  }

  /** `hashString(key(dstIp, dstHost))`, remembered. */
  hash(dstIp: string, dstHost: string | undefined): number {
    const named = dstHost !== undefined && dstHost.length > 0
    const memory = named ? this.byName : this.byAddress
    const at = named ? dstHost : dstIp
    let h = memory.get(at)
    if (h === undefined) {
      h = hashString(this.key(dstIp, dstHost))
      if (memory.size >= MAX_REMEMBERED) memory.clear()
      memory.set(at, h)
    }
    return h
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
