// Which source addresses are the fleet's devices (devices.networks), and what the inventory says of an address (its device's name, its model).
import { BlockList, isIP } from 'node:net'

export interface InventoryEntry {
  readonly model?: string | undefined
  readonly firmware?: string | undefined
  /** Addresses of this one device (dual stack, several interfaces): their events are the device's. */
  readonly addresses?: readonly string[] | undefined
}

/** A CIDR (or a bare address) as `net.BlockList` takes it; null when `text` is neither. */
export const parseNetwork = (text: string): { readonly address: string; readonly prefix: number; readonly family: 'ipv4' | 'ipv6' } | null => {
  const slash = text.indexOf('/')
  const address = slash < 0 ? text : text.slice(0, slash)
  const version = isIP(address)
  if (version === 0) return null
  const max = version === 4 ? 32 : 128
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1)
  if (!/^\d{1,3}$/.test(prefixText)) return null
  const prefix = Number(prefixText)
  if (prefix > max) return null
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' }
}

const blockList = (networks: readonly string[]): BlockList => {
  const list = new BlockList()
  for (const n of networks) {
    const net = parseNetwork(n)
    if (net === null) throw new Error(`not an IP network: ${n}`)
    list.addSubnet(net.address, net.prefix, net.family)
  }
  return list
}

const check = (list: BlockList, address: string): boolean => {
  const version = isIP(address)
  return version !== 0 && list.check(address, version === 4 ? 'ipv4' : 'ipv6')
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
  private readonly inside: BlockList
  private readonly remembered = new Map<string, boolean>()
  private readonly names = new Map<string, string>()
  private readonly byId: ReadonlyMap<string, InventoryEntry>
  private readonly ranges: { readonly list: BlockList; readonly prefix: number; readonly entry: InventoryEntry }[] = []

  constructor(networks: readonly string[], inventory: Readonly<Record<string, InventoryEntry>> = {}) {
    this.inside = blockList(networks)
    const byId = new Map<string, InventoryEntry>()
    for (const [key, entry] of Object.entries(inventory)) {
      for (const a of entry.addresses ?? []) this.names.set(a.toLowerCase(), key)
      if (key.includes('/')) {
        const net = parseNetwork(key)
        if (net === null) throw new Error(`inventory key ${key}: not an IP network`)
        this.ranges.push({ list: blockList([key]), prefix: net.prefix, entry })
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
      inside = check(this.inside, srcIp)
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
    for (const r of this.ranges) if (check(r.list, address)) return r.entry
    return undefined
  }
}

/**
 * Private and shared address space: RFC 1918, carrier-grade NAT (100.64.0.0/10, cellular IoT) and
 * IPv6 unique-local addresses. Not link-local (an interface's own), not global IPv6: a fleet on
 * global IPv6 prefixes lists them.
 */
export const PRIVATE_NETWORKS: readonly string[] = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7']
