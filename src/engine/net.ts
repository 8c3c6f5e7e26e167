// Addresses and names: networks (node:net BlockList), which destinations are local, registered domains, address prefixes.
import { BlockList, isIP } from 'node:net'
import ipaddr from 'ipaddr.js'
import { getDomain } from 'tldts'

/** A CIDR (or a bare address, a /32 or /128) as `net.BlockList` takes it; null when `text` is neither. */
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

/**
 * A set of IP networks. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is in an IPv4 network that
 * holds `a.b.c.d`, as `net.BlockList` matches them.
 */
export class NetworkSet {
  private readonly list = new BlockList()

  /** Throws on a text that is not an IP network (configuration is checked before). */
  constructor(networks: readonly string[]) {
    for (const n of networks) {
      const net = parseNetwork(n)
      if (net === null) throw new Error(`not an IP network: ${n}`)
      this.list.addSubnet(net.address, net.prefix, net.family)
    }
  }

  /** Whether `ip` is an address inside one of the networks (false for anything else). */
  has(ip: string): boolean {
    const version = isIP(ip)
    return version !== 0 && this.list.check(ip, version === 4 ? 'ipv4' : 'ipv6')
  }
}

/**
 * Private and shared address space: RFC 1918, carrier-grade NAT (100.64.0.0/10, cellular IoT) and
 * IPv6 unique-local addresses. Not link-local (an interface's own), not global IPv6: a fleet on
 * global IPv6 prefixes lists them. The default of `devices.networks`.
 */
export const PRIVATE_NETWORKS: readonly string[] = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7']

/**
 * Destinations that are not a device's egress to the internet, from the IANA special-purpose and
 * multicast registries: "this network" (0.0.0.0/8, ::/128), private use and shared address space,
 * loopback, link-local, IPv6 unique-local, multicast, the limited broadcast and 240.0.0.0/4. Not the
 * documentation and benchmarking ranges: they never reach a collector in real traffic, and the
 * synthetic fleet uses them as the internet.
 */
const LOCAL = new NetworkSet([
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16', '224.0.0.0/4',
  '240.0.0.0/4', '::/128', '::1/128', 'fc00::/7', 'fe80::/10', 'ff00::/8',
])
const MULTICAST = new NetworkSet(['224.0.0.0/4', '240.0.0.0/4', 'ff00::/8'])

/** Destination addresses remembered (their class) at most; past it the memory starts again. */
const MAX_REMEMBERED = 65_536
const IS_LOCAL = 1
const IS_MULTICAST = 2
const classes = new Map<string, number>()

/** LOCAL and MULTICAST bits of an address, remembered: a BlockList lookup costs a microsecond, flows repeat addresses. */
const classOf = (ip: string): number => {
  let c = classes.get(ip)
  if (c === undefined) {
    c = (LOCAL.has(ip) ? IS_LOCAL : 0) | (MULTICAST.has(ip) ? IS_MULTICAST : 0)
    if (classes.size >= MAX_REMEMBERED) classes.clear()
    classes.set(ip, c)
  }
  return c
}

/** True for destinations that are not on the internet (see LOCAL), IPv4-mapped ones included. */
export const isLocalAddress = (ip: string): boolean => (classOf(ip) & IS_LOCAL) !== 0

/** True for multicast and broadcast destinations, which no device "talks to". */
export const isMulticast = (ip: string): boolean => (classOf(ip) & IS_MULTICAST) !== 0

/**
 * The registered domain of a host name, by the Public Suffix List with its private section (the
 * part a customer of a cloud or CDN registers under it: `a.b.example.co.uk` → `example.co.uk`,
 * `bucket.s3.amazonaws.com` stays itself); the name itself, lower-cased, when it has none (a
 * single label, or a suffix itself).
 */
export const registeredDomain = (host: string): string => {
  const name = (host.endsWith('.') ? host.slice(0, -1) : host).toLowerCase()
  return getDomain(name, { allowPrivateDomains: true }) ?? name
}

/** An address's /24 (IPv4, IPv4-mapped included) or /48 (IPv6); the text itself when it is no address. */
export const prefixKey = (ip: string): string => {
  if (!ipaddr.isValid(ip)) return ip
  const addr = ipaddr.process(ip)
  if (addr.kind() === 'ipv4') {
    const o = (addr as ipaddr.IPv4).octets
    return `${o[0]}.${o[1]}.${o[2]}.0/24`
  }
  const p = (addr as ipaddr.IPv6).parts
  return `${p[0]!.toString(16)}:${p[1]!.toString(16)}:${p[2]!.toString(16)}::/48`
}
