// Device models: vendor hosts, firmware, daily rhythm, and the benign traffic and telemetry each model produces.
import { AWS_COMPUTE, AWS_STORAGE, AZURE, adTracker, CARRIERS, cdnEdge, dest, deviceAddress, DOH_RESOLVERS, GOOGLE_CLOUD, HOUR, isSmtp, lanPeer, MB, MINUTE, ntpPoolServer, ocspResponder, phoneAddress, residentialPeer, RESOLVERS, SECOND, submissionHost, tcpFlow, thirdParty, udpFlow, webSite } from './flows.ts'
import type { CloudService, Dest, Flow, Proto, Traffic } from './flows.ts'
import { zipfTable } from './rng.ts'
import type { Rng } from './rng.ts'
import type { DeviceSpec } from './scenarios.ts'

/** The IoT models: forty devices of each in the fleet. */
export const IOT_MODEL_IDS = ['frostbyte-fridge', 'glacier-fridge', 'lumen-tv', 'brewbot-coffee', 'hearth-thermostat', 'vault-nas', 'peep-cam', 'hue-bridge'] as const
/** And a household's NAT gateway: its people's phones, laptops and consoles behind one address (a few in the fleet). */
export const MODEL_IDS = [...IOT_MODEL_IDS, 'home-gateway'] as const
export type ModelId = (typeof MODEL_IDS)[number]

/** The people behind a home gateway and their habits. */
export interface Home {
  /** People online (phones, laptops): browsing, push, mail. */
  readonly people: number
  /** Someone works from home over a VPN on working hours: its endpoint (IPsec NAT-T, WireGuard or OpenVPN), or null. */
  readonly vpn: Dest | null
  /** Video calls on working hours. */
  readonly calls: boolean
  /** A games console playing online in the evening (a game server, then other players' addresses). */
  readonly gamer: boolean
  /** The mail provider (1–3): IMAP over TLS all day, a message sent on port 587 now and then. */
  readonly mail: number
  /** Where the household's phones back their photos up at night while they charge (a photo cloud), or null. */
  readonly photos: Dest | null
}

/** Per-device knobs of benign behaviour: households differ, and hard cases turn some up. */
export interface Traits {
  srcIp: string
  resolver: Dest
  uplinkMbps: number
  /** Shift of the household's daily routine (ms; positive = later). */
  habitShiftMs: number
  /** Multiplier on how much the household uses the device. */
  usage: number
  /** Heavy use: a binge-watching TV, an HD cloud-recording camera, a big-backup NAS, a hub polling many LAN peers. */
  heavy: boolean
  /** TV: automatic content recognition reports every minute while on. */
  acr: boolean
  /** TV: an ad-supported platform: many advertising and tracking services, new ones every evening. */
  adHeavy: boolean
  /** TV, hub: looks names up over DNS over HTTPS at this resolver, or null. */
  doh: Dest | null
  /** TV: which CDN edges are near (edge index block). */
  region: number
  /** NAS: notification e-mail configured (through smtp.relay.vault.example:587). */
  mail: boolean
  /** NAS: starts of notification bursts (5–30 mails). */
  mailBursts: readonly number[]
  /** NAS: one more burst right after the nightly backup. */
  burstAfterBackup: boolean
  /** NAS: nightly backup start and size, or null without cloud backup. */
  backupAt: number | null
  backupBytes: number
  /** Camera: recording bit rate (kbit/s). */
  bitrateKbps: number
  /** Camera: the household's phones that view it remotely peer to peer (their carriers, `CARRIERS` indexes), or null without remote viewing. */
  phones: readonly number[] | null
  /** Home gateway: the household behind it; null for every other model. */
  home: Home | null
}

const h = (ip: string, host: string, port = 443, proto: Proto = 'tcp'): Dest => dest(ip, port, proto, host)

/** Vendor endpoints: fixed names and addresses in the documentation ranges. */
const HOSTS = {
  frostbyte: {
    api: h('203.0.113.10', 'api.frostbyte.example'), mqtt: h('203.0.113.11', 'mqtt.frostbyte.example', 8883),
    img: h('203.0.113.12', 'img.frostbyte.example'), ntp: h('203.0.113.13', 'time.frostbyte.example', 123, 'udp'),
    api2: h('203.0.113.40', 'api2.frostbyte.example'),
  },
  glacier: { api: h('203.0.113.20', 'api.glacier.example'), mqtt: h('203.0.113.21', 'mqtt.glacier.example', 8883), recipes: h('203.0.113.22', 'recipes.glacier.example') },
  lumen: {
    api: h('198.51.100.10', 'api.lumen.example'), acr: h('198.51.100.11', 'acr.lumen.example'), epg: h('198.51.100.12', 'epg.lumen.example'),
    logs: h('198.51.100.13', 'logs.lumen.example'), ntp: h('198.51.100.14', 'time.lumen.example', 123, 'udp'),
  },
  brewbot: { api: h('198.51.100.30', 'api.brewbot.example'), mqtt: h('198.51.100.31', 'mqtt.brewbot.example', 8883), ota: h('198.51.100.32', 'ota.brewbot.example') },
  hearth: { weather: h('192.0.2.21', 'weather.hearth.example') },
  vault: {
    tunnel: h('192.0.2.30', 'tunnel.vault.example'), backup: h('192.0.2.31', 'backup.vault.example'), smtp: h('192.0.2.32', 'smtp.relay.vault.example', 587),
    ddns: h('192.0.2.34', 'ddns.vault.example'),
  },
  peep: {
    ingest: h('203.0.113.60', 'ingest.peep.example'), api: h('203.0.113.62', 'api.peep.example'), ntp: h('203.0.113.63', 'time.peep.example', 123, 'udp'),
    // The P2P platform's rendezvous server: a camera with remote viewing registers here, and a phone's request to view arrives through it.
    p2p: h('203.0.113.64', 'p2p.peep.example', 32100, 'udp'),
  },
  hue: { bridge: h('203.0.113.80', 'bridge.hue.example', 8883), api: h('203.0.113.81', 'api.hue.example'), diag: h('203.0.113.82', 'diag.hue.example') },
  gateway: {
    applePush: dest(thirdParty(70, '').ip, 5223, 'tcp', 'push.apple.example'), googlePush: dest(thirdParty(71, '').ip, 5228, 'tcp', 'mtalk.google.example'),
    calls: dest(thirdParty(72, '').ip, 8801, 'udp', 'zc.meet.example'), stun: dest(thirdParty(72, '').ip, 3478, 'udp', 'zc.meet.example'),
    games: dest(thirdParty(73, '').ip, 3074, 'udp', 'xbl.games.example'), os: dest(thirdParty(74, '').ip, 443, 'tcp', 'update.os.example'),
    photosApple: dest(thirdParty(75, '').ip, 443, 'tcp', 'photos.icloud.example'), photosGoogle: dest(thirdParty(76, '').ip, 443, 'tcp', 'photos.googleusercontent.example'),
  },
} as const

/**
 * Vendor endpoints in a cloud: flows to them carry no name (fleet.dns.ndjson.gz has the answers).
 * The thermostat's API is an IoT endpoint answering from many compute addresses; the fridge's
 * firmware images come from object storage; the NAS's update server moves for the whole model when
 * its answer changes (every 6 h); the camera's clips go to storage whose answer changes every 30 min.
 */
const CLOUD = {
  hearthApi: { host: 'api.hearth.example', port: 443, proto: 'tcp', blocks: AWS_COMPUTE, rotateMs: HOUR, answers: 8, ttlSeconds: 60, stickMs: 3 * HOUR },
  frostbyteFw: { host: 'fw.frostbyte.example', port: 443, proto: 'tcp', blocks: AWS_STORAGE, rotateMs: 15 * MINUTE, answers: 8, ttlSeconds: 5, stickMs: HOUR },
  vaultUpdate: { host: 'update.vault.example', port: 443, proto: 'tcp', blocks: AZURE, rotateMs: 6 * HOUR, answers: 2, ttlSeconds: 300, stickMs: 10 * MINUTE },
  peepClips: { host: 'clips.peep.example', port: 443, proto: 'tcp', blocks: GOOGLE_CLOUD, rotateMs: 30 * MINUTE, answers: 4, ttlSeconds: 300, stickMs: 20 * MINUTE },
} as const satisfies Record<string, CloudService>

/** Household activity by hour of day (0–23), 0..1. */
const HOME = [0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.55, 0.85, 0.7, 0.45, 0.4, 0.45, 0.5, 0.45, 0.4, 0.45, 0.6, 0.85, 1, 1, 0.95, 0.8, 0.55, 0.3]
const TV = [0.12, 0.06, 0.03, 0.02, 0.02, 0.03, 0.08, 0.18, 0.15, 0.1, 0.1, 0.12, 0.15, 0.14, 0.14, 0.18, 0.3, 0.5, 0.8, 1, 1, 0.9, 0.6, 0.3]
const COFFEE = [0, 0, 0, 0, 0, 0.05, 0.7, 1, 0.75, 0.3, 0.15, 0.1, 0.15, 0.25, 0.2, 0.15, 0.1, 0.08, 0.05, 0.03, 0.02, 0, 0, 0]
const MOTION = [0.2, 0.15, 0.1, 0.1, 0.12, 0.25, 0.5, 0.7, 0.8, 0.75, 0.7, 0.7, 0.75, 0.7, 0.7, 0.75, 0.8, 0.85, 0.75, 0.6, 0.5, 0.4, 0.3, 0.25]
const LIGHTS = [0.1, 0.05, 0.03, 0.03, 0.05, 0.15, 0.6, 0.8, 0.4, 0.15, 0.1, 0.1, 0.15, 0.15, 0.15, 0.25, 0.5, 0.8, 1, 1, 0.95, 0.8, 0.55, 0.25]

/** The curve's value at `ts` for a household shifted by `shiftMs`, linear between hours. */
const activity = (curve: readonly number[], ts: number, shiftMs: number): number => {
  const hour = ((((ts - shiftMs) % (24 * HOUR)) + 24 * HOUR) % (24 * HOUR)) / HOUR
  const i = Math.floor(hour)
  const a = curve[i] ?? 0
  const b = curve[(i + 1) % 24] ?? 0
  return a + (b - a) * (hour - i)
}

interface ModelDef {
  readonly hosts: Readonly<Record<string, Dest>>
  readonly firmware: readonly (readonly [string, number])[]
  /** Share of devices that send telemetry. */
  readonly telemetryShare: number
  /** CPU load idle, per MB moved in 5 minutes, per connection. */
  readonly cpu: readonly [number, number, number]
  /** Endpoints contacted when the device (re)connects. */
  readonly wake: readonly (Dest | CloudService)[]
  readonly benign: (t: Traffic, s: DeviceSpec) => void
}

// ---------------------------------------------------------------------------------------------
// Shared behaviour

/** Clock sync and certificate-status checks: every model does these. */
const housekeeping = (t: Traffic, s: DeviceSpec, ntp: Dest | 'pool'): void => {
  const pool = ntp === 'pool'
  let server = pool ? ntpPoolServer(t.rng.int(0, 255)) : ntp
  // SNTP clients poll every half hour to two hours.
  t.every(t.rng.pick([2048, 3600, 3600, 7200]) * SECOND, 0.02, (ts) => {
    // The pool name resolves to another server now and then: a new, harmless destination.
    if (pool && t.rng.chance(0.06)) server = ntpPoolServer(t.rng.int(0, 255))
    t.dns(ts, pool ? 0.25 : 0.08)
    t.ntp(ts, server)
  })
  t.arrivals(() => 0.08 * s.traits.usage, (ts) => {
    const out = t.rng.int(380, 520)
    const inn = t.rng.int(1400, 2300)
    t.dns(ts, 0.9)
    t.push(tcpFlow(ts, ocspResponder(t.rng.zipf(OCSP_POPULARITY)), out, inn, t.duration(out, inn)))
  })
}
const OCSP_POPULARITY = zipfTable(6, 1.2)

/** (Re)connecting after boot: DNS, clock, then each vendor endpoint with a fresh TLS session. */
export const wake = (t: Traffic, s: DeviceSpec, at: number): void => {
  const def = MODELS[s.model]
  t.dns(at + 400, 1)
  t.ntp(at + t.rng.int(500, 1500), pickNtp(def))
  def.wake.forEach((d, i) => {
    const ts = at + 1500 + i * t.rng.int(300, 2500)
    t.https(ts, 'blocks' in d ? t.cloud(ts, d) : d, 2500, 3500, 0.4, 1)
  })
}
const pickNtp = (def: ModelDef): Dest => def.hosts.ntp ?? ntpPoolServer(7)

const hourly = (s: DeviceSpec, curve: readonly number[], perHour: number) => (ts: number): number =>
  perHour * s.traits.usage * activity(curve, ts, s.traits.habitShiftMs)

/** Once a day at about `hour` o'clock of the household's routine. */
const daily = (t: Traffic, s: DeviceSpec, hour: number, event: (ts: number) => void): void => {
  for (let day = Math.floor(t.from / (24 * HOUR)) * 24 * HOUR; day < t.to; day += 24 * HOUR) {
    const ts = day + hour * HOUR + s.traits.habitShiftMs + t.rng.int(-10 * MINUTE, 10 * MINUTE)
    if (ts >= t.from && ts < t.to) event(ts)
  }
}

// ---------------------------------------------------------------------------------------------
// Models

const FB = HOSTS.frostbyte
const frostbyte = (t: Traffic, s: DeviceSpec): void => {
  const updated = (ts: number): boolean => s.update !== null && ts >= s.update.rebootAt
  t.every(10 * MINUTE, 0.08, (ts) => t.ping(ts, FB.mqtt))
  // Door closes → the inventory camera uploads a shelf photo.
  t.arrivals(hourly(s, HOME, 1.6), (ts) => t.https(ts, updated(ts) && t.rng.chance(0.7) ? FB.api2 : FB.api, 140_000, 1500, 0.6))
  t.arrivals(hourly(s, HOME, 0.5), (ts) => t.https(ts, FB.img, 900, 400_000, 0.9))
  t.every(6 * HOUR, 0.1, (ts) => t.https(ts, FB.api, 700, 1800, 0.3, 0.8))
  housekeeping(t, s, FB.ntp)
  if (s.update === null) return
  // The rollout: check, fetch the image (same size for every fridge), install, reboot, come back on 3.2.0 with api2.
  const { downloadAt, rebootAt } = s.update
  t.https(downloadAt, FB.api, 900, 2400, 0.2, 1)
  const fetchAt = downloadAt + t.rng.int(3000, 5000)
  t.bulk(fetchAt, t.cloud(fetchAt, CLOUD.frostbyteFw), 61_437_952, 48 * MB, 'in', 0.1)
  wake(t, s, rebootAt + t.rng.int(70, 110) * SECOND)
  t.every(15 * MINUTE, 0.1, (ts) => t.https(ts, FB.api2, 2500, 3000, 0.4, 0.1), rebootAt + 2 * MINUTE)
}

const GL = HOSTS.glacier
const glacier = (t: Traffic, s: DeviceSpec): void => {
  t.every(8 * MINUTE, 0.08, (ts) => t.ping(ts, GL.mqtt))
  t.arrivals(hourly(s, HOME, 1.0), (ts) => t.https(ts, GL.api, 3000, 6000, 0.7))
  t.arrivals(hourly(s, HOME, 0.4), (ts) => t.https(ts, GL.recipes, 800, 250_000, 0.9))
  housekeeping(t, s, 'pool')
}

const LU = HOSTS.lumen
const STREAMING = ['flix', 'tubely', 'primo', 'kinoplex'] as const
const EDGE_RANKS = zipfTable(300, 0.9)
/** Advertising and tracking services an ad-supported TV reaches, by popularity. */
const TRACKER_RANKS = zipfTable(800, 0.8)

/** One viewing session: segments from CDN edges (steered to another edge now and then), ads, ACR fingerprints. */
const watch = (t: Traffic, s: DeviceSpec, from: number, to: number): void => {
  const service = t.rng.int(0, STREAMING.length - 1)
  const churn = s.traits.heavy ? 0.3 : 0.07
  const spread = s.traits.heavy ? 300 : 40
  const edgeOf = (): Dest => cdnEdge(service * 1300 + ((s.traits.region * 37 + Math.min(spread - 1, t.rng.zipf(EDGE_RANKS))) % 1300))
  let edge = edgeOf()
  const mbps = t.rng.weighted([[3, 2], [5, 4], [8, 3], [16, 1]])
  t.https(from, thirdParty(10 + service, `api.${STREAMING[service]}.example`), 3000, 40_000, 0.5, 1)
  for (let m = from; m < to; m += MINUTE) {
    if (t.rng.chance(churn)) {
      edge = edgeOf()
      t.dns(m, 0.9)
    }
    const inn = t.rng.lognormal(mbps * 7.5 * MB, 0.25)
    t.push(tcpFlow(m + t.rng.int(0, 4000), edge, inn * t.rng.float(0.012, 0.022), inn, t.rng.int(15, 50) * SECOND))
    if (s.traits.acr) t.ping(m + t.rng.int(0, 59_000), LU.acr, 2600, 350)
    if (t.rng.chance(0.1)) {
      const k = t.rng.int(1, 6)
      t.https(m + t.rng.int(0, 59_000), thirdParty(30 + k, `ads-${k}.adnet.example`), 1500, t.rng.chance(0.3) ? 2 * MB : 30_000)
    }
    // An ad break on an ad-supported platform: the ad exchange calls out to several of many
    // advertising and tracking services (their popularity heavy-tailed: a few everywhere, most rare).
    if (s.traits.adHeavy && t.rng.chance(0.12)) {
      for (let i = t.rng.int(3, 8); i > 0; i--) t.https(m + t.rng.int(0, 59_000), adTracker(t.rng.zipf(TRACKER_RANKS)), 900, 1200, 0.6, 0.9)
    }
  }
  t.https(to, LU.logs, 40_000, 800, 0.5, 0.2)
}

const lumen = (t: Traffic, s: DeviceSpec): void => {
  t.every(20 * MINUTE, 0.1, (ts) => t.ping(ts, LU.api, 200, 300))
  t.every(4 * HOUR, 0.1, (ts) => t.https(ts, LU.epg, 1200, t.rng.lognormal(2 * MB, 0.4), 0.3, 0.6))
  const heavy = s.traits.heavy ? 2.2 : 1
  let busyUntil = t.from
  t.arrivals(hourly(s, TV, 0.45 * heavy), (ts) => {
    if (ts < busyUntil) return
    const length = Math.min(300, Math.max(8, t.rng.lognormal(70 * heavy, 0.6))) * MINUTE
    busyUntil = ts + length + 5 * MINUTE
    watch(t, s, ts, Math.min(t.to, ts + length))
  })
  housekeeping(t, s, LU.ntp)
}

const BB = HOSTS.brewbot
const brewbot = (t: Traffic, s: DeviceSpec): void => {
  t.every(15 * MINUTE, 0.1, (ts) => t.ping(ts, BB.mqtt))
  // A brew: status pushes every ~30 s while heating and pouring, then a brew log.
  t.arrivals(hourly(s, COFFEE, 0.35), (ts) => {
    const steps = t.rng.int(6, 12)
    for (let i = 0; i < steps; i++) t.ping(ts + i * t.rng.int(25, 35) * SECOND, BB.mqtt, 300, 120)
    t.https(ts + steps * 30 * SECOND, BB.api, 1200, 800, 0.4, 0.2)
  })
  t.every(24 * HOUR, 0, (ts) => t.https(ts, BB.ota, 600, 900, 0.2, 0.9))
  t.every(8 * HOUR, 0.2, (ts) => t.https(ts, BB.api, 900, 25_000, 0.5, 0.5))
  housekeeping(t, s, 'pool')
}

const HE = HOSTS.hearth
const hearth = (t: Traffic, s: DeviceSpec): void => {
  t.every(10 * MINUTE, 0.03, (ts) => t.ping(ts, t.cloud(ts, CLOUD.hearthApi), 520, 180))
  t.arrivals(hourly(s, HOME, 0.8), (ts) => t.https(ts, t.cloud(ts, CLOUD.hearthApi), 1200, 900, 0.4, 0.1))
  t.every(HOUR, 0.05, (ts) => t.https(ts, HE.weather, 400, 2500, 0.3, 0.5))
  housekeeping(t, s, 'pool')
}

const VA = HOSTS.vault
/** One notification mail through the configured relay: EHLO, STARTTLS, AUTH, one message. */
const relayMail = (t: Traffic, ts: number): void => {
  t.dns(ts, 0.4)
  const out = Math.min(250_000, t.rng.lognormal(6000, 0.9)) + t.rng.int(2400, 3200)
  const inn = t.rng.int(4200, 5600)
  t.push(tcpFlow(ts, VA.smtp, out, inn, t.duration(out, inn) + t.rng.lognormal(700, 0.5), 1))
}
const mailBurst = (t: Traffic, at: number): void => {
  let ts = at
  for (let i = t.rng.int(5, 30); i > 0; i--) {
    relayMail(t, ts)
    ts += Math.round(t.rng.lognormal(4000, 0.8))
  }
}

const vault = (t: Traffic, s: DeviceSpec): void => {
  t.every(10 * MINUTE, 0.05, (ts) => t.ping(ts, VA.tunnel, 150, 150))
  t.every(30 * MINUTE, 0.02, (ts) => t.https(ts, VA.ddns, 250, 300, 0.2, 0.5))
  t.every(8 * HOUR, 0.1, (ts) => t.https(ts, t.cloud(ts, CLOUD.vaultUpdate), 700, 3000, 0.3, 0.7))
  // Someone opens their photos remotely through the relay tunnel: uploads of a few MB.
  t.arrivals(hourly(s, HOME, 0.25), (ts) => t.bulk(ts, VA.tunnel, t.rng.lognormal(8 * MB, 1.1), 20 * MB, 'out', 0.4))
  const { backupAt, mail } = s.traits
  if (backupAt !== null) {
    // Nightly: the nights of a history before the capture's first (none without one), then that night's.
    const nights: number[] = []
    for (let at = backupAt - 24 * HOUR; at >= t.from; at -= 24 * HOUR) nights.unshift(at)
    for (const at of [...nights, backupAt]) {
      t.https(at, VA.backup, 1500, 6000, 0.3, 1)
      const perMinute = s.traits.heavy ? t.rng.float(250, 450) * MB : t.rng.float(30, 120) * MB
      const done = t.bulk(at + t.rng.int(2000, 9000), VA.backup, s.traits.backupBytes, perMinute, 'out', 0.3)
      if (mail) relayMail(t, done + t.rng.int(5, 60) * SECOND)
      if (s.traits.burstAfterBackup) mailBurst(t, done + t.rng.int(2, 10) * MINUTE)
    }
  }
  if (mail) {
    daily(t, s, 7, (ts) => relayMail(t, ts))
    t.arrivals(() => 0.08, (ts) => relayMail(t, ts))
  }
  for (const at of s.traits.mailBursts) mailBurst(t, at)
  housekeeping(t, s, 'pool')
}

const PC = HOSTS.peep
const peep = (t: Traffic, s: DeviceSpec): void => {
  const kbps = s.traits.heavy ? 3000 : s.traits.bitrateKbps
  // Continuous recording streamed over one kept-alive connection: a record every minute, steady bytes
  // that follow scene complexity (IR night mode compresses better) with a little drift.
  let drift = 0
  for (let m = Math.ceil(t.from / MINUTE) * MINUTE; m < t.to; m += MINUTE) {
    drift = 0.9 * drift + t.rng.normal(0, 0.04)
    const scene = 0.7 + 0.3 * Math.min(1, activity(MOTION, m, 0) / 0.5)
    const bytes = ((kbps * 1000) / 8) * 60 * scene * Math.exp(drift) * t.rng.lognormal(1, 0.05)
    t.push(tcpFlow(m + t.rng.int(0, 900), PC.ingest, bytes, bytes * 0.012 + t.rng.int(300, 900), t.rng.int(58_500, 59_900)))
  }
  t.arrivals(hourly(s, MOTION, 2.5), (ts) => {
    t.https(ts, t.cloud(ts, CLOUD.peepClips), t.rng.lognormal(2.5 * MB, 0.6), 800, 0.3, 0.2)
    t.https(ts + t.rng.int(2, 8) * SECOND, PC.api, 40_000, 900, 0.4, 0.1)
  })
  t.every(15 * MINUTE, 0.1, (ts) => t.ping(ts, PC.api))
  housekeeping(t, s, PC.ntp)
  if (s.traits.phones !== null) remoteViewing(t, s, s.traits.phones)
}

/** Someone away from home, by hour of day (0–23), 0..1: at work, out in the evening. */
const AWAY = [0.02, 0.01, 0.01, 0.01, 0.01, 0.02, 0.1, 0.4, 0.8, 0.7, 0.6, 0.6, 0.8, 0.7, 0.6, 0.6, 0.7, 0.8, 0.6, 0.5, 0.5, 0.4, 0.2, 0.05]

/**
 * Remote viewing peer to peer: the camera keeps registered with its platform's rendezvous server;
 * when a phone away from home asks to view, the two punch through their NATs and the camera streams
 * its main stream straight to the phone's public address: its carrier's, a new one each session
 * (carrier-grade NAT), on the port the phone's NAT mapped. A few minutes usually, now and then most
 * of an hour; what comes back is the phone's receiver reports.
 */
const remoteViewing = (t: Traffic, s: DeviceSpec, phones: readonly number[]): void => {
  t.every(5 * MINUTE, 0.1, (ts) => t.ping(ts, PC.p2p, 60, 60))
  t.arrivals(hourly(s, AWAY, 0.3), (ts) => {
    t.ping(ts, PC.p2p, 120, 300)
    const phone = phoneAddress(t.rng, t.rng.pick(phones), t.rng.int(1024, 65535))
    const kbps = (s.traits.heavy ? 3000 : s.traits.bitrateKbps) * t.rng.float(1.2, 2)
    const minutes = Math.min(45, t.rng.lognormal(4, 0.9))
    const end = ts + minutes * MINUTE
    for (let m = ts + t.rng.int(800, 2500); m < end; m += MINUTE) {
      const span = Math.min(MINUTE, end - m)
      const bytes = ((kbps * 1000) / 8) * (span / 1000) * t.rng.lognormal(1, 0.1)
      const datagrams = Math.ceil(bytes / 1200)
      t.push(udpFlow(m, phone, datagrams, bytes, bytes * t.rng.float(0.01, 0.02), span))
    }
  })
}

const HU = HOSTS.hue
const hue = (t: Traffic, s: DeviceSpec): void => {
  t.every(10 * MINUTE, 0.08, (ts) => t.ping(ts, HU.bridge))
  t.arrivals(hourly(s, LIGHTS, 2), (ts) => {
    t.ping(ts, HU.bridge, 400, 200)
    if (t.rng.chance(0.2)) t.https(ts + 500, HU.api, 1500, 4000, 0.5, 0.2)
  })
  t.every(24 * HOUR, 0, (ts) => t.https(ts, HU.diag, 30_000, 1000, 0.4, 0.8))
  housekeeping(t, s, 'pool')
  if (!s.traits.heavy) return
  // A busy home hub: polls many local peers (plugs, speakers, sensors; HTTP and CoAP) and a few cloud integrations.
  for (let i = t.rng.int(14, 26); i > 0; i--) {
    const own = Number(s.srcIp.split('.')[3])
    const peer = lanPeer(s.srcIp, ((own - 2 + t.rng.int(1, 251)) % 253) + 2) // never the hub itself
    const port = t.rng.pick([80, 80, 443, 8080, 5683])
    const d = dest(peer.ip, port, port === 5683 ? 'udp' : 'tcp')
    t.every(t.rng.int(10, 30) * MINUTE, 0.1, (ts) =>
      t.push(port === 5683 ? udpFlow(ts, d, 1, t.rng.int(20, 60), t.rng.int(40, 400), 15) : tcpFlow(ts, d, t.rng.int(300, 700), t.rng.int(400, 2000), t.rng.int(8, 60))))
  }
  for (let i = t.rng.int(3, 6); i > 0; i--) {
    const d = thirdParty(50 + i, `api.integration-${i}.example`)
    t.every(t.rng.int(15, 60) * MINUTE, 0.2, (ts) => t.https(ts, d, 1200, 3000, 0.5, 0.3))
  }
}

const GW = HOSTS.gateway
/** Sites a household visits: a few every day, most rarely (Zipf). */
const SITE_RANKS = zipfTable(2000, 1)
/** The CDN edges serving web pages (not the streaming services'). */
const WEB_EDGE = 6000
const WORK = [9, 10, 11, 12, 13, 14, 15, 16]

/**
 * A home gateway: what a collector at the ISP sees of a household behind NAT (one address). Phones
 * and laptops browse (a page: its site, then CDN edges and trackers), keep push connections, read
 * mail over IMAP and send some on 587, stream video in the evening, fetch OS updates; some homes
 * work over a VPN and hold video calls by day, and play online games in the evening.
 */
const gateway = (t: Traffic, s: DeviceSpec): void => {
  const home = s.traits.home
  if (home === null) throw new Error(`${s.deviceId}: a home gateway needs its household`)
  for (let i = 0; i < home.people; i++) t.every(t.rng.int(10, 28) * MINUTE, 0.2, (ts) => t.ping(ts, i % 2 === 0 ? GW.applePush : GW.googlePush, 120, 90))
  t.arrivals(hourly(s, HOME, 5 * home.people), (ts) => {
    t.https(ts, webSite(t.rng.zipf(SITE_RANKS)), 1500, t.rng.lognormal(60_000, 1), 0.8, 0.9)
    for (let k = t.rng.int(1, 8); k > 0; k--) {
      const at = ts + t.rng.int(100, 3000)
      if (t.rng.chance(0.6)) t.https(at, cdnEdge(WEB_EDGE + t.rng.zipf(EDGE_RANKS)), 900, t.rng.lognormal(150_000, 1), 0.6, 0.5)
      else t.https(at, adTracker(t.rng.zipf(TRACKER_RANKS)), 900, 1200, 0.6, 0.7)
    }
  })
  const imap = dest(submissionHost(home.mail, 587).ip, 993, 'tcp', `imap.mail-${home.mail}.example`)
  t.every(15 * MINUTE, 0.3, (ts) => t.https(ts, imap, 600, 2500, 0.8, 0.2))
  t.arrivals(hourly(s, HOME, 0.15 * home.people), (ts) => {
    t.dns(ts, 0.5)
    const out = t.rng.lognormal(30_000, 1.2) + t.rng.int(2400, 3200)
    t.push(tcpFlow(ts, submissionHost(home.mail, 587), out, t.rng.int(4200, 5600), t.duration(out, 5000), 1))
  })
  // An evening's streaming on a laptop or tablet: a segment a minute from a CDN edge.
  t.arrivals(hourly(s, TV, 0.3), (ts) => {
    let edge = cdnEdge(t.rng.int(0, 5199))
    for (let m = ts, end = ts + t.rng.int(20, 90) * MINUTE; m < end; m += MINUTE) {
      if (t.rng.chance(0.05)) edge = cdnEdge(t.rng.int(0, 5199))
      const inn = t.rng.lognormal(30 * MB, 0.3)
      t.push(tcpFlow(m + t.rng.int(0, 4000), edge, inn * 0.015, inn, t.rng.int(15, 50) * SECOND))
    }
  })
  t.every(6 * HOUR, 0.5, (ts) => t.bulk(ts, GW.os, t.rng.lognormal(300 * MB, 0.8), 200 * MB, 'in', 0.3))
  if (home.photos !== null) {
    // Phones charging at night upload the day's photos and videos: tens to hundreds of MB.
    const photos = home.photos
    daily(t, s, 2, (ts) => {
      const total = Math.min(2000 * MB, t.rng.lognormal(60 * MB, 1) * home.people)
      if (total >= 2 * MB) t.bulk(ts + t.rng.int(0, 90) * MINUTE, photos, total, t.rng.float(20, 60) * MB, 'out', 0.3)
    })
  }
  const { vpn } = home
  if (vpn !== null) {
    // Working hours: a tunnel packet train every minute, its bytes following the work done.
    daily(t, s, 9, (from) => {
      for (let m = from, end = from + t.rng.int(6, 9) * HOUR; m < end; m += MINUTE) {
        const out = t.rng.lognormal(400_000, 1.2)
        t.push(udpFlow(m + t.rng.int(0, 2000), vpn, Math.ceil(out / 1200), out, out * t.rng.float(1, 4), t.rng.int(55, 59) * SECOND))
      }
    })
  }
  if (home.calls) {
    // A call: STUN, then media both ways (1–2 Mbit/s up) for the length of the meeting.
    t.arrivals((ts) => (WORK.includes(new Date(ts - s.traits.habitShiftMs).getUTCHours()) ? 0.35 : 0), (ts) => {
      t.push(udpFlow(ts, GW.stun, 2, 120, 140, 40))
      const up = t.rng.float(1, 2) * 7.5 * MB
      for (let m = ts + 2 * SECOND, end = ts + t.rng.int(15, 60) * MINUTE; m < end; m += MINUTE) {
        const out = t.rng.lognormal(up, 0.15)
        t.push(udpFlow(m, GW.calls, Math.ceil(out / 1100), out, out * t.rng.float(0.8, 1.5), 60 * SECOND))
      }
    })
  }
  if (home.gamer) {
    // An evening session: the game's servers, then a match with a few other players' consoles.
    t.arrivals(hourly(s, TV, 0.4), (ts) => {
      t.ping(ts, GW.games, 600, 900)
      const peers = Array.from({ length: t.rng.int(3, 11) }, () => residentialPeer(t.rng.int(0, 4095), t.rng.int(49152, 65535)))
      for (let m = ts + 5 * SECOND, end = ts + t.rng.int(20, 70) * MINUTE; m < end; m += MINUTE) {
        t.push(udpFlow(m, GW.games, 60, 6000, 9000, 60 * SECOND))
        for (const p of peers) t.push(udpFlow(m + t.rng.int(0, 900), p, 600, 60_000, 60_000, 60 * SECOND))
      }
    })
  }
  housekeeping(t, s, 'pool')
}

export const MODELS: Readonly<Record<ModelId, ModelDef>> = {
  'frostbyte-fridge': { hosts: FB, firmware: [['3.1.4', 9], ['3.1.2', 1]], telemetryShare: 1, cpu: [7, 0.5, 0.05], wake: [FB.mqtt, FB.api], benign: frostbyte },
  'glacier-fridge': { hosts: GL, firmware: [['2.8.1', 1]], telemetryShare: 1, cpu: [9, 0.5, 0.05], wake: [GL.mqtt, GL.api], benign: glacier },
  'lumen-tv': { hosts: LU, firmware: [['T-1184', 7], ['T-1179', 3]], telemetryShare: 0.5, cpu: [5, 0.08, 0.05], wake: [LU.api, LU.epg], benign: lumen },
  'brewbot-coffee': { hosts: BB, firmware: [['1.9.0', 6], ['1.8.7', 4]], telemetryShare: 0.25, cpu: [2.5, 0.5, 0.08], wake: [BB.mqtt, BB.ota], benign: brewbot },
  'hearth-thermostat': { hosts: HE, firmware: [['5.2.11', 1]], telemetryShare: 0.5, cpu: [1.8, 0.5, 0.08], wake: [CLOUD.hearthApi], benign: hearth },
  'vault-nas': { hosts: VA, firmware: [['DSV-7.2.1', 8], ['DSV-7.1.0', 2]], telemetryShare: 0.5, cpu: [4, 0.03, 0.05], wake: [VA.tunnel, VA.ddns, CLOUD.vaultUpdate], benign: vault },
  'peep-cam': { hosts: PC, firmware: [['4.0.22', 5], ['4.0.19', 5]], telemetryShare: 0, cpu: [22, 0.1, 0.05], wake: [PC.api, PC.ingest], benign: peep },
  'hue-bridge': { hosts: HU, firmware: [['1.65.1', 1]], telemetryShare: 0, cpu: [3, 0.5, 0.05], wake: [HU.bridge, HU.api], benign: hue },
  'home-gateway': { hosts: GW, firmware: [['RT-4.2', 1]], telemetryShare: 0, cpu: [3, 0.05, 0.02], wake: [GW.applePush, GW.googlePush], benign: gateway },
}

/** A household's phones (1–3), each on a carrier. */
const drawPhones = (rng: Rng): number[] => Array.from({ length: rng.weighted([[1, 3], [2, 4], [3, 2]]) }, () => rng.weighted(CARRIERS.map((c, i) => [i, c.share] as const)))

export const drawTraits = (model: ModelId, rng: Rng, start: number): Traits => ({
  srcIp: deviceAddress(rng),
  resolver: rng.weighted(RESOLVERS.map((r, i) => [r, [5, 3, 2][i] ?? 1] as const)),
  uplinkMbps: rng.weighted([[5, 2], [10, 3], [20, 3], [40, 2], [100, 1]]),
  habitShiftMs: Math.round(rng.normal(0, 40) * MINUTE),
  usage: rng.lognormal(1, 0.35),
  heavy: false,
  acr: model === 'lumen-tv' && rng.chance(0.55),
  adHeavy: false,
  // A stream of its own: drawing it shifts no other draw of the device.
  doh: (model === 'lumen-tv' || model === 'hue-bridge') && rng.derive('doh').chance(0.3) ? rng.derive('doh-resolver').pick(DOH_RESOLVERS) : null,
  region: rng.int(0, 34),
  mail: model === 'vault-nas' && rng.chance(0.7),
  mailBursts: [],
  burstAfterBackup: false,
  // Nightly, starting between 01:00 and 04:00 of the capture's first day.
  backupAt: model === 'vault-nas' && rng.chance(0.85) ? Math.floor(start / (24 * HOUR)) * 24 * HOUR + rng.int(60, 240) * MINUTE + rng.int(0, 59_999) : null,
  backupBytes: Math.min(6000, Math.max(150, rng.lognormal(1200, 0.8))) * MB,
  bitrateKbps: rng.lognormal(420, 0.25),
  // Streams of their own: drawing them shifts no other draw of the device.
  phones: model === 'peep-cam' && rng.derive('p2p').chance(0.35) ? drawPhones(rng.derive('phones')) : null,
  // A stream of its own, drawn for gateways only: no other model's draws move.
  home: model === 'home-gateway' ? drawHome(rng.derive('home')) : null,
})

/** VPN endpoints of employers: IPsec NAT traversal, WireGuard, OpenVPN. */
const VPN_PORTS = [4500, 51820, 1194] as const
const drawHome = (rng: Rng): Home => ({
  people: rng.int(1, 4),
  vpn: rng.chance(0.4) ? dest(thirdParty(90 + rng.int(0, 40), '').ip, rng.pick(VPN_PORTS), 'udp') : null,
  calls: rng.chance(0.5),
  gamer: rng.chance(0.35),
  mail: rng.int(1, 3),
  // A stream of its own: drawing it shifts no other draw of the household.
  photos: photoCloud(rng.derive('photos')),
})

/** Most households back their phones' photos up to one photo cloud (the phones' platform's). */
const photoCloud = (rng: Rng): Dest | null => (rng.chance(0.75) ? (rng.chance(0.55) ? HOSTS.gateway.photosApple : HOSTS.gateway.photosGoogle) : null)

// ---------------------------------------------------------------------------------------------
// Telemetry

export interface Report {
  readonly ts: number
  readonly emailsSent: number
  readonly smtpConnections: number
  readonly cpuPct: number
  readonly bytesOut: number
}

/**
 * The device agent's 5-minute reports over the flows it made (collected or not). `hideMail`:
 * a compromised firmware whose agent no longer counts the mail it sends.
 */
export const telemetryReports = (s: DeviceSpec, flows: readonly Flow[], rng: Rng, from: number, to: number, hideMail: boolean): Report[] => {
  const [idle, perMB, perConn] = MODELS[s.model].cpu
  const reports: Report[] = []
  let i = 0
  let prev = from
  for (let k = from + s.telemetryPhaseMs; k < to; k += 5 * MINUTE) {
    const ts = k + rng.int(-1500, 1500)
    if (ts < from || ts >= to) continue
    let bytes = 0
    let conns = 0
    let smtp = 0
    let mails = 0
    let out = 0
    for (; i < flows.length && (flows[i]?.ts ?? Infinity) < ts; i++) {
      const f = flows[i] as Flow
      if (f.ts < prev) continue
      bytes += f.bytesOut + f.bytesIn
      out += f.bytesOut
      conns++
      if (isSmtp(f)) smtp++
      mails += f.mails
    }
    const cpu = idle + perMB * (bytes / MB) + perConn * conns + rng.normal(0, idle * 0.15 + 0.3)
    reports.push({
      ts,
      emailsSent: hideMail ? 0 : mails,
      smtpConnections: hideMail ? 0 : smtp,
      cpuPct: Math.round(Math.min(99, Math.max(0.2, cpu)) * 10) / 10,
      bytesOut: Math.round(out * rng.float(1.01, 1.04)) + rng.int(300, 4000),
    })
    prev = ts
  }
  return reports
}
