/**
 * port-novelty — risky or unusual destination ports a device's model does not use.
 *
 * Telnet (23, 2323) is how Mirai-style worms spread, 25/465/587/2525 is how spambots mail,
 * 6667/6697 is IRC command and control, and a handful of others (ADB 5555, TR-069 7547, router
 * exploits 37215/52869, SMB, RDP, SOCKS, the default ports of common RATs) rarely have a business
 * on an IoT device's egress. Three rules:
 * - a risky port (`ports`) fires at its first use, unless the device used it while it was new
 *   (learning) or enough of its model's devices did, or (submission, 465/587) it sends to the mail
 *   service it read its mail from while learning (a household's mail client, not a spambot's stolen
 *   accounts);
 * - the worst of them (`alwaysReport`: outbound telnet, direct SMTP to port 25, IRC, RAT ports)
 *   cannot be learned, neither by a device nor by its model: a device or a whole model infected
 *   before anyone watched still fires, unless `allow` lists the port for the model;
 * - any other port outside `standardPorts` that a device uses persistently (`persistentFlows`
 *   flows) fires when its model's peers do not use it: command and control on a port of its own
 *   (njRAT 1177, a bot on tcp/50). VPN protocols' ports are standard; UDP from 49152 up and the
 *   UDP ports of real-time media and games (`mediaUdpPorts`: calls, consoles) are not judged. Nor
 *   is a port, unusual or risky (but for the always-reported ones), whose flows are all UDP to one
 *   destination (its identity, src/engine/destinations.ts: for an address, its owner) that the
 *   device sent UDP to on two other ports of the moment before (unusual, or dynamic: 49152 and up),
 *   two flows each (sessions, not probes), or that `peerDevices` other devices of its model did:
 *   where the port is random and the peer is the point, as a camera's peer-to-peer stream to a
 *   phone on the port its carrier's NAT mapped (now and then a risky port's number, by chance). A
 *   bot on a device that knows this can earn it with two short sessions of its own.
 * What is surprising depends on the device: one that meets new unusual ports often
 * (`busyNewPortsPerHour`: a general-purpose host, a gateway) makes a risky port's first use
 * unremarkable, so for it a risky port needs persistence as an unusual one does (and is medium);
 * a device that never meets new ports (nearly every IoT device) is reported at the first use.
 * Its rate is a Gamma belief (src/engine/rate.ts): its own new ports an hour with its model's rate
 * as the prior (every device of the model counts its hours, the quiet ones their zeros; a model of
 * one device lends none), weighed as up to `priorHours` of its own traffic, fewer when the model's
 * devices differ: a new device of a model of general-purpose hosts is busy from its first hours, one
 * of a model that never meets new ports needs many more of its own before it is.
 * Local destinations are ignored: this watches egress. Tuning: list the ports a model
 * legitimately uses under `allow`; add a fleet's own service ports to `standardPorts`.
 */
import { z } from 'zod'
import { defineDetector } from '../src/engine/detector.ts'
import type { Finding, Severity } from '../src/types.ts'
import { hashString, TRAIL_SPAN, tailAfter, tailShift, trailDropped, trailLatest, trailMark, trailShift, windowOf } from '../src/engine/window.ts'
import { isLocalAddress } from '../src/engine/net.ts'
import { ownObservations, recordOwn } from '../src/engine/fleet.ts'

const HIGH_RISK = [23, 2323, 25, 465, 587, 2525, 6667, 6697]
/** Default ports of remote-access trojans: njRAT 1177, DarkComet 1604, Poison Ivy 3460, Metasploit 4444, Back Orifice 31337. */
const RAT_PORTS = [1177, 1604, 3460, 4444, 31337]
/** VPN protocols: IKE and IPsec NAT traversal (500, 4500), L2TP (1701), PPTP (1723), OpenVPN (1194), WireGuard (51820). */
const VPN_PORTS = [500, 4500, 1701, 1723, 1194, 51820]
/** Services an IoT device (or anything else) talks to every day, VPNs and TURN over TLS (5349) among them. */
const STANDARD = [20, 21, 22, 53, 67, 68, 80, 110, 123, 143, 443, 853, 993, 995, 1883, 3478, 5223, 5228, 5353, 5683, 5684, 8080, 8443, 8883, 19302, ...VPN_PORTS, 5349]
/** Where mail clients read mail: POP3, IMAP, and both over TLS. */
const MAIL_READ = [110, 143, 993, 995]
/** UDP ports from here up are media and P2P flows, not judged by the persistence rule. */
const UDP_DYNAMIC = 49152
/**
 * Real-time media and online games on UDP below that: STUN/TURN and Teams (3478–3481), Zoom
 * (8801–8810), Google Meet (19302–19309), Xbox Live (3074), EA (3659), Steam (27000–27100).
 */
const MEDIA_UDP: [number, number][] = [[3478, 3481], [8801, 8810], [19302, 19309], [3074, 3074], [3659, 3659], [27000, 27100]]

export const portNoveltyConfig = z.strictObject({
  /** Ports whose first use is reported. */
  ports: z.array(z.number().int().min(0).max(65535)).default([...HIGH_RISK, 1080, 3389, 445, 5555, 7547, 37215, 52869, ...RAT_PORTS]),
  /** Risky ports a device cannot learn as its own while it is new (reported from the first use). */
  alwaysReport: z.array(z.number().int().min(0).max(65535)).default([23, 2323, 25, 6667, 6697, ...RAT_PORTS]),
  /** Ports that are never unusual; every other port used persistently is judged. */
  standardPorts: z.array(z.number().int().min(0).max(65535)).default(STANDARD),
  /** Flows on an unusual (non-standard, non-risky) port that make its use persistent. */
  persistentFlows: z.number().int().min(1).default(20),
  /** Of those, the ports that make the alert high severity (the rest are medium). */
  highRiskPorts: z.array(z.number().int().min(0).max(65535)).default(HIGH_RISK),
  /** Minutes after a device's first event during which its risky ports are learned. */
  learningMinutes: z.number().int().min(0).default(120),
  /** Devices of the model that must use a port (a risky one: while learning) for it to be normal. */
  peerDevices: z.number().int().min(1).default(3),
  /** Windows a first use keeps the finding open. */
  windows: z.number().int().min(1).max(1440).default(10),
  /**
   * New unusual ports an hour (distinct, first used since the device was first seen, over six hours at least)
   * from which a device counts as exploring ports: its first use of a risky port (not one of
   * alwaysReport) then needs persistentFlows flows, and is medium.
   */
  busyNewPortsPerHour: z.number().positive().default(1),
  /**
   * Hours of the device's own traffic its model's rate of new unusual ports weighs as at most, in the
   * device's rate: fewer when the model's devices differ from each other (from the spread of their
   * hourly counts) or the model was barely seen.
   */
  priorHours: z.number().min(0).default(12),
  /**
   * Mail submission ports (a risky port each) that are no novelty when the device sends to the mail
   * service it read mail from while learning (on a port of mailReadPorts; the same registered domain
   * by name, or the same address): a household's mail client, not a spambot with stolen credentials,
   * which submits to others.
   */
  submissionPorts: z.array(z.number().int().min(0).max(65535)).default([465, 587]),
  /** Ports a mail client reads mail on. */
  mailReadPorts: z.array(z.number().int().min(0).max(65535)).default(MAIL_READ),
  /** UDP port ranges of real-time media and games, not judged by the persistence rule (as UDP from 49152 up is not). */
  mediaUdpPorts: z.array(z.tuple([z.number().int().min(0).max(65535), z.number().int().min(0).max(65535)])).default(MEDIA_UDP),
  /** Ports allowed per model, e.g. `{ "vault-nas": [587] }`. */
  allow: z.record(z.string(), z.array(z.number().int().min(0).max(65535))).default({}),
})
export type PortNoveltyConfig = z.infer<typeof portNoveltyConfig>

/** Risky ports used after learning: port, first and last window, flow count, a destination. */
interface Used {
  ports: number[]
  firstWindow: number[]
  /** The latest window of use, which may lie in the lookahead past the window being evaluated. */
  lastWindow: number[]
  /** Windows of use before the latest (`trailShift` in src/engine/window.ts), and the latest before those (-1). */
  trail: number[]
  older: number[]
  flows: number[]
  /** Flows of the latest windows, the lookahead's (`tailShift`). */
  tail: number[][]
  /** The destination of the port's earliest flow (the smaller address on a tie), and that flow's time. */
  sample: string[]
  sampleTs: number[]
  /** The identity (by address, src/engine/destinations.ts) of the port's first flow's destination; absent in older checkpoints. */
  to?: number[]
  /** What else its flows did: `OTHER_DESTINATION` and `NOT_UDP` bits (older checkpoints: both). */
  shape?: number[]
}

/** A flow on the port went to another destination (identity) than its first. */
const OTHER_DESTINATION = 1
/** A flow on the port was not UDP. */
const NOT_UDP = 2

/** Both parts are allocated on first need: most devices never touch a risky port. */
interface State {
  /** Risky ports used while learning. */
  learned: number[] | null
  used: Used | null
  /**
   * Unusual (not standard, not risky) ports the device used, the latest `MAX_SEEN` with the window
   * each was first used in, and how many it met before those (absent in older checkpoints).
   */
  seen?: number[] | null
  seenWindow?: number[] | null
  met?: number
  /** Where it read mail from while learning: names' identity hashes (src/engine/destinations.ts) and addresses' `hashString`, the latest MAX_MAIL; absent in older checkpoints. */
  mailFrom?: number[] | null
  /** What it taught its model's hourly counts, to read the model without itself (`ownObservations` in src/engine/fleet.ts), and that model; absent in older checkpoints. */
  taught?: number[] | null
  taughtModel?: string
  /**
   * Identities (by address) of the destinations it sent UDP to on unusual or dynamic ports, the first
   * MAX_REACHED (never evicted), and for each `[counted, port, window, flows, ...]`: whether it
   * counted for its model (once it was a habit: HABIT_PORTS ports of HABIT_FLOWS flows), and up to
   * three of those ports, each with the window it was first used to it and its flows; absent in older checkpoints.
   */
  reached?: number[] | null
  reachedPorts?: number[][] | null
}

/** Destinations a device remembers having sent UDP to on ports of the moment (past them, new ones are neither remembered nor counted). */
const MAX_REACHED = 32
/** Earlier ports to a destination that make it where the device goes on ports of the moment ... */
const HABIT_PORTS = 2
/** ... each with this many flows to it (minutes): sessions, not probes. */
const HABIT_FLOWS = 2

/** Mail services a device remembers reading from (by name and by address: two each). */
const MAX_MAIL = 8

/** Unusual ports a device remembers having met. */
const MAX_SEEN = 64
/** The least span its rate of new ports is taken over. */
const RATE_SPAN_MS = 6 * 3_600_000
/** New ports an hour a device teaches its model at most (a port scan does not make its model busy). */
const MODEL_HOUR_CAP = 10

const MAX_PORTS = 16

/** The state of a device that used no unusual port yet (nearly all): shared, never written. */
const INERT: State = Object.freeze({ learned: null, used: null, seen: null, seenWindow: null, met: 0, mailFrom: null, taught: null, taughtModel: '' }) as State

/** The state to write: the device's own, or a fresh one for a device still on the shared inert state (handed back by the caller). */
const ownState = (current: State): State => (current === INERT ? { learned: null, used: null, seen: null, seenWindow: null, met: 0, mailFrom: null, taught: null, taughtModel: '', reached: null, reachedPorts: null } : current)

export const portNovelty = defineDetector<PortNoveltyConfig, State>({
  id: 'port-novelty',
  title: 'First use of a risky port',
  description:
    'Risky ports (telnet, SMTP, IRC, ...) a device and its model did not use while learning. ' +
    'List legitimate ports per model under allow.',
  version: 6,
  tags: ['maturity_stable', 'network', 'mitre_T1571'],
  configSchema: portNoveltyConfig,
  // A first use is one event, not a level: one window confirms it (a bot's five SMTP flows in a
  // minute and then silence must still page someone).
  fireAfter: 1,
  create(cfg, { windowMs, lookaheadWindows, fleet, destinations }) {
    const risky = new Set(cfg.ports)
    const submission = new Set(cfg.submissionPorts)
    const mailRead = new Set(cfg.mailReadPorts)
    /** Mail submitted to a service the device read its mail from while learning: by the name's registered domain, or the exact address. */
    const sendsToItsMail = (state: State, ip: string, host: string | undefined): boolean => {
      const from = state.mailFrom
      if (from === null || from === undefined) return false
      return from.includes(hashString(ip)) || (host !== undefined && host.length > 0 && from.includes(destinations.hash(ip, host)))
    }
    const media = cfg.mediaUdpPorts
    const isMedia = (port: number): boolean => {
      for (const [from, to] of media) if (port >= from && port <= to) return true
      return false
    }
    const always = new Set(cfg.alwaysReport)
    const standard = new Set(cfg.standardPorts)
    const high = new Set(cfg.highRiskPorts)
    const allowed = new Map(Object.entries(cfg.allow).map(([model, ports]) => [model, new Set(ports)]))
    // Devices of each model per port, over the fleet.
    const peers = fleet.counts('ports', 1024)
    // Devices of each model per destination (identity by address) they made a habit of on ports of the moment.
    const reachedBy = fleet.counts('unusual-port-destinations', 4096)
    const reach = reachOf(reachedBy)
    // New unusual ports the model's devices meet an hour: every device evaluated at an hour's start
    // counts the hour before it, a device that never met one its zero.
    const modelHours = fleet.histogram('new-ports-per-hour')
    const hourWindows = Math.max(1, Math.round(3_600_000 / windowMs))
    const learningMs = cfg.learningMinutes * 60_000
    /**
     * Whether destination `to` is where the device goes on UDP ports of the moment: it sent UDP to
     * it on HABIT_PORTS other ports of the moment (unusual or dynamic) before window `first`,
     * HABIT_FLOWS flows each, or `peerDevices` other devices of its model made it such a habit.
     */
    const habitual = (state: State, model: string, to: number, port: number, first: number, at: number): boolean => {
      const k = state.reached?.indexOf(to) ?? -1
      const entry = k >= 0 ? state.reachedPorts![k]! : null
      if (entry !== null) {
        let before = 0
        for (let j = 1; j < entry.length; j += 3) if (entry[j] !== port && entry[j + 1]! < first && entry[j + 2]! >= HABIT_FLOWS) before++
        if (before >= HABIT_PORTS) return true
      }
      return reachedBy.get(model, to, at) - (entry?.[0] === 1 ? 1 : 0) >= cfg.peerDevices
    }
    return {
      init: () => INERT,
      observeEgress(current, e, device) {
        const port = e.dstPort
        const isRisky = risky.has(port)
        if (e.proto === 6 && mailRead.has(port) && !isRisky) {
          // Only while learning: a bot cannot make its relay a mail service by connecting to its port 993.
          if (e.ts - device.firstSeen >= learningMs) return
          // Known by its name's registered domain (smtp. and imap. of one provider) and by its exact address.
          const named = e.dstHost === undefined || e.dstHost.length === 0 ? current : (readsMail(current, destinations.hash(e.dstIp, e.dstHost)) ?? current)
          return readsMail(named, hashString(e.dstIp)) ?? (named === current ? undefined : named)
        }
        if (e.proto === 17 && port >= UDP_DYNAMIC && !isRisky) {
          // Never judged, but a port of the moment: where the device has sessions on such ports.
          if (isLocalAddress(e.dstIp)) return
          const state = ownState(current)
          reach(state, device.model, destinations.hash(e.dstIp, undefined), port, windowOf(e.ts, windowMs), e.ts, e.continued ? 0 : 1)
          return state === current ? undefined : state
        }
        if (!isRisky && (standard.has(port) || e.proto !== 6 && e.proto !== 17 || (e.proto === 17 && isMedia(port)))) return
        if (isLocalAddress(e.dstIp)) return
        if (current.learned?.includes(port)) return
        // Mail sent to the service the device reads its mail from: its mail client.
        if (e.proto === 6 && submission.has(port) && sendsToItsMail(current, e.dstIp, e.dstHost)) return
        // From here the device's own state is written: a device still on the shared one gets its own (handed back).
        const state: State = ownState(current)
        /** The destination's identity by address, made on first need (once a flow). */
        let to: number | undefined
        if (!isRisky) {
          const seen = (state.seen ??= [])
          const seenWindow = (state.seenWindow ??= seen.map(() => 0))
          const fw = windowOf(e.ts, windowMs)
          const k = seen.indexOf(port)
          if (k < 0) {
            if (seen.length >= MAX_SEEN) {
              seen.shift()
              seenWindow.shift()
              state.met = (state.met ?? 0) + 1
            }
            seen.push(port)
            seenWindow.push(fw)
          } else if (fw < seenWindow[k]!) seenWindow[k] = fw
          // Where it sends UDP on ports of the moment, on which ports since when (a habit counts once for its model).
          if (e.proto === 17) reach(state, device.model, (to ??= destinations.hash(e.dstIp, undefined)), port, fw, e.ts, e.continued ? 0 : 1)
        }
        const handBack = state === current ? undefined : state
        if (isRisky && !always.has(port) && e.ts - device.firstSeen < learningMs) {
          ;(state.learned ??= []).push(port)
          peers.add(device.model, port, e.ts)
          return handBack
        }
        const w = windowOf(e.ts, windowMs)
        const used = (state.used ??= { ports: [], firstWindow: [], lastWindow: [], trail: [], older: [], flows: [], tail: [], sample: [], sampleTs: [], to: [], shape: [] })
        let i = used.ports.indexOf(port)
        if (i >= 0) {
          // Judged as one peer's port only while every flow on it is UDP to its first destination.
          if (e.proto !== 17) used.shape![i]! |= NOT_UDP
          else if ((used.shape![i]! & OTHER_DESTINATION) === 0 && (to ??= destinations.hash(e.dstIp, undefined)) !== used.to![i]) used.shape![i]! |= OTHER_DESTINATION
          // A flow's later reports (an exporter's active timeout) are no new flows.
          const opened = e.continued ? 0 : 1
          used.flows[i]! += opened
          const last = used.lastWindow[i]!
          const tail = used.tail[i]!
          if (w > last) {
            used.older[i] = trailDropped(used.trail[i]!, last, w - last, used.older[i]!)
            used.trail[i] = trailShift(used.trail[i]!, w - last)
            tailShift(tail, w - last)
            used.lastWindow[i] = w
          } else {
            used.trail[i] = trailMark(used.trail[i]!, last - w)
          }
          // First used in the earliest window it was used in, whatever order the flows came in.
          if (w < used.firstWindow[i]!) used.firstWindow[i] = w
          const k = last > w ? last - w : 0
          if (k < tail.length) tail[k]! += opened
          if (e.ts < used.sampleTs[i]! || (e.ts === used.sampleTs[i] && e.dstIp < used.sample[i]!)) {
            used.sample[i] = e.dstIp
            used.sampleTs[i] = e.ts
          }
          return handBack
        }
        if (used.ports.length < MAX_PORTS) {
          i = used.ports.length
          lengthen(used)
        } else {
          // Full: the port used longest ago makes room when it is out of the horizon, or for a risky port.
          i = 0
          for (let k = 1; k < used.ports.length; k++) if (used.lastWindow[k]! < used.lastWindow[i]!) i = k
          if (!isRisky && used.lastWindow[i]! > w - cfg.windows) return handBack
        }
        used.ports[i] = port
        used.firstWindow[i] = w
        used.lastWindow[i] = w
        used.trail[i] = 1
        used.older[i] = -1
        used.flows[i] = 1
        const tail = new Array<number>(lookaheadWindows + 1).fill(0)
        tail[0] = 1
        used.tail[i] = tail
        used.sample[i] = e.dstIp
        used.sampleTs[i] = e.ts
        used.to![i] = to ?? destinations.hash(e.dstIp, undefined)
        used.shape![i] = e.proto === 17 ? 0 : NOT_UDP
        // Unusual ports count their users at first use: a model's own protocol is not novel. The
        // always-reported ones do not: a whole model on IRC is a compromised model (allow lists a habit).
        if (!isRisky) peers.add(device.model, port, e.ts)
        return handBack
      },
      evaluate(state, w, device): Finding | null {
        const at = w * windowMs
        if (w % hourWindows === 0) {
          // The hour that ends with window w - 1 (the lookahead's ports wait for the next hour).
          let fresh = 0
          const seenWindow = state.seenWindow
          if (seenWindow !== null && seenWindow !== undefined) for (const fw of seenWindow) if (fw < w && fw >= w - hourWindows) fresh++
          const taught = Math.min(fresh, MODEL_HOUR_CAP)
          modelHours.observe(device.model, taught, at)
          // A device with a state of its own remembers it (the shared inert one cannot, and never asks).
          if (state !== INERT) {
            // A device that changed model starts over: what it taught the other one is not in this one's.
            if (state.taught === null || state.taught === undefined || state.taughtModel !== device.model) {
              state.taught = ownObservations()
              state.taughtModel = device.model
            }
            recordOwn(state.taught, taught, fleet.epochOf(at))
          }
        }
        const used = state.used
        if (used === null) return null
        const hits: number[] = []
        let flows = 0
        let severity: Severity = 'medium'
        let sample = ''
        const modelAllows = allowed.get(device.model)
        // New unusual ports an hour since the device was first seen, counting only ports first used
        // by the end of w (what the lookahead observed past it does not count), with its model's rate
        // as the prior, over six hours at least (a device's first odd port or two do not make it an
        // explorer). Made on first need.
        let perHour = -1
        let modelPerHour = 0
        const rate = (): number => {
          if (perHour < 0) {
            let met = state.met ?? 0
            for (const fw of state.seenWindow ?? []) if (fw <= w) met++
            // The model's devices' rates as a Gamma prior, by the moments of their hourly counts (a
            // Poisson mixed over a Gamma has variance mean + mean² / shape): devices alike weigh as
            // many hours, devices that differ as few, a model barely seen as its device-hours. Its
            // own hours are left out (it would lend itself its own rate); a model of one device lends none.
            const moments = fleet.devices(device.model, at) > 1 ? modelHours.momentsWithout(device.model, at, state.taughtModel === device.model ? state.taught : null) : null
            let priorHours = 0
            if (moments !== null) {
              const spread = moments.variance - moments.mean
              const evidence = Math.min(cfg.priorHours, moments.weight)
              // (Float sums leave a spread of 1e-16 where every hour was the same.)
              priorHours = spread > 1e-9 ? Math.min(evidence, moments.mean / spread) : evidence
              met += moments.mean * priorHours
              modelPerHour = moments.mean
            }
            perHour = (met * 3_600_000) / Math.max(RATE_SPAN_MS, (w + 1) * windowMs - device.firstSeen + priorHours * 3_600_000)
          }
          return perHour
        }
        for (let i = 0; i < used.ports.length; i++) {
          // In use during (w - windows, w]: first used by w (later windows may already be observed)
          // and not abandoned before the horizon.
          const last = trailLatest(used.trail[i]!, used.lastWindow[i]!, used.older[i]!, w)
          if (used.firstWindow[i]! > w || last <= w - cfg.windows) continue
          const port = used.ports[i]!
          if (modelAllows?.has(port) || (!always.has(port) && peers.get(device.model, port, at) >= cfg.peerDevices)) continue
          // Flows up to the end of w: what the lookahead observed past it is taken off.
          const upToW = used.flows[i]! - tailAfter(used.tail[i]!, used.lastWindow[i]!, w)
          // UDP to one destination where the device had sessions on other ports of the moment before,
          // or its model's peers did: the port is random and the peer the point
          // (a peer-to-peer stream to a phone on the port its carrier's NAT mapped, a risky port's
          // number by chance). Not judged, the always-reported ports excepted.
          const habit = !always.has(port) && used.shape![i] === 0 && habitual(state, device.model, used.to![i]!, port, used.firstWindow[i]!, at)
          if (habit) continue
          // A risky port's first use surprises on a device that never meets new ports; on one that
          // meets them often it is judged like an unusual port (the always-reported ones excepted).
          const explored = risky.has(port) && !always.has(port) && rate() >= cfg.busyNewPortsPerHour
          // A persistent unusual port of a model with devices enough to share it is judged once the
          // fleet's level has its first use: peers that started with it meanwhile count (the fleet
          // view runs two epochs behind).
          if ((!risky.has(port) || explored) && (upToW < cfg.persistentFlows || (fleet.devices(device.model, at) >= cfg.peerDevices && !fleet.sees(used.firstWindow[i]!, w)))) continue
          hits.push(port)
          flows += upToW
          if (high.has(port) && !explored) severity = 'high'
          if (sample === '') sample = used.sample[i]!
        }
        if (hits.length === 0) return null
        return {
          severity,
          score: Math.min(1, 0.6 + 0.1 * hits.length + 0.05 * Math.log10(flows)),
          summary: `${hits.some((p) => risky.has(p)) ? 'first use of risky' : 'persistent use of unusual'} port${hits.length > 1 ? 's' : ''} ${hits.join(', ')} (${flows} flows), not used by the device or its ${device.model} peers while learning`,
          evidence: { ports: hits, flows, sampleDestination: sample, peersRequired: cfg.peerDevices, newPortsPerHour: Math.round(rate() * 100) / 100, modelNewPortsPerHour: Math.round(modelPerHour * 100) / 100 },
          destinations: [sample],
        }
      },
      // The shared inert state is null in the changelog (older checkpoints wrote its empty fields).
      snapshot: (s) => (s === INERT ? null : copy(s)),
      restore: (data) => {
        const d = data as State | null
        return d === null || d.learned === null && d.used === null && (d.seen ?? null) === null && (d.mailFrom ?? null) === null && (d.reached ?? null) === null ? INERT : copy(d)
      },
    }
  },
})

/**
 * The device sent UDP on port of the moment `port` (unusual or dynamic) to destination `to` in window `w` (`opened`: 1 for a
 * new flow, 0 for a flow's later report): remembered (the first MAX_REACHED destinations) with up
 * to three of its ports, the earliest window and the flows of each; counted once for `model`
 * through `count` when it becomes a habit (HABIT_PORTS ports of HABIT_FLOWS flows).
 */
const reachOf = (count: { add(model: string, key: number, ts: number): void }) => (state: State, model: string, to: number, port: number, w: number, ts: number, opened: number): void => {
  const reached = (state.reached ??= [])
  const ports = (state.reachedPorts ??= [])
  const r = reached.indexOf(to)
  if (r < 0) {
    if (reached.length >= MAX_REACHED) return
    reached.push(to)
    ports.push([0, port, w, opened])
    return
  }
  const entry = ports[r]!
  let j = 1
  while (j < entry.length && entry[j] !== port) j += 3
  if (j < entry.length) {
    if (w < entry[j + 1]!) entry[j + 1] = w
    entry[j + 2]! += opened
  } else if (entry.length < 10) entry.push(port, w, opened)
  if (entry[0] === 1) return
  let sessions = 0
  for (let k = 1; k < entry.length; k += 3) if (entry[k + 2]! >= HABIT_FLOWS) sessions++
  if (sessions < HABIT_PORTS) return
  entry[0] = 1
  count.add(model, to, ts)
}

/**
 * Every field of `used` one entry longer, for a new port (its slot is written next). By concat:
 * an array of exactly its length, where push or a write past the end leaves room for 16 more
 * (each of a device's eleven arrays 176 bytes for its first port).
 */
const lengthen = (used: Used): void => {
  used.ports = used.ports.concat([0])
  used.firstWindow = used.firstWindow.concat([0])
  used.lastWindow = used.lastWindow.concat([0])
  used.trail = used.trail.concat([0])
  used.older = used.older.concat([0])
  used.flows = used.flows.concat([0])
  used.tail = used.tail.concat([NO_TAIL])
  used.sample = used.sample.concat([''])
  used.sampleTs = used.sampleTs.concat([0])
  used.to = used.to!.concat([0])
  used.shape = used.shape!.concat([0])
}
const NO_TAIL: number[] = []

/** A device read mail from the destination `hash`: remembered (the latest MAX_MAIL), on a state of its own. */
const readsMail = (current: State, hash: number): State | undefined => {
  if (current.mailFrom?.includes(hash)) return undefined
  const state: State = ownState(current)
  const from = (state.mailFrom ??= [])
  if (from.length >= MAX_MAIL) from.shift()
  from.push(hash)
  return state === current ? undefined : state
}

const copy = (s: State): State => ({
  learned: s.learned?.slice() ?? null,
  mailFrom: s.mailFrom?.slice() ?? null,
  seen: s.seen?.slice() ?? null,
  seenWindow: s.seenWindow?.slice() ?? s.seen?.map(() => 0) ?? null,
  met: s.met ?? 0,
  taught: s.taught?.slice() ?? null,
  taughtModel: s.taughtModel ?? '',
  // (Both or neither.)
  reached: s.reachedPorts === undefined || s.reachedPorts === null ? null : (s.reached?.slice() ?? null),
  reachedPorts: s.reached === undefined || s.reached === null ? null : (s.reachedPorts?.map((p) => p.slice()) ?? null),
  used:
    s.used === null
      ? null
      : {
          ports: s.used.ports.slice(),
          firstWindow: s.used.firstWindow.slice(),
          lastWindow: s.used.lastWindow.slice(),
          flows: s.used.flows.slice(),
          ...trails(s.used),
          sample: s.used.sample.slice(),
          // Checkpoints from before the sample's time was kept: the sample stays.
          sampleTs: s.used.sampleTs?.slice() ?? s.used.sample.map(() => 0),
          // Checkpoints from before: unknown, never judged one peer's port.
          to: s.used.to?.slice() ?? s.used.ports.map(() => 0),
          shape: s.used.shape?.slice() ?? s.used.ports.map(() => OTHER_DESTINATION | NOT_UDP),
        },
})

/** A port's trail and tail, or (a checkpoint from before trails) made from the window before its latest and the latest's flows. */
const trails = (u: Used): Pick<Used, 'trail' | 'older' | 'tail'> => {
  if (u.trail !== undefined) return { trail: u.trail.slice(), older: u.older.slice(), tail: u.tail.map((t) => t.slice()) }
  const old = u as unknown as { prevWindow: number[]; lastFlows: number[] }
  return {
    trail: u.lastWindow.map((w, i) => (old.prevWindow[i]! >= 0 ? trailMark(1, w - old.prevWindow[i]!) : 1)),
    older: u.lastWindow.map((w, i) => (old.prevWindow[i]! >= 0 && w - old.prevWindow[i]! >= TRAIL_SPAN ? old.prevWindow[i]! : -1)),
    tail: old.lastFlows.map((f) => [f]),
  }
}
