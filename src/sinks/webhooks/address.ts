// Which addresses a webhook may reach: public ones only, unless its target sets allowPrivateNetworks. A URL
// naming 169.254.169.254 (cloud metadata), loopback or a private network would let whoever writes the
// configuration, or controls a receiver's DNS, make the service call inside its own network.
import { BlockList, isIP } from 'node:net'

/** Why an address is refused. */
export type AddressCategory =
  | 'unspecified'
  | 'loopback'
  | 'link-local'
  | 'private'
  | 'carrier-grade NAT'
  | 'multicast'
  | 'broadcast'
  | 'reserved'

type Subnet = readonly [network: string, prefix: number]

/**
 * IPv4 ranges by category, in the order they are tried (the first match names the category, so
 * broadcast comes before the reserved 240/4 that holds it). BlockList matches an IPv4 rule against
 * the IPv4-mapped IPv6 form too (`::ffff:127.0.0.1`), so these cover both.
 */
const IPV4: readonly (readonly [AddressCategory, readonly Subnet[]])[] = [
  // 0.0.0.0/8 is "this network": connecting to 0.0.0.0 reaches the local host on Linux.
  ['unspecified', [['0.0.0.0', 8]]],
  ['loopback', [['127.0.0.0', 8]]],
  ['link-local', [['169.254.0.0', 16]]],
  ['private', [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16]]],
  ['carrier-grade NAT', [['100.64.0.0', 10]]],
  ['multicast', [['224.0.0.0', 4]]],
  ['broadcast', [['255.255.255.255', 32]]],
  // IETF protocol assignments, documentation, benchmarking, and the future-use 240/4: no receiver lives there.
  ['reserved', [['192.0.0.0', 24], ['192.0.2.0', 24], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24], ['240.0.0.0', 4]]],
]

/** NAT64's well-known prefix: the IPv4 address in its last 32 bits is where the translator connects. */
const NAT64 = '64:ff9b::'

const IPV6: readonly (readonly [AddressCategory, readonly Subnet[]])[] = [
  ['unspecified', [['::', 128]]],
  ['loopback', [['::1', 128]]],
  ['link-local', [['fe80::', 10]]],
  // Unique local addresses, the deprecated site-local ones, and NAT64's local-use prefix (translated to anything).
  ['private', [['fc00::', 7], ['fec0::', 10], ['64:ff9b:1::', 48]]],
  ['multicast', [['ff00::', 8]]],
  // Teredo and 6to4 carry an IPv4 address the relay picks the route to; benchmarking; documentation.
  ['reserved', [['2001::', 32], ['2001:2::', 48], ['2001:db8::', 32], ['2002::', 16]]],
]

const blockList = (category: AddressCategory): BlockList => {
  const list = new BlockList()
  for (const [network, prefix] of IPV4.find(([c]) => c === category)?.[1] ?? []) {
    list.addSubnet(network, prefix, 'ipv4')
    // The same range seen through NAT64 (`64:ff9b::a9fe:a9fe` is 169.254.169.254).
    list.addSubnet(`${NAT64}${network}`, 96 + prefix, 'ipv6')
  }
  for (const [network, prefix] of IPV6.find(([c]) => c === category)?.[1] ?? []) list.addSubnet(network, prefix, 'ipv6')
  return list
}

const CATEGORIES: readonly AddressCategory[] = ['unspecified', 'loopback', 'link-local', 'private', 'carrier-grade NAT', 'multicast', 'broadcast', 'reserved']
const LISTS: readonly (readonly [AddressCategory, BlockList])[] = CATEGORIES.map((c) => [c, blockList(c)])

/**
 * IPv6 outside these is not global unicast (2000::/3) and is refused as reserved; IPv4-mapped and
 * NAT64 addresses were judged by their IPv4 part above.
 */
const GLOBAL_IPV6 = new BlockList()
GLOBAL_IPV6.addSubnet('2000::', 3, 'ipv6')
GLOBAL_IPV6.addSubnet('::ffff:0:0', 96, 'ipv6')
GLOBAL_IPV6.addSubnet(NAT64, 96, 'ipv6')

/** The category an IP address is refused for, or null for a public address. `address` must be an IP address. */
export const classifyAddress = (address: string): AddressCategory | null => {
  // A zone (`fe80::1%eth0`) only says which interface; BlockList does not read it.
  const ip = address.split('%', 1)[0]!
  const family = isIP(ip)
  if (family === 0) throw new TypeError(`not an IP address: ${ip}`)
  const type = family === 4 ? 'ipv4' : 'ipv6'
  for (const [category, list] of LISTS) if (list.check(ip, type)) return category
  if (type === 'ipv6' && !GLOBAL_IPV6.check(ip, 'ipv6')) return 'reserved'
  return null
}

/** An address a target without allowPrivateNetworks may not connect to. Its message names the address, never the URL. */
export class RefusedAddressError extends Error {
  override readonly name = 'RefusedAddressError'

  constructor(
    readonly address: string,
    readonly category: AddressCategory,
  ) {
    super(`address ${address} is ${category}: refused (allowPrivateNetworks: false)`)
  }
}

/** The refusal of an address, or null when it may be connected to. */
export const refusal = (address: string): RefusedAddressError | null => {
  const category = classifyAddress(address)
  return category === null ? null : new RefusedAddressError(address, category)
}
