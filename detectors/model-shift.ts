/**
 * model-shift — many devices of a model taking up a host new to the model, together.
 *
 * A model's devices talk to the same few hosts for weeks. When several of them start using a
 * host that no device of the model used before (after the model's own learning), either the
 * vendor rolled out new firmware that calls it, or something turned the fleet, as in 2014 through
 * the vendor's own servers. The firmware tells them apart: a device whose firmware changed shortly
 * shortly before it took the host up (or while it settled: an update downloads, then reboots) reports a rollout (a notice of low severity: indicator
 * `rollout <host> firmware <version>`, which `correlate` turns into one fleet-wide rollout notice
 * instead of alerts per device); one without a firmware change reports a shift (medium, indicator
 * `shift <host>`: a campaign once enough devices show it). A host is its full name when the
 * collector knows it (`fw.vendor.example` is not `api.vendor.example`: a rollout, or a fleet turned
 * through the vendor's own servers, calls a new host of the vendor's own domain), else the owner of
 * its address (`AS16509`, src/engine/destinations.ts), else its prefix: a model moving between
 * addresses of a provider it already used takes up nothing new.
 *
 * Peers are counted over the whole fleet (every shard, through the fleet view), as the fleet knew
 * them two epochs before the window judged: the first adopters are judged again as the others
 * catch up, for `reportWindows`.
 * Tuning: `minPeers` for small fleets; `adoptionMinutes` for rollouts staged over days;
 * `firmwareMinutes` for devices that take long to call home after an update.
 */
import { z } from 'zod'
import { defineDetector } from '../src/engine/detector.ts'
import { isLocalAddress } from '../src/engine/net.ts'
import { hashString, rowOffset, trailAfter, trailMark, trailShift, windowOf } from '../src/engine/window.ts'
import type { Finding } from '../src/types.ts'

export const modelShiftConfig = z.strictObject({
  /** Minutes after a model's first device is seen during which its hosts are learned, not new. */
  learningMinutes: z.number().int().min(0).default(120),
  /** A device takes a host up with its model when it first uses it within this many minutes of the model's first use. */
  adoptionMinutes: z.number().int().min(1).default(180),
  /** Other devices of the model that must use the host too. */
  minPeers: z.number().int().min(0).default(3),
  /** Share of the model's devices (active in the fleet lately) that must have taken the host up: a rollout or a turned fleet moves most of a model, an ad server a few. */
  minShare: z.number().min(0).max(1).default(0.5),
  /** Windows with traffic to the host the device needs before it counts (a retry is not an adoption). */
  minActiveWindows: z.number().int().min(1).default(2),
  /** Minutes after its first use of a host before a device is judged: an update downloads, then installs and reboots. */
  settleMinutes: z.number().int().min(0).default(10),
  /** Windows after it is judged during which a device reports its adoption. */
  reportWindows: z.number().int().min(1).default(30),
  /** A firmware change at most this long before the first use (or while it settles) makes the adoption a rollout. */
  firmwareMinutes: z.number().int().min(1).default(240),
  /** Hosts new to a model tracked at once in the fleet view; past it the oldest retire first. */
  maxNovelHosts: z.number().int().min(16).max(4096).default(128),
  /** Hosts new to the model tracked per device at most. */
  maxAdopted: z.number().int().min(1).max(64).default(8),
})
export type ModelShiftConfig = z.infer<typeof modelShiftConfig>

/** Host names as flows carry them found known, per model, with the read epoch they were known at (flows repeat hosts: a lookup instead of a hash). */
const SEEN_MAX = 4096

/**
 * Hosts new to its model this device used, allocated on the first: per host its name in `hosts`
 * and `STRIDE` numbers in `nums` (`HASH` to `ACTIVE`). Two arrays of exactly their length: six
 * arrays grown by push took ~1 kB a device for its first host.
 */
interface Adopted {
  hosts: string[]
  nums: number[]
}

/**
 * A host's numbers: `hashString` of its name (the flows' are compared by it), its first window, the
 * latest window of use (which may lie in the lookahead) and the windows of use before it
 * (`trailShift`), and the windows of use.
 * The hash comes first: `rowOffset` finds a host's numbers by it.
 */
const HASH = 0
const FIRST = 1
const LAST = 2
const TRAIL = 3
const ACTIVE = 4
const STRIDE = 5

/** Adopted hosts as checkpoints write them: an array per field (older ones lack hashes and trails). */
interface AdoptedSnapshot {
  hosts: string[]
  hashes?: number[]
  first: number[]
  last: number[]
  trail?: number[]
  active: number[]
}

interface State {
  adopted: Adopted | null
}

/** The state of a device that took up no new host (nearly all): shared, never written. */
const INERT: State = Object.freeze({ adopted: null }) as State

export const modelShift = defineDetector<ModelShiftConfig, State>({
  id: 'model-shift',
  title: 'Devices of a model taking up a new host together',
  description:
    'Hosts new to the model that several of its devices take up at once: a rollout (a notice) after a firmware change, ' +
    'a shift (medium) without one. Lower minPeers for small fleets; raise adoptionMinutes for staged rollouts.',
  version: 3,
  tags: ['maturity_experimental', 'network', 'fleet', 'firmware'],
  configSchema: modelShiftConfig,
  create(cfg, { windowMs, fleet, destinations }) {
    const learningWindows = Math.ceil((cfg.learningMinutes * 60_000) / windowMs)
    const adoptionWindows = Math.ceil((cfg.adoptionMinutes * 60_000) / windowMs)
    const firmwareMs = cfg.firmwareMinutes * 60_000
    const settleWindows = Math.ceil((cfg.settleMinutes * 60_000) / windowMs)
    // What each model uses, over the fleet. A new host stays open to adopters for the adoption
    // minutes and reports for the settle and report windows after; then it retires.
    const hosts = fleet.hosts('hosts', { horizonWindows: adoptionWindows + settleWindows + cfg.reportWindows, maxNovel: cfg.maxNovelHosts })
    /** Per model: host names found known, with the read epoch they were known at (known stays known at later epochs). */
    const seen = new Map<string, Map<string, number>>()
    return {
      init: () => INERT,
      observeEgress(state, e, device) {
        // Runs for every flow: the common case (a host the model is known to know) returns after a few lookups.
        const raw = e.dstHost ?? e.dstIp
        const model = hosts.read(device.model, e.ts)
        const cache = seen.get(device.model)
        const knownAt = cache?.get(raw)
        if (knownAt !== undefined && knownAt <= hosts.readEpoch) return
        const w = windowOf(e.ts, windowMs)
        // The host's hash: its text only for a new host.
        const named = e.dstHost !== undefined && e.dstHost.length > 0
        const hash = named ? hashString(e.dstHost.toLowerCase()) : destinations.hash(e.dstIp, undefined)
        const a = state.adopted
        const o = a === null ? -1 : rowOffset(a.nums, hash, STRIDE)
        if (o >= 0) {
          const nums = a!.nums
          const last = nums[o + LAST]!
          if (w > last) {
            nums[o + TRAIL] = trailShift(nums[o + TRAIL]!, w - last)
            nums[o + LAST] = w
            nums[o + ACTIVE]!++
          } else {
            const marked = trailMark(nums[o + TRAIL]!, last - w)
            if (marked !== nums[o + TRAIL]) nums[o + ACTIVE]!++
            nums[o + TRAIL] = marked
          }
          return
        }
        if (isLocalAddress(e.dstIp)) return
        if (!model.present || w < model.since) hosts.seen(device.model, w, e.ts)
        // While the model learns (and before the fleet knows it at all), its hosts are its own.
        if (!model.present || w < model.since + learningWindows) {
          if (!model.known(hash)) hosts.learn(device.model, hash, e.ts)
          return
        }
        const entry = model.novel(hash)
        // Too late to take it up with the model.
        if (entry !== undefined && w - entry.first > adoptionWindows) return
        if (entry === undefined && model.known(hash)) {
          let c = cache
          if (c === undefined) seen.set(device.model, (c = new Map()))
          if (c.size >= SEEN_MAX) c.clear()
          c.set(raw, hosts.readEpoch)
          return
        }
        const own: State = state === INERT ? { adopted: null } : state
        const n = (own.adopted ??= { hosts: [], nums: [] })
        if (n.hosts.length >= cfg.maxAdopted) return own === state ? undefined : own
        // By concat: arrays of exactly their length (push leaves room for 16 more).
        n.hosts = n.hosts.concat([named ? e.dstHost!.toLowerCase() : destinations.key(e.dstIp, undefined)])
        n.nums = n.nums.concat([hash, w, w, 1, 1])
        hosts.adopt(device.model, hash, w, e.ts)
        return own === state ? undefined : own
      },
      evaluate(state, w, device): Finding | null {
        const a = state.adopted
        if (a === null) return null
        const at = w * windowMs
        const model = hosts.read(device.model, at)
        if (!model.present) return null
        const { nums } = a
        for (let i = 0; i < a.hosts.length; i++) {
          const o = i * STRIDE
          const first = nums[o + FIRST]!
          if (w - first < settleWindows || w - first >= settleWindows + cfg.reportWindows) continue
          const activeByW = nums[o + ACTIVE]! - trailAfter(nums[o + TRAIL]!, nums[o + LAST]!, w)
          const host = a.hosts[i]!
          const entry = model.novel(nums[o + HASH]!)
          // The fleet's count includes this device once the epoch of its first use is in the level read.
          const self = first < (hosts.readEpoch + 1) * fleet.windowsPerEpoch ? 1 : 0
          const peers = entry === undefined ? 0 : Math.max(0, entry.devices - self)
          if (activeByW < cfg.minActiveWindows || peers < cfg.minPeers || peers + 1 < cfg.minShare * fleet.devices(device.model, at)) continue
          const firstUse = first * windowMs
          const changed = device.firmwareChangedAt
          const rollout = changed < (first + settleWindows + 1) * windowMs && firstUse - changed <= firmwareMs
          return {
            kind: rollout ? 'notice' : 'alert',
            severity: rollout ? 'low' : 'medium',
            score: rollout ? 0.3 : 0.6,
            summary: rollout
              ? `took up ${host}, new to ${device.model}, with ${peers} peers after its firmware changed to ${device.firmware}: a rollout`
              : `took up ${host}, new to ${device.model}, with ${peers} peers and no firmware change`,
            evidence: {
              rule: rollout ? 'rollout' : 'shift',
              host,
              peers,
              firmware: device.firmware === '' ? null : device.firmware,
              indicator: rollout ? `rollout ${host} firmware ${device.firmware}` : `shift ${host}`,
            },
            destinations: [host],
          }
        }
        return null
      },
      // A device that adopted nothing is null in the changelog (older checkpoints wrote `{ adopted: null }`).
      snapshot: (s) => (s.adopted === null ? null : { adopted: adoptedSnapshot(s.adopted) }),
      restore: (data) => {
        const d = data as { adopted: AdoptedSnapshot | null } | null
        return d === null || d.adopted === null ? INERT : { adopted: adoptedFromSnapshot(d.adopted) }
      },
    }
  },
})

const adoptedSnapshot = ({ hosts, nums }: Adopted): AdoptedSnapshot => {
  const field = (f: number): number[] => hosts.map((_, i) => nums[i * STRIDE + f]!)
  return { hosts: hosts.slice(), hashes: field(HASH), first: field(FIRST), last: field(LAST), trail: field(TRAIL), active: field(ACTIVE) }
}

// Checkpoints from before hashes were kept: the names' hashes; from before trails: the latest window alone.
const adoptedFromSnapshot = (a: AdoptedSnapshot): Adopted => {
  const nums = new Array<number>(a.hosts.length * STRIDE)
  a.hosts.forEach((host, i) => {
    const o = i * STRIDE
    nums[o + HASH] = a.hashes?.[i] ?? hashString(host)
    nums[o + FIRST] = a.first[i]!
    nums[o + LAST] = a.last[i]!
    nums[o + TRAIL] = a.trail?.[i] ?? 1
    nums[o + ACTIVE] = a.active[i]!
  })
  return { hosts: a.hosts.slice(), nums }
}
