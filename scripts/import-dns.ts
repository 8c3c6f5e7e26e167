// Writes the DNS answers of packet captures as Zeek dns.log JSON lines (fixtures/collectors/dns/), for the tests of names from DNS.
//   node dist/scripts/import-dns.js [collectorsDir]   (collectorsDir defaults to ../shared/data/collectors)
// Reads classic libpcap files (Ethernet, 802.1Q), IPv4 and IPv6 over UDP from port 53; each response
// with A or AAAA answers becomes one row: ts, id.orig_h (the client), id.orig_p, id.resp_h, id.resp_p,
// proto, query, answers (the query's CNAMEs and addresses, as Zeek lists them) and TTLs.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** The captures of benign devices whose flows fixtures/collectors holds. */
export const CAPTURES = ['tjoconnor-schlage-lock-01', 'tjoconnor-blink-cam-01']

interface Row {
  ts: number
  'id.orig_h': string
  'id.orig_p': number
  'id.resp_h': string
  'id.resp_p': number
  proto: 'udp'
  query: string
  answers: string[]
  TTLs: number[]
}

/** A DNS name at `at` (labels, or a pointer into the message), and where the field after it begins. */
const readName = (msg: Buffer, at: number): { name: string; next: number } => {
  const labels: string[] = []
  let next = -1
  for (let hops = 0; hops < 32; hops++) {
    const len = msg[at]!
    if (len === 0) {
      if (next < 0) next = at + 1
      break
    }
    if ((len & 0xc0) === 0xc0) {
      if (next < 0) next = at + 2
      at = ((len & 0x3f) << 8) | msg[at + 1]!
      continue
    }
    labels.push(msg.toString('latin1', at + 1, at + 1 + len))
    at += 1 + len
  }
  return { name: labels.join('.').toLowerCase(), next }
}

const ipv6 = (b: Buffer, at: number): string => {
  const parts: string[] = []
  for (let i = 0; i < 8; i++) parts.push(b.readUInt16BE(at + 2 * i).toString(16))
  return parts.join(':').replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:{3,}/, '::')
}

/** The answer rows of a DNS response, or null when it is no response with an address. */
const dnsAnswers = (msg: Buffer): { query: string; answers: string[]; ttls: number[] } | null => {
  if (msg.length < 12 || (msg[2]! & 0x80) === 0) return null
  const qd = msg.readUInt16BE(4)
  const an = msg.readUInt16BE(6)
  if (qd < 1 || an < 1) return null
  const q = readName(msg, 12)
  let at = q.next + 4
  for (let i = 1; i < qd; i++) at = readName(msg, at).next + 4
  const answers: string[] = []
  const ttls: number[] = []
  for (let i = 0; i < an && at + 10 <= msg.length; i++) {
    const rr = readName(msg, at)
    const type = msg.readUInt16BE(rr.next)
    const ttl = msg.readUInt32BE(rr.next + 4)
    const len = msg.readUInt16BE(rr.next + 8)
    const data = rr.next + 10
    if (type === 1 && len === 4) answers.push(`${msg[data]}.${msg[data + 1]}.${msg[data + 2]}.${msg[data + 3]}`)
    else if (type === 28 && len === 16) answers.push(ipv6(msg, data))
    else if (type === 5) answers.push(readName(msg, data).name)
    else {
      at = data + len
      continue
    }
    ttls.push(ttl)
    at = data + len
  }
  return answers.length > 0 ? { query: q.name, answers, ttls } : null
}

/** The DNS responses of a classic libpcap capture of Ethernet frames, as Zeek dns.log rows. */
export const dnsRows = (pcap: Buffer): Row[] => {
  const magic = pcap.readUInt32LE(0)
  if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) throw new Error('not a little-endian libpcap capture')
  const nanos = magic === 0xa1b23c4d
  const rows: Row[] = []
  for (let at = 24; at + 16 <= pcap.length;) {
    const sec = pcap.readUInt32LE(at)
    const frac = pcap.readUInt32LE(at + 4)
    const caplen = pcap.readUInt32LE(at + 8)
    const frame = pcap.subarray(at + 16, at + 16 + caplen)
    at += 16 + caplen
    let off = 12
    let ethertype = frame.readUInt16BE(off)
    if (ethertype === 0x8100) {
      off += 4
      ethertype = frame.readUInt16BE(off)
    }
    off += 2
    let src: string
    let dst: string
    let udp: number
    if (ethertype === 0x0800 && frame[off + 9] === 17) {
      src = `${frame[off + 12]}.${frame[off + 13]}.${frame[off + 14]}.${frame[off + 15]}`
      dst = `${frame[off + 16]}.${frame[off + 17]}.${frame[off + 18]}.${frame[off + 19]}`
      udp = off + (frame[off]! & 0x0f) * 4
    } else if (ethertype === 0x86dd && frame[off + 6] === 17) {
      src = ipv6(frame, off + 8)
      dst = ipv6(frame, off + 24)
      udp = off + 40
    } else continue
    if (udp + 8 > frame.length || frame.readUInt16BE(udp) !== 53) continue
    const answer = dnsAnswers(frame.subarray(udp + 8))
    if (answer === null) continue
    rows.push({
      ts: sec + frac / (nanos ? 1e9 : 1e6), 'id.orig_h': dst, 'id.orig_p': frame.readUInt16BE(udp + 2), 'id.resp_h': src, 'id.resp_p': 53, proto: 'udp',
      query: answer.query, answers: answer.answers, TTLs: answer.ttls,
    })
  }
  return rows
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
  const from = process.argv[2] ?? path.join(root, '../shared/data/collectors')
  const to = path.join(root, 'fixtures/collectors/dns')
  mkdirSync(to, { recursive: true })
  for (const capture of CAPTURES) {
    const rows = dnsRows(readFileSync(path.join(from, 'pcaps', `${capture}.pcap`)))
    writeFileSync(path.join(to, `${capture}.dns.log.json`), rows.map((r) => JSON.stringify(r)).join('\n') + '\n')
    process.stderr.write(`${capture}: ${rows.length} answers → fixtures/collectors/dns/${capture}.dns.log.json\n`)
  }
}
