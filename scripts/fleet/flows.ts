// The synthetic network: address plan and destination pools, one connection (Flow), a traffic builder, and the per-minute flow collector.
import { hash32 } from './rng.ts'
import type { Rng } from './rng.ts'

export const SECOND = 1000
export const MINUTE = 60_000
export const HOUR = 3_600_000
export const MB = 1_000_000

export type Proto = 'tcp' | 'udp'

export interface Dest {
  readonly ip: string
  readonly port: number
  readonly proto: Proto
  /** DNS name, TLS SNI or MX host as an enriching collector reports it; undefined for raw-IP traffic. */
  readonly host: string | undefined
}

export const dest = (ip: string, port: number, proto: Proto, host?: string): Dest => ({ ip, port, proto, host })

/** One connection as the device made it (or one minute of a long transfer), before the collector sees it. */
export interface Flow {
  readonly ts: number
  readonly dest: Dest
  /** IP bytes, headers included (as NetFlow / Zeek orig_ip_bytes count them). */
  readonly bytesOut: number
  readonly bytesIn: number
  readonly packetsOut: number
  readonly durationMs: number
  /** Messages delivered over this connection: SMTP only, counted by the device's own agent. */
  readonly mails: number
}

export const MAIL_PORTS: ReadonlySet<number> = new Set([25, 465, 587])
export const isSmtp = (f: Flow): boolean => f.dest.proto === 'tcp' && MAIL_PORTS.has(f.dest.port)

// ---------------------------------------------------------------------------------------------
// Address plan. Vendor services live in the documentation ranges (192.0.2.0/24, 198.51.100.0/24,
// 203.0.113.0/24, fixed in models.ts); large pools live in the benchmark range 198.18.0.0/15.

const ipv4 = (n: number): string => `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
const BENCH = 0xc6120000 // 198.18.0.0

/** Index → offset in a block of 2^bits addresses: odd multiplier mod 2^bits is a bijection, so pools never collide yet do not look sequential. */
const scatter = (i: number, bits: number): number => (Math.imul(i, 0x9e3779b1) + 0x5bd1e995) & ((1 << bits) - 1)

/** 198.18.0.0/19: CDN edge caches. */
export const cdnEdge = (n: number): Dest => dest(ipv4(BENCH + scatter(n, 13)), 443, 'tcp', `edge-${n}.cdn.example`)
export const MX_DOMAINS = 4000
/** 198.18.32.0/19: the MX hosts of mail domain `n` (two per domain). */
export const mxHost = (domain: number, which: 1 | 2): Dest =>
  dest(ipv4(BENCH + 0x2000 + scatter(domain * 2 + which - 1, 13)), 25, 'tcp', `mx${which}.mail-${domain}.example`)
/** 198.18.64.0/20: the submission server of mail domain `n` (465 or 587, used with stolen credentials). */
export const submissionHost = (domain: number, port: 465 | 587): Dest =>
  dest(ipv4(BENCH + 0x4000 + scatter(domain, 12)), port, 'tcp', `smtp.mail-${domain}.example`)
/** 198.18.80.0/24: public NTP pool servers; the pool name resolves to a different one now and then. */
export const ntpPoolServer = (n: number): Dest => dest(ipv4(BENCH + 0x5000 + scatter(n, 8)), 123, 'udp', 'pool.ntp.example')
/** 198.18.81.0/24: certificate-status (OCSP) responders of the CAs that sign vendor certificates. */
export const ocspResponder = (ca: number): Dest => dest(ipv4(BENCH + 0x5100 + scatter(ca, 8)), 80, 'tcp', `ocsp.ca-${ca}.example`)
/** 198.18.82.0/24: third-party services (weather, ads, analytics, integrations), by name. */
export const thirdParty = (n: number, host: string, port = 443): Dest => dest(ipv4(BENCH + 0x5200 + scatter(n, 8)), port, 'tcp', host)
/** 198.18.84.0/22: advertising and tracking services, each its own registered domain. */
export const adTracker = (n: number): Dest => dest(ipv4(BENCH + 0x5400 + scatter(n, 10)), 443, 'tcp', `px.track-${n}.example`)
/** 198.18.88.0/21: web sites people visit, each its own registered domain. */
export const webSite = (n: number): Dest => dest(ipv4(BENCH + 0x5800 + scatter(n, 11)), 443, 'tcp', `www.site-${n}.example`)
/** 198.18.96.0/20: attacker infrastructure (loaders, C&C, drop sites). */
export const attackerHost = (n: number, port: number, host?: string, proto: Proto = 'tcp'): Dest =>
  dest(ipv4(BENCH + 0x6000 + scatter(n, 12)), port, proto, host)
/** 198.18.112.0/20: other households' public addresses (peers of an online game). */
export const residentialPeer = (n: number, port: number): Dest => dest(ipv4(BENCH + 0x7000 + scatter(n, 12)), port, 'udp')
/** A random address in 198.18.128.0 – 198.19.255.255: what a scanner hits. */
export const scanTarget = (rng: Rng, port: number): Dest => dest(ipv4(BENCH + 0x8000 + rng.int(0, 0x17fff)), port, 'tcp')
/** A device address: 10.0.0.0/8, never .0/.1/.255 of its /24. */
export const deviceAddress = (rng: Rng): string => `10.${rng.int(1, 254)}.${rng.int(0, 255)}.${rng.int(2, 254)}`
/** Another host on the device's /24 (LAN peers of a home hub). */
export const lanPeer = (srcIp: string, host: number): Dest => dest(`${srcIp.split('.').slice(0, 3).join('.')}.${host}`, 80, 'tcp')

// ---------------------------------------------------------------------------------------------
// Cloud services: vendor endpoints hosted by a cloud provider, answering from many of its addresses
// and moving among them through the day. Their addresses lie in the providers' real published
// ranges, so that an owner table knows them as it would in a deployment (nothing is contacted: the
// fixture is data). Flows to them carry no name, as NetFlow exports them; the name is in the DNS
// answers the device received (fleet.dns.ndjson.gz).

/** A provider's block: its first address, and how many of its low bits vary (32 − the prefix length). */
type Block = readonly [base: number, hostBits: number]
/** The block `a.b.c.0/prefix`. */
const block = (a: number, b: number, c: number, prefix: number): Block => [((a << 24) >>> 0) + (b << 16) + (c << 8), 32 - prefix]

/** Amazon (AS16509): EC2 and IoT ranges of one region. */
export const AWS_COMPUTE: readonly Block[] = [block(3, 64, 0, 14), block(18, 184, 0, 15), block(35, 156, 0, 14), block(52, 28, 0, 16)]
/** Amazon (AS16509): object storage. */
export const AWS_STORAGE: readonly Block[] = [block(52, 219, 0, 16), block(3, 5, 128, 17)]
/** Microsoft (AS8075). */
export const AZURE: readonly Block[] = [block(20, 50, 0, 16), block(40, 113, 0, 16)]
/** Google Cloud (AS396982). */
export const GOOGLE_CLOUD: readonly Block[] = [block(34, 64, 0, 14), block(35, 190, 0, 16)]

/**
 * Mobile carriers phones view cameras from (`remoteViewing`): blocks of their published ranges, as
 * the built-in owner table places them (T-Mobile USA AS21928, AT&T AS20057, Verizon AS6167), and
 * their share of phones.
 */
export const CARRIERS: readonly { readonly name: string; readonly asn: number; readonly blocks: readonly Block[]; readonly share: number }[] = [
  { name: 'T-Mobile USA', asn: 21928, blocks: [block(172, 32, 0, 11)], share: 35 },
  { name: 'AT&T', asn: 20057, blocks: [block(166, 170, 0, 15)], share: 30 },
  { name: 'Verizon', asn: 6167, blocks: [block(174, 240, 0, 19)], share: 35 },
]

/** A phone's public address behind its carrier's NAT (a new one each session) and the port it mapped. */
export const phoneAddress = (rng: Rng, carrier: number, port: number): Dest => {
  const blocks = CARRIERS[carrier]!.blocks
  const [base, hostBits] = blocks[rng.int(0, blocks.length - 1)]!
  return dest(ipv4(base + rng.int(0, 2 ** (hostBits - 8) - 1) * 256 + rng.int(1, 254)), port, 'udp')
}

export interface CloudService {
  readonly host: string
  readonly port: number
  readonly proto: Proto
  readonly blocks: readonly Block[]
  /** The provider's DNS gives a new set of `answers` addresses every `rotateMs`, the same to every device. */
  readonly rotateMs: number
  readonly answers: number
  readonly ttlSeconds: number
  /** How long a device keeps the address it connected to before it reconnects and resolves again. */
  readonly stickMs: number
}

/** The addresses `s.host` resolves to at `ts`: one provider's answer, the same for every device. */
export const answersAt = (s: CloudService, ts: number): string[] => {
  const epoch = Math.floor(ts / s.rotateMs)
  const out: string[] = []
  for (let i = 0; i < s.answers; i++) {
    const h = hash32(`${s.host}/${epoch}/${i}`)
    const [base, hostBits] = s.blocks[h % s.blocks.length] as Block
    out.push(ipv4(base + (Math.imul(h, 0x2c1b3c6d) >>> (32 - hostBits))))
  }
  return out
}

/** A DNS answer a device received: canonical `dns` fields. */
export interface DnsAnswer {
  readonly ts: number
  readonly query: string
  readonly answers: readonly string[]
  readonly ttl: number
}

/**
 * Public DNS-over-HTTPS resolvers at their real addresses (Cloudflare's and Google's), which some
 * firmware uses instead of the network's resolver: lookups become HTTPS on a kept-alive connection.
 */
export const DOH_RESOLVERS: readonly Dest[] = [dest('1.1.1.1', 443, 'tcp'), dest('8.8.8.8', 443, 'tcp')]

/** Recursive resolvers: the ISP's two and a public one that some firmware hard-codes. */
export const RESOLVERS: readonly Dest[] = [dest('192.0.2.53', 53, 'udp'), dest('192.0.2.54', 53, 'udp'), dest('198.51.100.53', 53, 'udp')]

// ---------------------------------------------------------------------------------------------
// Flow factories: payload sizes in, IP bytes and packets out

const HEADER = 52 // IPv4 + TCP with timestamps
const MSS = 1380

/** A TCP connection carrying `payloadOut` / `payloadIn` bytes: SYN, ACKs (one per two inbound segments), FIN. */
export const tcpFlow = (ts: number, d: Dest, payloadOut: number, payloadIn: number, durationMs: number, mails = 0): Flow => {
  const segOut = Math.ceil(payloadOut / MSS)
  const segIn = Math.ceil(payloadIn / MSS)
  const packetsOut = segOut + 3 + Math.ceil(segIn / 2)
  const packetsIn = segIn + 2 + Math.ceil(segOut / 2)
  return {
    ts,
    dest: d,
    bytesOut: Math.round(payloadOut) + packetsOut * HEADER,
    bytesIn: Math.round(payloadIn) + packetsIn * HEADER,
    packetsOut,
    durationMs: Math.max(0, Math.round(durationMs)),
    mails,
  }
}

/** A TCP attempt nobody completed: `tries` SYNs (retransmitted 1 s, 3 s … apart), answered by nothing, a RST or a SYN-ACK. */
export const synFlow = (ts: number, d: Dest, tries: number, answer: 'none' | 'rst' | 'synack', synBytes = 60): Flow => ({
  ts,
  dest: d,
  bytesOut: tries * synBytes + (answer === 'synack' ? 40 : 0),
  bytesIn: answer === 'none' ? 0 : answer === 'rst' ? 40 : 44,
  packetsOut: tries + (answer === 'synack' ? 1 : 0),
  durationMs: (2 ** (tries - 1) - 1) * 1000 + (answer === 'none' ? 0 : 25),
  mails: 0,
})

/** A UDP exchange of `datagrams` request/response pairs. */
export const udpFlow = (ts: number, d: Dest, datagrams: number, payloadOut: number, payloadIn: number, durationMs: number): Flow => ({
  ts,
  dest: d,
  bytesOut: Math.round(payloadOut) + datagrams * 28,
  bytesIn: Math.round(payloadIn) + datagrams * 28,
  packetsOut: datagrams,
  durationMs: Math.max(0, Math.round(durationMs)),
  mails: 0,
})

// ---------------------------------------------------------------------------------------------
// Traffic builder: a device's connections over [from, to), with its link's round-trip and speeds

export class Traffic {
  readonly flows: Flow[] = []
  /** DNS answers for cloud services, made by `resolveClouds` once the device's traffic is built. */
  readonly answers: DnsAnswer[] = []
  /** The first use of each (service, connection) the device made: its lookup precedes it. */
  private readonly lookups = new Map<string, { readonly service: CloudService; readonly begins: number; first: number }>()
  /** Spreads the device's reconnects over time (a stream of its own: drawing it shifts no other draw). */
  private readonly phase: number
  readonly rttMs: number
  readonly upMbps: number
  readonly downMbps: number

  constructor(
    readonly rng: Rng,
    readonly from: number,
    readonly to: number,
    readonly resolver: Dest,
    uplinkMbps: number,
    /** When the device last came up (booted, reconnected) before `ts`, or -1 while it is down: a reconnect resolves again. */
    private readonly upSince: (ts: number) => number = () => from,
    /** A DNS-over-HTTPS resolver the device sends its lookups to instead of `resolver`, or null. */
    readonly doh: Dest | null = null,
  ) {
    this.rttMs = rng.lognormal(35, 0.45)
    this.upMbps = uplinkMbps
    this.downMbps = uplinkMbps * rng.pick([4, 5, 10])
    this.phase = rng.derive('cloud').next()
  }

  /**
   * Where a connection to a cloud service at `ts` goes: the device reconnects every `stickMs`
   * (at its own phase) and when it comes up, each time to one address of the answer its lookup
   * got then. The address is a function of time, whatever order behaviours are built in. The flow
   * carries no name.
   */
  cloud(ts: number, s: CloudService): Dest {
    const epoch = Math.floor((ts + this.phase * s.stickMs) / s.stickMs)
    const begins = Math.max(epoch * s.stickMs - this.phase * s.stickMs, this.upSince(ts))
    const key = `${s.host}/${begins}`
    const seen = this.lookups.get(key)
    if (seen === undefined) this.lookups.set(key, { service: s, begins, first: ts })
    else if (ts < seen.first) seen.first = ts
    const answers = answersAt(s, begins)
    return dest(answers[hash32(`${key}/${this.phase}`) % answers.length] as string, s.port, s.proto)
  }

  /** The lookups behind `cloud`'s connections: a DNS exchange and its answer just before each connection's first flow. */
  resolveClouds(): void {
    for (const { service, begins, first } of this.lookups.values()) {
      const rtt = Math.round(this.rng.lognormal(12, 0.9))
      const at = first - rtt - this.rng.int(1, 30)
      // A DoH client's answers are inside TLS: no DNS log has them.
      if (this.doh !== null) {
        this.ping(at, this.doh, 220, 380)
        continue
      }
      this.push(udpFlow(at, this.resolver, 1, this.rng.int(30, 60), this.rng.int(60, 260), rtt))
      if (at + rtt >= this.from && at + rtt < this.to) {
        this.answers.push({ ts: at + rtt, query: service.host, answers: answersAt(service, begins), ttl: service.ttlSeconds })
      }
    }
    this.lookups.clear()
  }

  /** Keeps flows inside the window; event times are whole milliseconds. */
  push(flow: Flow): void {
    const ts = Math.floor(flow.ts)
    if (ts >= this.from && ts < this.to) this.flows.push(ts === flow.ts ? flow : { ...flow, ts })
  }

  /** Time a transfer takes on this link: handshake round-trips, slow start, serialisation, server time. */
  duration(payloadOut: number, payloadIn: number): number {
    const segments = Math.ceil((payloadOut + payloadIn) / MSS)
    const rtts = 2 + Math.ceil(Math.log2(1 + segments / 10))
    const wire = (payloadOut * 8) / (this.upMbps * 1000) + (payloadIn * 8) / (this.downMbps * 1000)
    return this.rttMs * this.rng.jitter(rtts, 0.3) + wire + this.rng.lognormal(40, 0.8)
  }

  /** Ticks of a jittered period starting at a random phase, over [from, to). */
  every(periodMs: number, jitter: number, tick: (ts: number) => void, from = this.from, to = this.to): void {
    let t = from + this.rng.float(0, periodMs)
    while (t < to) {
      tick(Math.floor(t))
      t += periodMs * (1 + this.rng.float(-jitter, jitter))
    }
  }

  /** Poisson arrivals whose rate per hour may vary with time (evaluated per minute). */
  arrivals(perHour: (ts: number) => number, event: (ts: number) => void, from = this.from, to = this.to): void {
    for (let m = Math.floor(from / MINUTE) * MINUTE; m < to; m += MINUTE) {
      const n = this.rng.poisson(perHour(m) / 60)
      for (let i = 0; i < n; i++) event(m + this.rng.int(0, MINUTE - 1))
    }
  }

  /** A DNS lookup just before `ts` (a cached name needs none, hence `p`). */
  dns(ts: number, p = 1, resolver = this.resolver): void {
    if (!this.rng.chance(p)) return
    const queries = this.rng.chance(0.7) ? 2 : 1 // A and AAAA
    const rtt = this.rng.lognormal(12, 0.9)
    if (this.doh !== null && resolver === this.resolver) {
      // HTTP/2 requests on the resolver connection the client keeps open (RFC 8484).
      this.ping(ts - Math.round(rtt) - this.rng.int(1, 30), this.doh, 110 * queries, 190 * queries)
      return
    }
    this.push(udpFlow(ts - Math.round(rtt) - this.rng.int(1, 30), resolver, queries, queries * this.rng.int(30, 60), queries * this.rng.int(60, 260), rtt))
  }

  /** An HTTPS request on a new connection: TLS handshake plus request/response, sizes log-normal around the medians. */
  https(ts: number, d: Dest, outMedian: number, inMedian: number, sigma = 0.5, dnsP = 0.3): void {
    this.dns(ts, dnsP)
    const out = this.rng.lognormal(outMedian, sigma) + this.rng.int(500, 2200)
    const inn = this.rng.lognormal(inMedian, sigma) + this.rng.int(2800, 5200)
    this.push(tcpFlow(ts, d, out, inn, this.duration(out, inn)))
  }

  /** A keep-alive on an open connection (MQTT PINGREQ/PINGRESP over TLS, or a small status push): no handshake. */
  ping(ts: number, d: Dest, outMedian = 90, inMedian = 70): void {
    const out = Math.round(this.rng.lognormal(outMedian, 0.25))
    const inn = Math.round(this.rng.lognormal(inMedian, 0.25))
    const durationMs = Math.round(this.rttMs * this.rng.jitter(1, 0.3) + this.rng.lognormal(15, 0.6))
    const packetsOut = Math.ceil(out / MSS) + 1 // the message, then the ACK of the answer
    const packetsIn = Math.ceil(inn / MSS) + 1
    this.push({ ts, dest: d, bytesOut: out + packetsOut * HEADER, bytesIn: inn + packetsIn * HEADER, packetsOut, durationMs, mails: 0 })
  }

  /** Clock sync: one SNTP request/response (48-byte payloads). */
  ntp(ts: number, d: Dest): void {
    this.push(udpFlow(ts, d, 1, 48, 48, this.rttMs * this.rng.jitter(1, 0.2)))
  }

  /**
   * A long transfer cut into one-minute flows (the collector's active timeout): `total` bytes
   * uploaded (`out`) or downloaded (`in`) at about `perMinute`, never faster than the link.
   * Returns the time the transfer ended.
   */
  bulk(from: number, d: Dest, total: number, perMinute: number, direction: 'out' | 'in', sigma = 0.2): number {
    const mbps = direction === 'out' ? this.upMbps : this.downMbps
    const capacity = ((mbps * 1e6) / 8) * 60 * 0.92
    let t = from
    let sent = 0
    while (sent < total && t < this.to) {
      const span = MINUTE - (t % MINUTE)
      const chunk = Math.min(total - sent, (Math.min(capacity, this.rng.lognormal(Math.min(perMinute, capacity), sigma)) * span) / MINUTE)
      const acks = chunk * this.rng.float(0.012, 0.02)
      const wireMs = (chunk * 8) / (mbps * 1000)
      const [out, inn]: [number, number] = direction === 'out' ? [chunk, acks] : [acks, chunk]
      this.push(tcpFlow(t, d, out, inn, Math.min(span, wireMs * 1.05 + this.rttMs * 3)))
      sent += chunk
      t += span + this.rng.int(5, 900)
    }
    return t
  }
}

// ---------------------------------------------------------------------------------------------
// The collector: one record per device, destination (ip, port, proto) and minute

export interface FlowRecord {
  ts: number
  readonly dest: Dest
  bytesOut: number
  bytesIn: number
  packetsOut: number
  durationMs: number
}

/** Aggregates flows as a collector with a one-minute export interval would; the record starts at its first flow. */
export const collect = (flows: readonly Flow[]): FlowRecord[] => {
  const sorted = [...flows].sort((a, b) => a.ts - b.ts)
  const out: FlowRecord[] = []
  const open = new Map<string, { record: FlowRecord; end: number }>()
  let minute = Number.NEGATIVE_INFINITY
  for (const f of sorted) {
    const m = Math.floor(f.ts / MINUTE)
    if (m !== minute) {
      open.clear()
      minute = m
    }
    const key = `${f.dest.ip}|${f.dest.port}|${f.dest.proto}`
    const end = f.ts + f.durationMs
    const o = open.get(key)
    if (o === undefined) {
      const record = { ts: f.ts, dest: f.dest, bytesOut: f.bytesOut, bytesIn: f.bytesIn, packetsOut: f.packetsOut, durationMs: f.durationMs }
      open.set(key, { record, end })
      out.push(record)
    } else {
      o.end = Math.max(o.end, end)
      o.record.bytesOut += f.bytesOut
      o.record.bytesIn += f.bytesIn
      o.record.packetsOut += f.packetsOut
      o.record.durationMs = Math.min(o.end - o.record.ts, 2 * MINUTE)
    }
  }
  return out
}
