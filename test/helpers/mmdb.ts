// Writes small MaxMind DB files for tests (format 2.0: an IPv6 search tree with 24-bit records, a data section, metadata), after the published specification.
import ipaddr from 'ipaddr.js'

type Value = string | number | bigint | readonly Value[] | { readonly [key: string]: Value }

/** A control byte (and its extended-type and size bytes) for `type` and `size`. */
const control = (type: number, size: number): number[] => {
  const out: number[] = []
  const extended = type > 7
  const sizeBits = size < 29 ? size : size < 285 ? 29 : 30
  out.push(((extended ? 0 : type) << 5) | sizeBits)
  if (extended) out.push(type - 7)
  if (sizeBits === 29) out.push(size - 29)
  if (sizeBits === 30) out.push((size - 285) >> 8, (size - 285) & 255)
  return out
}

const unsigned = (type: number, n: bigint): number[] => {
  const bytes: number[] = []
  for (let v = n; v > 0n; v >>= 8n) bytes.unshift(Number(v & 255n))
  return [...control(type, bytes.length), ...bytes]
}

/** Encodes a value: strings (utf8), integers (uint32; uint64 as bigint), arrays and maps. */
const encode = (v: Value): number[] => {
  if (typeof v === 'string') {
    const bytes = [...Buffer.from(v, 'utf8')]
    return [...control(2, bytes.length), ...bytes]
  }
  if (typeof v === 'number') return unsigned(6, BigInt(v))
  if (typeof v === 'bigint') return unsigned(9, v)
  if (Array.isArray(v)) return [...control(11, v.length), ...v.flatMap(encode)]
  const entries = Object.entries(v as Record<string, Value>)
  return [...control(7, entries.length), ...entries.flatMap(([k, x]) => [...encode(k), ...encode(x)])]
}

interface Node { left: Node | number | null; right: Node | number | null }

/** The bits of a network's address (in an IPv6 tree IPv4 as `::a.b.c.d`) and its prefix length in the tree. */
const bitsOf = (cidr: string, ipVersion: 4 | 6): { bits: number[]; length: number } => {
  const [address, prefix] = ipaddr.parseCIDR(cidr)
  if (ipVersion === 4 && address.kind() !== 'ipv4') throw new Error(`${cidr}: IPv6 in an IPv4 database`)
  const pad = address.kind() === 'ipv4' && ipVersion === 6 ? 12 : 0
  const bytes = [...new Array<number>(pad).fill(0), ...address.toByteArray()]
  const bits = bytes.flatMap((b) => [7, 6, 5, 4, 3, 2, 1, 0].map((i) => (b >> i) & 1))
  return { bits, length: pad * 8 + prefix }
}

/**
 * An MMDB file holding `records` (CIDR → record), of `databaseType`, with an IPv6 tree (IPv4 within
 * it) or an IPv4 one. Networks must not overlap. Lookups give each network's record and its prefix
 * length (IPv4 ones relative to IPv4).
 */
export const writeMmdb = (records: Readonly<Record<string, Value>>, databaseType = 'GeoLite2-ASN', ipVersion: 4 | 6 = 6): Buffer => {
  const data: number[] = []
  const root: Node = { left: null, right: null }
  for (const [cidr, record] of Object.entries(records)) {
    const offset = data.length
    data.push(...encode(record))
    const { bits, length } = bitsOf(cidr, ipVersion)
    let node = root
    for (let i = 0; i < length - 1; i++) {
      const side = bits[i] ? 'right' : 'left'
      const next = node[side]
      if (typeof next === 'number') throw new Error(`${cidr} overlaps another network`)
      node = next ?? (node[side] = { left: null, right: null })
    }
    node[bits[length - 1] ? 'right' : 'left'] = offset
  }
  // Nodes numbered breadth first from the root (0).
  const nodes: Node[] = [root]
  for (let i = 0; i < nodes.length; i++) for (const child of [nodes[i]!.left, nodes[i]!.right]) if (child !== null && typeof child === 'object') nodes.push(child)
  const number = new Map(nodes.map((n, i) => [n, i]))
  const count = nodes.length
  const record = (r: Node | number | null): number => (r === null ? count : typeof r === 'number' ? count + 16 + r : number.get(r)!)
  const tree = Buffer.alloc(count * 6)
  nodes.forEach((n, i) => {
    tree.writeUIntBE(record(n.left), i * 6, 3)
    tree.writeUIntBE(record(n.right), i * 6 + 3, 3)
  })
  const metadata = encode({
    node_count: count, record_size: 24, ip_version: ipVersion, database_type: databaseType, languages: ['en'],
    binary_format_major_version: 2, binary_format_minor_version: 0, build_epoch: 1_796_000_000n, description: { en: 'egress-sentinel test database' },
  })
  return Buffer.concat([tree, Buffer.alloc(16), Buffer.from(data), Buffer.from([0xab, 0xcd, 0xef, ...Buffer.from('MaxMind.com', 'latin1')]), Buffer.from(metadata)])
}
