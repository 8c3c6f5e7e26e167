// IP address helpers: parsing to numbers, CIDR matching, private/special ranges, destination keys.
import { FNV_OFFSET, fnvFinish, fnvStep, hashString } from './window.ts'

/** IPv4 dotted quad → unsigned 32-bit number, or -1 when not IPv4. */
export const ipv4ToNumber = (ip: string): number => {
  let n = 0
  let part = 0
  let digits = 0
  let dots = 0
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i)
    if (c === 46) {
      if (digits === 0 || part > 255) return -1
      n = n * 256 + part
      part = 0
      digits = 0
      dots++
    } else if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48)
      digits++
    } else {
      return -1
    }
  }
  if (dots !== 3 || digits === 0 || part > 255) return -1
  return n * 256 + part
}

/** Expands an IPv6 address to its 8 hextets, or null when it is not IPv6. */
export const ipv6Hextets = (ip: string): number[] | null => {
  if (!ip.includes(':')) return null
  const zone = ip.indexOf('%')
  const addr = zone >= 0 ? ip.slice(0, zone) : ip
  const [head = '', tail] = addr.split('::')
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((h) => Number.parseInt(h, 16)))
  const h = parse(head)
  const t = tail === undefined ? [] : parse(tail)
  const fill = 8 - h.length - t.length
  if (fill < 0 || (tail === undefined && fill !== 0)) return null
  const all = [...h, ...new Array<number>(fill).fill(0), ...t]
  return all.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffff) ? all : null
}

export interface Cidr {
  readonly v6: boolean
  /** IPv4: the network as a number; IPv6: the hextets. */
  readonly v4net: number
  readonly v6net: readonly number[]
  readonly bits: number
}

/** Parses `a.b.c.d/n`, `x:y::/n` or a bare address (a /32 or /128); throws on bad input. */
export const parseCidr = (text: string): Cidr => {
  const [addr = '', len] = text.split('/')
  const v4 = ipv4ToNumber(addr)
  if (v4 >= 0) {
    const bits = len === undefined ? 32 : Number(len)
    if (!Number.isInteger(bits) || bits < 0 || bits > 32) throw new Error(`invalid prefix length in ${text}`)
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
    return { v6: false, v4net: (v4 & mask) >>> 0, v6net: [], bits }
  }
  const hex = ipv6Hextets(addr)
  if (hex === null) throw new Error(`not an IP address or CIDR: ${text}`)
  const bits = len === undefined ? 128 : Number(len)
  if (!Number.isInteger(bits) || bits < 0 || bits > 128) throw new Error(`invalid prefix length in ${text}`)
  return { v6: true, v4net: 0, v6net: hex, bits }
}

export const cidrContains = (cidr: Cidr, ip: string): boolean => {
  if (!cidr.v6) {
    const n = ipv4ToNumber(ip)
    if (n < 0) return false
    const mask = cidr.bits === 0 ? 0 : (0xffffffff << (32 - cidr.bits)) >>> 0
    return ((n & mask) >>> 0) === cidr.v4net
  }
  const hex = ipv6Hextets(ip)
  if (hex === null) return false
  let bits = cidr.bits
  for (let i = 0; i < 8 && bits > 0; i++, bits -= 16) {
    const take = Math.min(16, bits)
    const mask = (0xffff << (16 - take)) & 0xffff
    if ((hex[i]! & mask) !== (cidr.v6net[i]! & mask)) return false
  }
  return true
}

const SPECIAL_V4 = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12',
  '192.168.0.0/16', '224.0.0.0/4', '240.0.0.0/4',
].map(parseCidr)

/**
 * True for destinations that are not on the internet: private, loopback, link-local, CGNAT,
 * multicast, broadcast and reserved IPv4; loopback, link-local, unique-local and multicast IPv6.
 */
export const isLocalAddress = (ip: string): boolean => {
  const n = ipv4ToNumber(ip)
  if (n >= 0) {
    for (const c of SPECIAL_V4) {
      const mask = c.bits === 0 ? 0 : (0xffffffff << (32 - c.bits)) >>> 0
      if (((n & mask) >>> 0) === c.v4net) return true
    }
    return false
  }
  const first = ip.slice(0, 4).toLowerCase()
  return ip === '::1' || ip === '::' || first.startsWith('fe8') || first.startsWith('fe9') ||
    first.startsWith('fea') || first.startsWith('feb') || first.startsWith('fc') || first.startsWith('fd') ||
    first.startsWith('ff')
}

/** True for multicast and broadcast destinations, which no device "talks to". */
export const isMulticast = (ip: string): boolean => {
  const n = ipv4ToNumber(ip)
  if (n >= 0) return n >= 0xe0000000
  return ip.toLowerCase().startsWith('ff')
}

const SUFFIX_24 = '.0/24'

/**
 * `hashString(destinationKey(dstIp, dstHost))` without building the key: the hot path hashes the
 * characters in place (host names lower-cased as they go). Names with characters beyond ASCII and
 * IPv6 addresses take the plain path.
 */
export const destinationHash = (dstIp: string, dstHost: string | undefined): number => {
  let h = FNV_OFFSET
  if (dstHost !== undefined && dstHost.length > 0) {
    const end = dstHost.endsWith('.') ? dstHost.length - 1 : dstHost.length
    const last = dstHost.lastIndexOf('.', end - 1)
    const second = last > 0 ? dstHost.lastIndexOf('.', last - 1) : -1
    for (let i = second + 1; i < end; i++) {
      let c = dstHost.charCodeAt(i)
      if (c > 127) return hashString(destinationKey(dstIp, dstHost))
      if (c >= 65 && c <= 90) c += 32
      h = fnvStep(h, c)
    }
    return fnvFinish(h)
  }
  const lastDot = dstIp.lastIndexOf('.')
  if (lastDot <= 0 || dstIp.includes(':')) return hashString(destinationKey(dstIp, dstHost))
  for (let i = 0; i < lastDot; i++) h = fnvStep(h, dstIp.charCodeAt(i))
  for (let i = 0; i < SUFFIX_24.length; i++) h = fnvStep(h, SUFFIX_24.charCodeAt(i))
  return fnvFinish(h)
}

/**
 * The identity of a destination for novelty: the host name's last two labels when the collector
 * knows the name (CDN edges and rotating IPs collapse to one service), else the IPv4 /24 or the
 * IPv6 /48 (hosting moves inside a prefix far more often than across prefixes).
 */
export const destinationKey = (dstIp: string, dstHost: string | undefined): string => {
  if (dstHost !== undefined && dstHost.length > 0) {
    const end = dstHost.endsWith('.') ? dstHost.length - 1 : dstHost.length
    const last = dstHost.lastIndexOf('.', end - 1)
    const second = last > 0 ? dstHost.lastIndexOf('.', last - 1) : -1
    return dstHost.slice(second + 1, end).toLowerCase()
  }
  const lastDot = dstIp.lastIndexOf('.')
  if (lastDot > 0 && !dstIp.includes(':')) return dstIp.slice(0, lastDot) + '.0/24'
  const hex = ipv6Hextets(dstIp)
  return hex === null ? dstIp : `${hex.slice(0, 3).map((h) => h.toString(16)).join(':')}::/48`
}
