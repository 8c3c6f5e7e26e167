// Which source addresses are the fleet's devices (devices.networks), and what the inventory says of an address (its device's name, its model).
import { NetworkSet, parseNetwork } from './net.ts'

export interface InventoryEntry {
  readonly model?: string | undefined
  readonly firmware?: string | undefined
  /** Addresses of this one device (dual stack, several interfaces): their events are the device's. */
  readonly addresses?: readonly string[] | undefined
}

/** Source addresses remembered as inside or outside at most; past it the memory starts again. */
const MAX_REMEMBERED = 65_536

/**
 * The fleet's members. A flow whose device is its source address (as every collector reports) and
 * whose address lies outside `devices.networks` is not a device's egress (an inbound scan, a reply,
 * an outside host a sensor saw): it is counted, never judged. The inventory names the device of an
 * address listed in an entry's `addresses`, and gives a model and firmware by device id, by
 * address, or by a CIDR key (the longest prefix wins).
 */
export class FleetMembers {
  private readonly inside: NetworkSet
  private readonly remembered = new Map<string, boolean>()
  private readonly names = new Map<string, string>()
  private readonly byId: ReadonlyMap<string, InventoryEntry>
  private readonly ranges: { readonly set: NetworkSet; readonly prefix: number; readonly entry: InventoryEntry }[] = []

  constructor(networks: readonly string[], inventory: Readonly<Record<string, InventoryEntry>> = {}) {
    this.inside = new NetworkSet(networks)
    const byId = new Map<string, InventoryEntry>()
    for (const [key, entry] of Object.entries(inventory)) {
      for (const a of entry.addresses ?? []) this.names.set(a.toLowerCase(), key)
      if (key.includes('/')) {
        const net = parseNetwork(key)
        if (net === null) throw new Error(`inventory key ${key}: not an IP network`)
        this.ranges.push({ set: new NetworkSet([key]), prefix: net.prefix, entry })
      } else {
        byId.set(key, entry)
      }
    }
    this.ranges.sort((a, b) => b.prefix - a.prefix)
    this.byId = byId
  }

  /** Whether a source address is one of the fleet's (undefined: the event names its device only). */
  isMember(srcIp: string | undefined): boolean {
    if (srcIp === undefined) return true
    let inside = this.remembered.get(srcIp)
    if (inside === undefined) {
      inside = this.inside.has(srcIp)
      if (this.remembered.size >= MAX_REMEMBERED) this.remembered.clear()
      this.remembered.set(srcIp, inside)
    }
    return inside
  }

  /** The device an address belongs to when the inventory lists it among a device's addresses; undefined otherwise. */
  nameOf(srcIp: string | undefined): string | undefined {
    return srcIp === undefined || this.names.size === 0 ? undefined : this.names.get(srcIp.toLowerCase())
  }

  /** What the inventory says of a device: by its id, else by the longest CIDR key holding its address. */
  lookup(deviceId: string, srcIp: string | undefined): InventoryEntry | undefined {
    const exact = this.byId.get(deviceId) ?? (srcIp === undefined ? undefined : this.byId.get(srcIp))
    if (exact !== undefined || this.ranges.length === 0) return exact
    const address = srcIp ?? deviceId
    for (const r of this.ranges) if (r.set.has(address)) return r.entry
    return undefined
  }
}
