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
const LOCAL_NETWORKS = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16', '224.0.0.0/4',
  '240.0.0.0/4', '::/128', '::1/128', 'fc00::/7', 'fe80::/10', 'ff00::/8',
]
const MULTICAST_NETWORKS = ['224.0.0.0/4', '240.0.0.0/4', 'ff00::/8']
const LOCAL = new NetworkSet(LOCAL_NETWORKS)
const MULTICAST = new NetworkSet(MULTICAST_NETWORKS)

/** The IPv4 networks of a list as [first, last] numbers, parsed by ipaddr.js: the hot path compares numbers. */
const v4Ranges = (networks: readonly string[]): number[] => {
  const out: number[] = []
  for (const n of networks) {
    const [addr, prefix] = ipaddr.parseCIDR(n)
    if (addr.kind() !== 'ipv4') continue
    const first = ipv4Number(addr.toString())
    out.push(first, first + 2 ** (32 - prefix) - 1)
  }
  return out
}

const inRanges = (ranges: readonly number[], n: number): boolean => {
  for (let i = 0; i < ranges.length; i += 2) if (n >= ranges[i]! && n <= ranges[i + 1]!) return true
  return false
}

/** An IPv4 address given as an unsigned 32-bit number, as a dotted quad (the inverse of `ipv4Number`). */
export const ipv4Text = (n: number): string => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`

/**
 * An address as a state keeps it: a dotted quad as a small integer (no string of its own to hold),
 * any other text as itself. `addressText` gives the text back exactly: `ipv4Number` takes only
 * the one spelling of a dotted quad that `ipv4Text` writes.
 */
export const compactAddress = (ip: string): number | string => {
  const n = ipv4Number(ip)
  return n < 0 ? ip : n | 0
}

export const addressText = (a: number | string): string => (typeof a === 'number' ? ipv4Text(a >>> 0) : a)

/** Each octet's rank among the 256 octets' texts in text order ("0" < "1" < "10" < "100" < ... < "99"). */
const OCTET_RANK = ((): Uint8Array => {
  const rank = new Uint8Array(256)
  Array.from({ length: 256 }, (_, i) => String(i))
    .sort()
    .forEach((text, r) => (rank[Number(text)] = r))
  return rank
})()

/**
 * Whether `a`'s text sorts before `b`'s, without writing either. Two dotted quads compare as their
 * octets' texts in turn: where one octet's text is a prefix of the other's, the shorter is followed
 * by a dot or the end, both below any digit.
 */
export const addressBefore = (a: number | string, b: number | string): boolean => {
  if (typeof a !== 'number' || typeof b !== 'number') return addressText(a) < addressText(b)
  for (let shift = 24; shift >= 0; shift -= 8) {
    const x = OCTET_RANK[(a >>> shift) & 255]!
    const y = OCTET_RANK[(b >>> shift) & 255]!
    if (x !== y) return x < y
  }
  return false
}

/**
 * A dotted-quad IPv4 address as an unsigned 32-bit number, or -1 for any other text (IPv6, a
 * mapped address, a name). The hot path's one parse: flows are mostly IPv4, and the library's
 * parse allocates; `test/unit/engine/net.test.ts` checks it against ipaddr.js.
 */
export const ipv4Number = (ip: string): number => {
  let n = 0
  let part = 0
  let digits = 0
  let dots = 0
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i)
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1
      n = n * 256 + part
      part = 0
      digits = 0
      dots++
    } else if (c >= 48 && c <= 57) {
      // No leading zeros (ipaddr.js reads 010 as octal; flows never write it).
      if (digits === 1 && part === 0) return -1
      part = part * 10 + (c - 48)
      if (++digits > 3 || part > 255) return -1
    } else {
      return -1
    }
  }
  if (dots !== 3 || digits === 0) return -1
  return n * 256 + part
}

const LOCAL_V4 = v4Ranges(LOCAL_NETWORKS)
const MULTICAST_V4 = v4Ranges(MULTICAST_NETWORKS)

/** True for destinations that are not on the internet (see LOCAL), IPv4-mapped ones included. */
export const isLocalAddress = (ip: string): boolean => {
  const n = ipv4Number(ip)
  return n >= 0 ? inRanges(LOCAL_V4, n) : LOCAL.has(ip)
}

/** True for multicast and broadcast destinations, which no device "talks to". */
export const isMulticast = (ip: string): boolean => {
  const n = ipv4Number(ip)
  return n >= 0 ? inRanges(MULTICAST_V4, n) : MULTICAST.has(ip)
}

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
