/**
 * new-destination — a device talking to destinations it never used before.
 *
 * IoT devices talk to a handful of vendor services. Each device learns its destinations for a
 * while after it is first seen (two hours and 20 windows with traffic, so a device idle at first
 * learns once it is busy; a destination is its identity, src/engine/destinations.ts: the registered
 * domain of its name (from the collector or the device's DNS answers), else the owner of its
 * address, else its /24 or /48; a named flow to an address whose identity the device used unnamed
 * is that endpoint), then reports destinations outside that set, used in at
 * least three windows (command and control persists, a page load does not),
 * unless enough devices of the same model use them too: a fleet-wide firmware update that adds
 * a host is a rollout, not an incident. Peers are counted after a delay, so the first devices
 * of a rollout are judged once their peers caught up. How many new destinations it takes follows
 * how surprising they are: the device's own rate of new destinations (a Gamma belief over a
 * Poisson rate, src/engine/rate.ts) with its model's rate as the prior, so a TV that meets
 * trackers every hour needs far more than a thermostat that never meets any, and a device's
 * first hours lean on what its model's devices do.
 *
 * A single new destination that receives a large upload fires at once (exfiltration): flow by flow,
 * bytes sent less bytes received where at least twice as much went out as came back, so a big
 * download's acknowledgements or a video call are no upload. Where a device uploaded before stays
 * known apart from the other destinations it learned: a gateway that meets hundreds of sites a day
 * does not forget its nightly photo backup's cloud.
 * Tuning: `surprise` (how unlikely a count must be), `minNovel` for devices with natural churn;
 * `peerDevices` for small fleets.
 */
import { z } from 'zod'
import { defineDetector } from '../src/engine/detector.ts'
import type { Finding } from '../src/types.ts'
import { hashString, rowOffset, tailAfter, tailShift, trailAfter, trailMark, trailShift, windowOf } from '../src/engine/window.ts'
import { ratioScore } from '../src/engine/score.ts'
import { gammaObserve, surprise } from '../src/engine/rate.ts'
import type { GammaRate } from '../src/engine/rate.ts'
import { addressText, compactAddress, isLocalAddress } from '../src/engine/net.ts'
import { Rows } from '../src/engine/rows.ts'

/**
 * What a flow uploads: what it sent less what it received, when it sent at least twice as much;
 * nothing for a download (its acknowledgements) or a call (about as much comes back), and never
 * less than nothing, so bytes a destination sent before (a payload fetched first) cannot hide a
 * later upload to it. A collector that does not report bytes in (one direction only) gives what it sent.
 */
const netSent = (bytesOut: number, bytesIn: number | undefined): number => {
  const back = bytesIn ?? 0
  return bytesOut >= 2 * back ? bytesOut - back : 0
}

export const newDestinationConfig = z.strictObject({
  /** Minutes after a device's first event during which its destinations are learned. */
  learningMinutes: z.number().int().min(0).default(120),
  /** Windows with traffic the device must also have had before learning ends: a device idle at first learns once it is busy. */
  learningWindows: z.number().int().min(0).default(20),
  /** Horizon over which new destinations are counted, in windows. */
  windows: z.number().int().min(1).max(1440).default(60),
  /** New destinations within the horizon needed to fire. */
  minNovel: z.number().int().min(1).default(1),
  /**
   * How unlikely the new destinations of the horizon must be, for the device's rate, to fire: as
   * -log10 of the chance (3: one in a thousand). Twice as unlikely is high severity.
   */
  surprise: z.number().positive().default(3),
  /**
   * Hours of the device's own traffic its model's rate weighs as at most, in the device's belief:
   * less when the model's devices differ from each other (from the spread of their hourly counts).
   */
  priorHours: z.number().positive().default(48),
  /** New destinations an hour a device is assumed to meet at least, whatever its model shows. */
  minRatePerHour: z.number().positive().default(0.001),
  /**
   * Hours with traffic over which the device's own rate forgets. A device that changes is learned
   * again: an hour that fires still teaches it up to the count that fires.
   */
  memoryHours: z.number().positive().default(48),
  /** Devices of the same model using a destination that make it normal for the model. */
  peerDevices: z.number().int().min(1).default(3),
  /** Windows with traffic a new destination needs before it counts: C&C persists, a page load does not. */
  minActiveWindows: z.number().int().min(1).default(3),
  /** Windows a new destination waits for peers before it counts (for a model with more devices than peerDevices, until the fleet view has those windows: 1–2 epochs more). */
  peerDelayWindows: z.number().int().min(0).default(20),
  /**
   * Bytes uploaded to one new destination within the horizon that fire at once: flow by flow, what
   * was sent less what came back, in flows that sent at least twice what they received (a large
   * download's acknowledgements, 1–2 % of it, or a call are no upload).
   */
  uploadBytes: z.number().int().min(1).default(20_000_000),
  /** Destinations learned per device at most; beyond it the oldest are forgotten. */
  maxKnown: z.number().int().min(8).max(4096).default(256),
  /** New destinations tracked per device at most. */
  maxNovel: z.number().int().min(1).max(256).default(32),
})
export type NewDestinationConfig = z.infer<typeof newDestinationConfig>

/**
 * Destinations first seen after learning, in the order they were: per destination `stride` numbers
 * in `nums` (`HASH` to `TAIL`) and three texts in `strs` (`KEY` to `HOST`). Two arrays a device,
 * each of exactly its length: eleven, and one more per destination, took several kB a device.
 */
interface Novel {
  nums: number[]
  strs: (string | number | null)[]
}

/**
 * A new destination's numbers: its key's `hashString` (compared per flow instead of the strings),
 * first window, bytes sent (net) within the horizon, latest window with traffic (which may lie in
 * the lookahead), the windows with traffic before it (`trailShift`), the windows with traffic
 * (the latest ones may lie in the lookahead), how the rates learned it as churn (1 the device's: it
 * met it, and it did not count yet; 2 its model's too: its wait is over and it was not used long
 * enough to count, a one-off), then the bytes of the latest windows, the lookahead's (`tailShift`).
 * The trail and the tail (see src/engine/window.ts) keep the rules at window w from counting what
 * the lookahead already observed past w.
 * The hash comes first: `rowOffset` finds a destination's numbers by it.
 */
const HASH = 0
const FIRST = 1
const BYTES = 2
const LAST = 3
const TRAIL = 4
const ACTIVE = 5
const TALLIED = 6
const TAIL = 7
/**
 * A new destination's texts, for evidence: its key, null where its address and host name give it
 * (`Destinations.key`: always but in checkpoints of before addresses were kept), its first flow's
 * address (`compactAddress`: a dotted quad as a number) and host name ('' for none).
 */
const KEY = 0
const ADDRESS = 1
const HOST = 2
const STRINGS = 3

/** New destinations as checkpoints write them: an array per field. */
interface NovelSnapshot {
  keys: string[]
  /** `hashString` of each key: compared per flow instead of the strings. */
  hashes: number[]
  /** The address and host name ('' for none) of each one's first flow, for evidence. */
  addresses: string[]
  hosts: string[]
  window: number[]
  bytes: number[]
  /** The latest window with traffic to it, which may lie in the lookahead. */
  lastWindow: number[]
  /** Windows with traffic before the latest (`trailShift`). */
  trail: number[]
  /** Bytes of the latest windows, the lookahead's (`tailShift`). */
  tail: number[][]
  /** Windows with traffic to it (the latest ones may lie in the lookahead). */
  active: number[]
  /**
   * How the rates learned it as churn: 1 the device's (it met it, and it did not count yet), 2 its
   * model's too (its wait is over and it was not used long enough to count: a one-off).
   */
  tallied: number[]
}

/**
 * A device's state is its row in the detector's `Rows` (no object per device): its belief's
 * shape and exposure and three window numbers as doubles; counts, its latest hour and the
 * destinations it knows while they are few as words (`KNOWN_INLINE` hashes and a word of their
 * signs: a hash is unsigned, one marked `BEHIND_NAME` signed, and checkpoints write each as it
 * was). The rest, which a device needs later or never, is in its `More` (by row).
 */
type State = number

/**
 * The doubles: the device's new destinations and the hours they were met in (its Gamma belief,
 * from the second half of learning, then hourly, forgetting; see src/engine/rate.ts); the latest
 * window with traffic while learning (-1 before); the window the second half of learning began in
 * (half the minutes and half the windows), or -1; -1 while learning, then the window its rate was
 * last updated.
 */
const SHAPE = 0
const EXPOSURE = 1
const LAST_ACTIVE = 2
const LATE_SINCE = 3
const RATE_WINDOW = 4
const DOUBLES = 5
/**
 * The words: windows with traffic while learning; hours with traffic since the rate was last
 * updated (its exposure), and the latest of them (-1 before); destinations learned in the second
 * half; how many known destinations are inline (-1: they are in `More.known`), their signs (bit k
 * set: the k-th is negative), and the inline hashes.
 */
const ACTIVE_WINDOWS = 0
const ACTIVE_HOURS = 1
const LAST_HOUR = 2
const LATE_LEARNED = 3
const KNOWN_COUNT = 4
const KNOWN_SIGNS = 5
const KNOWN = 6
/** Known destinations held in the row: a thermostat's few and their addresses' marks; more go to `More.known`. */
const KNOWN_INLINE = 8
const WORDS = KNOWN + KNOWN_INLINE

/** What a device needs once it knows many destinations, meets new ones or uploads: an object by row, absent until then. */
interface More {
  /** The destinations it knows past the inline ones, all of them, in the order learned (up to maxKnown). */
  known: number[] | null
  /**
   * Allocated on the first destination seen after learning; those first used before the horizon
   * are dropped at the hourly update (null once none is left), their hashes to `stale`.
   */
  novel: Novel | null
  /**
   * The hashes of the new destinations dropped past the horizon, oldest first: still known,
   * whatever the known destinations forgot since, as long as they are among the latest `maxNovel`
   * new destinations it met, with those in `novel` (as they were while they stayed new ones).
   */
  stale: number[] | null
  /**
   * Destinations it sent `uploadBytes` to within a horizon (the latest MAX_UPLOADS): where it
   * uploads stays known when a busy device's known destinations forget it (a gateway's nightly
   * photo backup among hundreds of sites a day).
   */
  uploads: number[] | null
  /**
   * Bulk uploads under way to destinations it knows (learned, or new ones past the horizon): for
   * each, `[hash, first window, bytes]`, the latest MAX_BULK; one reaching `uploadBytes` within a
   * horizon joins `uploads`.
   */
  bulk: number[] | null
}

/** The state as checkpoints write it (the form of the object a device had before the rows). */
interface Snapshot {
  /** Hashes of the destinations the device used, in the order learned. */
  known: number[]
  novel: NovelSnapshot | null
  shape: number
  exposure: number
  activeWindows: number
  lastActive: number
  activeHours: number
  lastHour: number
  lateSince: number
  lateLearned: number
  rateWindow: number
  /** Absent in older checkpoints, and where none. */
  uploads?: number[] | null
  /** Absent in older checkpoints, and where none. */
  bulk?: number[] | null
  /** Absent in older checkpoints (their past-horizon new destinations are still in `novel`), and where none. */
  stale?: number[] | null
}

/** Upload destinations a device remembers apart from the others. */
const MAX_UPLOADS = 8
/** Bulk uploads to known destinations a device follows at once. */
const MAX_BULK = 4
/** Of `uploadBytes`, what one flow must upload to count towards a bulk upload to a known destination (smaller flows are never followed: it costs nothing per ordinary flow). */
const BULK_SHARE = 20

/**
 * New destinations a device-hour adds to its model's rate at most: one bot's hundreds of mail servers
 * do not make its model's other devices busy.
 */
const MODEL_HOUR_CAP = 10

/** Marks the identity of an address the device used behind a name (see observeEgress). */
const BEHIND_NAME = 0x5bd1e995

/** No numbers: a device without new destinations, read as their empty numbers, never written. */
const NONE = Object.freeze([]) as unknown as number[]

export const newDestination = defineDetector<NewDestinationConfig, State>({
  id: 'new-destination',
  title: 'Destinations the device never used',
  description:
    'Destinations outside what the device learned, discounted when model peers use them, judged by ' +
    'their surprise under the device\'s own rate of new destinations (its model\'s as the prior). ' +
    'Raise surprise to page less; lower peerDevices for small fleets.',
  version: 7,
  tags: ['maturity_stable', 'network', 'command_and_control', 'mitre_T1071'],
  peerFeature: 'bytesOutPerHour',
  configSchema: newDestinationConfig,
  create(cfg, { windowMs, lookaheadWindows, fleet, destinations }) {
    // Devices of each model per destination, over the fleet. Keyed by destination hash: a rare
    // collision only makes a destination look shared or known.
    const peers = fleet.counts('destinations', 20_000)
    /** 1 when more than peerDevices of the model's devices (the device itself among them) used the destination by `at`, else 0. */
    const sharedBy = (model: string, hash: number, at: number): number => (peers.get(model, hash, at) > cfg.peerDevices ? 1 : 0)
    // How many new destinations the model's devices meet an hour, after learning.
    const modelHours = fleet.histogram('new-per-hour')
    const learningMs = cfg.learningMinutes * 60_000
    const hourWindows = Math.max(1, Math.round(3_600_000 / windowMs))
    /** The horizon in hours: the unit the device's rate is counted in. */
    const horizonHours = (cfg.windows * windowMs) / 3_600_000
    const keep = Math.max(0, 1 - 1 / cfg.memoryHours)
    /** A new destination's bytes per window over the lookahead, and all its numbers. */
    const tailLength = lookaheadWindows + 1
    const stride = TAIL + tailLength
    /**
     * Whether a destination first used in `first` has waited for peers by window `w`: peers that took
     * it up within the wait must be in the fleet's level. For a model with devices enough to share it,
     * the wait ends when the level read at w reaches its last window (the fleet view runs two epochs
     * behind); a model without cannot discount it anyway.
     */
    const waitedBy = (first: number, w: number, canShare: boolean): boolean =>
      canShare ? fleet.sees(first + cfg.peerDelayWindows, w) : first <= w - cfg.peerDelayWindows
    /** The device's belief, its own counts with its model's rate as the prior (one object, reused). */
    const belief: GammaRate = { shape: 0, exposure: 0 }
    /** The devices' rows, and what some of them need more, by row. */
    const rows = new Rows(DOUBLES, WORDS)
    const more: (More | undefined)[] = []
    /** A device's own belief, to update (one object, reused). */
    const own: GammaRate = { shape: 0, exposure: 0 }
    const moreOf = (row: State): More => (more[row] ??= { known: null, novel: null, stale: null, uploads: null, bulk: null })
    /** A new row: nothing learned, no window yet. */
    const fresh = (): State => {
      const row = rows.alloc()
      while (more.length <= row) more.push(undefined)
      const f = rows.f
      const d = row * DOUBLES
      f[d + LAST_ACTIVE] = -1
      f[d + LATE_SINCE] = -1
      f[d + RATE_WINDOW] = -1
      rows.i[row * WORDS + LAST_HOUR] = -1
      return row
    }
    /** Learning lasts the learning minutes since the device's first event and its first active windows. */
    const learns = (row: State, age: number): boolean => age < learningMs || rows.i[row * WORDS + ACTIVE_WINDOWS]! < cfg.learningWindows
    /** Whether the device uploaded to `hash` lately. */
    const uploadsTo = (row: State, hash: number): boolean => more[row]?.uploads?.includes(hash) ?? false
    /** A flow in window `w` to destination `hash` the device knows, or learns now: followed when it is bulk and the destination not yet one it uploads to. */
    const followBulk = (row: State, hash: number, w: number, bytesOut: number, bytesIn: number | undefined): void => {
      const sent = netSent(bytesOut, bytesIn)
      if (sent * BULK_SHARE >= cfg.uploadBytes && !uploadsTo(row, hash)) bulkUpload(moreOf(row), hash, w, sent, cfg.windows, cfg.uploadBytes)
    }
    /** Whether the device knows destination `hash` (its row's inline ones compared by bits and sign, as `includes` compares numbers). */
    const knows = (row: State, hash: number): boolean => {
      const i = rows.i
      const o = row * WORDS
      const count = i[o + KNOWN_COUNT]!
      if (count < 0) return more[row]!.known!.includes(hash)
      const bits = hash | 0
      const sign = hash < 0 ? 1 : 0
      for (let k = 0; k < count; k++) if (i[o + KNOWN + k] === bits && ((i[o + KNOWN_SIGNS]! >>> k) & 1) === sign) return true
      return false
    }
    /** The device's known destinations, in the order learned, each as it was hashed. */
    const knownOf = (row: State): number[] => {
      const i = rows.i
      const o = row * WORDS
      const count = i[o + KNOWN_COUNT]!
      if (count < 0) return more[row]!.known!
      const signs = i[o + KNOWN_SIGNS]!
      return Array.from({ length: count }, (_, k) => ((signs >>> k) & 1) === 1 ? i[o + KNOWN + k]! : i[o + KNOWN + k]! >>> 0)
    }
    const remember = (row: State, model: string, hash: number, ts: number, shared = true): void => {
      const i = rows.i
      const o = row * WORDS
      const count = i[o + KNOWN_COUNT]!
      if (count >= 0 && (count < KNOWN_INLINE || cfg.maxKnown === KNOWN_INLINE)) {
        let at = count
        if (count === KNOWN_INLINE) {
          // Full at maxKnown: the oldest makes room.
          for (let k = 1; k < KNOWN_INLINE; k++) i[o + KNOWN + k - 1] = i[o + KNOWN + k]!
          i[o + KNOWN_SIGNS] = i[o + KNOWN_SIGNS]! >>> 1
          at = KNOWN_INLINE - 1
        } else i[o + KNOWN_COUNT] = count + 1
        i[o + KNOWN + at] = hash | 0
        if (hash < 0) i[o + KNOWN_SIGNS] = i[o + KNOWN_SIGNS]! | (1 << at)
        else i[o + KNOWN_SIGNS] = i[o + KNOWN_SIGNS]! & ~(1 << at)
      } else {
        const m = moreOf(row)
        if (count >= 0) {
          // Past the inline ones: all of them to an array of their own.
          m.known = knownOf(row)
          i[o + KNOWN_COUNT] = -1
        }
        const known = m.known!
        if (known.length < cfg.maxKnown) {
          // A fresh array of exactly the right length (concat): push would leave up to half as much
          // again empty, and shift then push at the bound (a spambot learning MX hosts, a fifth of the
          // bundled fleet's devices) kept ~400 slots for 256.
          m.known = known.concat([hash])
        } else {
          // Full: the oldest makes room, moved by hand (copyWithin takes V8's generic path).
          for (let k = 1; k < known.length; k++) known[k - 1] = known[k]!
          known[known.length - 1] = hash
        }
      }
      if (shared) peers.add(model, hash, ts)
    }
    /** The key its address and host name give (as `observeEgress` would have written it). */
    const derivedKey = (address: string, host: string): string => destinations.key(address, host || undefined)
    /** New destination `i`'s key. */
    const keyOf = (strs: Novel['strs'], i: number): string => (strs[i * STRINGS + KEY] as string | null) ?? derivedKey(addressOf(strs, i), hostText(strs, i))
    return {
      rowState: true,
      init: fresh,
      observeEgress(row, e, device) {
        const w = windowOf(e.ts, windowMs)
        const age = e.ts - device.firstSeen
        const f = rows.f
        const d = row * DOUBLES
        const i = rows.i
        const o = row * WORDS
        const learning = f[d + RATE_WINDOW]! < 0 && learns(row, age)
        const hour = Math.floor(w / hourWindows)
        if (hour > i[o + LAST_HOUR]!) {
          i[o + LAST_HOUR] = hour
          i[o + ACTIVE_HOURS]!++
        }
        if (learning && w > f[d + LAST_ACTIVE]!) {
          f[d + LAST_ACTIVE] = w
          i[o + ACTIVE_WINDOWS]!++
          if (f[d + LATE_SINCE]! < 0 && age >= learningMs / 2 && i[o + ACTIVE_WINDOWS]! > cfg.learningWindows / 2) f[d + LATE_SINCE] = w
        }
        if (isLocalAddress(e.dstIp)) return
        // The destination's key is hashed in place: the key string is built only for a new one.
        const hash = destinations.hash(e.dstIp, e.dstHost)
        const m = more[row]
        const novel = m === undefined ? null : m.novel
        const at = novel === null ? -1 : rowOffset(novel.nums, hash, stride)
        if (at >= 0) {
          const nums = novel!.nums
          // First seen in the earliest window it had traffic in, whatever order the flows came in.
          if (w < nums[at + FIRST]!) nums[at + FIRST] = w
          if (w - nums[at + FIRST]! < cfg.windows) {
            const sent = netSent(e.bytesOut, e.bytesIn)
            nums[at + BYTES]! += sent
            const last = nums[at + LAST]!
            if (w > last) {
              nums[at + TRAIL] = trailShift(nums[at + TRAIL]!, w - last)
              tailShift(nums, w - last, at + TAIL, tailLength)
              nums[at + LAST] = w
              nums[at + ACTIVE]!++
            } else {
              const marked = trailMark(nums[at + TRAIL]!, last - w)
              if (marked !== nums[at + TRAIL]) nums[at + ACTIVE]!++
              nums[at + TRAIL] = marked
            }
            const k = last > w ? last - w : 0
            if (k < tailLength) nums[at + TAIL + k]! += sent
          }
          return
        }
        // A new destination dropped past the horizon is known, as it was while it stayed a new one.
        if (m !== undefined && m.stale !== null && m.stale.includes(hash)) return
        const named = e.dstHost !== undefined && e.dstHost.length > 0
        if (knows(row, hash)) {
          // A bulk upload to where it already goes (a nightly backup learned while learning) makes it where it uploads.
          followBulk(row, hash, w, e.bytesOut, e.bytesIn)
          return
        }
        // Where it uploaded lately (the latest MAX_UPLOADS) is no new destination, however many others it met since.
        if (uploadsTo(row, hash)) {
          remember(row, device.model, hash, e.ts, false)
          return
        }
        // An address's identity (owner or prefix) is known used unnamed (`hash`) or behind a name
        // (`hash ^ BEHIND_NAME`). An unnamed flow is known either way: the name's answer expired,
        // or the collector does not name it. A named flow is the endpoint it knew only when the
        // device used its address's identity unnamed (a DNS answer, a collector that learned the
        // name): any other name in that cloud is judged by its name.
        if (!named && knows(row, hash ^ BEHIND_NAME)) return
        const byAddress = named ? destinations.hash(e.dstIp, undefined) : hash
        const addressKnown = named && knows(row, byAddress)
        remember(row, device.model, hash, e.ts)
        if (named && !addressKnown && !knows(row, byAddress ^ BEHIND_NAME)) {
          remember(row, device.model, byAddress ^ BEHIND_NAME, e.ts, false)
          // For the model's peers, the address's identity is in use: a peer reaching it unnamed shares it.
          peers.add(device.model, byAddress, e.ts)
        }
        if (addressKnown) return
        if (learning) {
          if (f[d + LATE_SINCE]! >= 0) i[o + LATE_LEARNED]!++
          // Its first flow counts towards a bulk upload too (the rest come to a known destination).
          followBulk(row, hash, w, e.bytesOut, e.bytesIn)
          return
        }
        const mine = moreOf(row)
        // Its new destinations and the stale ones together are the latest maxNovel it met: the
        // oldest stale one makes room first.
        if (mine.stale !== null && (mine.novel === null ? 0 : mine.novel.strs.length / STRINGS) + mine.stale.length >= cfg.maxNovel) {
          mine.stale = mine.stale.length > 1 ? mine.stale.slice(1) : null
        }
        const { nums, strs } = (mine.novel = roomForOne(mine.novel, cfg.maxNovel, stride))
        const added = nums.length - stride
        const sent = netSent(e.bytesOut, e.bytesIn)
        nums[added + HASH] = hash
        nums[added + FIRST] = w
        nums[added + BYTES] = sent
        nums[added + LAST] = w
        nums[added + TRAIL] = 1
        nums[added + ACTIVE] = 1
        nums[added + TALLIED] = 0
        nums[added + TAIL] = sent
        for (let k = 1; k < tailLength; k++) nums[added + TAIL + k] = 0
        const so = strs.length - STRINGS
        strs[so + KEY] = null
        strs[so + ADDRESS] = compactAddress(e.dstIp)
        strs[so + HOST] = e.dstHost ?? ''
      },
      evaluate(row, w, device): Finding | null {
        const f = rows.f
        const d = row * DOUBLES
        if (f[d + RATE_WINDOW]! < 0) {
          const end = (w + 1) * windowMs
          if (learns(row, end - device.firstSeen)) return null
          // Per hour of the second half, which is at least a quarter of the learning minutes long.
          const lateSince = f[d + LATE_SINCE]!
          const lateMs = lateSince < 0 ? 0 : Math.max(end - lateSince * windowMs, learningMs / 4, windowMs)
          f[d + SHAPE] = lateMs > 0 ? rows.i[row * WORDS + LATE_LEARNED]! : 0
          f[d + EXPOSURE] = lateMs / 3_600_000
          f[d + RATE_WINDOW] = w
        }
        const rateWindow = f[d + RATE_WINDOW]!
        let novel = more[row]?.novel ?? null
        // No new destination to judge and no hourly update due: nothing to read or to learn.
        if ((novel === null || novel.strs.length === 0) && w - rateWindow < hourWindows) return null
        const at = w * windowMs
        // The model's devices' rates as a Gamma prior, by the moments of their hourly counts (a
        // Poisson mixed over a Gamma has variance mean + mean² / shape): devices alike weigh as
        // many hours, devices that differ (a few ad-supported TVs among the others) as few.
        const moments = modelHours.moments(device.model, at)
        const modelRate = Math.max(cfg.minRatePerHour, (moments?.mean ?? 0) / horizonHours)
        // No more hours than the model's device-hours behind them (a model barely seen says little).
        const spread = moments === null ? 0 : moments.variance - moments.mean
        const evidence = Math.min(cfg.priorHours, moments === null ? 0 : moments.weight * horizonHours)
        const priorHours = Math.max(1, spread > 0 ? Math.min(evidence, (moments!.mean / spread) * horizonHours) : evidence)
        own.shape = f[d + SHAPE]!
        own.exposure = f[d + EXPOSURE]!
        belief.shape = own.shape + modelRate * priorHours
        belief.exposure = own.exposure + priorHours
        let counted = 0
        /** New destinations since the last update not counted (yet): one-offs, or waiting for peers. */
        let uncounted = 0
        /** Of those, the ones whose wait is over: one-offs (what the model learns, not yet-to-count ones). */
        let oneOffs = 0
        /** Counted ones the device's rate learned as churn while they waited. */
        let vouched = 0
        const updates = w - rateWindow >= hourWindows
        // Hourly, the new destinations first used before the horizon go: they never count again
        // (a first window only moves earlier); their hashes stay known.
        if (updates && novel !== null) novel = withinHorizon(more[row]!, w - cfg.windows, stride, cfg.maxNovel)
        let biggest = -1
        let biggestBytes = 0
        /** Indexes in `novel` of the destinations counted. */
        const picked: number[] = []
        const count = novel === null ? 0 : novel.strs.length / STRINGS
        const nums = novel === null ? NONE : novel.nums
        const canShare = count > 0 && fleet.devices(device.model, at) > cfg.peerDevices
        for (let i = 0; i < count; i++) {
          const o = i * stride
          const first = nums[o + FIRST]!
          if (first > w || first <= w - cfg.windows) continue
          // Peers count the device itself: a destination is normal when others use it too. Read
          // only where it decides something (in most windows of most destinations it does not); -1 before.
          let shared = -1
          // Up to the end of w: what the lookahead observed past it is taken off.
          const bytes = nums[o + BYTES]! - tailAfter(nums, nums[o + LAST]!, w, o + TAIL, tailLength)
          if (bytes >= cfg.uploadBytes) {
            uploadedTo(moreOf(row), nums[o + HASH]!)
            if (bytes > biggestBytes) {
              shared = sharedBy(device.model, nums[o + HASH]!, at)
              if (shared === 0) {
                biggest = i
                biggestBytes = bytes
              }
            }
          }
          const activeByW = nums[o + ACTIVE]! - trailAfter(nums[o + TRAIL]!, nums[o + LAST]!, w)
          const waited = waitedBy(first, w, canShare)
          if (waited && activeByW >= cfg.minActiveWindows && shared < 0) shared = sharedBy(device.model, nums[o + HASH]!, at)
          if (!waited || shared === 1 || activeByW < cfg.minActiveWindows) {
            // What else the device met and its peers do not share (yet): a page load, a tracker of
            // an ad break, one still waiting for peers. Its own churn, which the update learns (the
            // first hours of a TV's first evening teach the rest of the evening).
            if (updates && shared < 0) shared = sharedBy(device.model, nums[o + HASH]!, at)
            if (updates && shared === 0) {
              const t = nums[o + TALLIED]!
              if (t === 0) uncounted++
              if (t < 2 && waited) {
                oneOffs++
                nums[o + TALLIED] = 2
              } else if (t === 0) nums[o + TALLIED] = 1
            }
            continue
          }
          // One it learned as churn before it counted does not vouch for itself.
          if (nums[o + TALLIED]! > 0) vouched++
          counted++
          picked.push(i)
        }
        if (vouched > 0) belief.shape = Math.max(belief.shape - vouched, modelRate * priorHours)
        const surprised = counted >= cfg.minNovel ? surprise(counted, belief, horizonHours) : 0
        if (updates) {
          // Exposure is the hours the device had traffic in since the last update (an offline day
          // is no evidence of a quiet device), and it forgets per such hour. They met what the
          // horizon counted and the rest.
          const elapsed = (w - rateWindow) / hourWindows
          const exposed = Math.min(elapsed, rows.i[row * WORDS + ACTIVE_HOURS]!)
          const inHorizon = counted * Math.min(1, elapsed / horizonHours)
          const met = inHorizon + uncounted
          if (exposed > 0) {
            const forget = keep ** exposed
            if (surprised >= cfg.surprise) {
              // An hour that fires teaches the device no more than the count that fires (a device
              // that changed for good is learned again, an hour at a time), and its model nothing:
              // a bot does not make its model normal.
              const fires = firingCount(belief, cfg.surprise, horizonHours, counted)
              gammaObserve(own, Math.min(met, (fires * exposed) / horizonHours), exposed, forget)
              // Those judged now do not vouch for themselves later.
              for (const i of picked) if (nums[i * stride + TALLIED] === 0) nums[i * stride + TALLIED] = 1
            } else {
              gammaObserve(own, met, exposed, forget)
              // Its model learns the hour, within a cap, but only what is settled: one destination
              // that may yet count does not make its model busy.
              modelHours.observe(device.model, Math.round(Math.min((inHorizon + oneOffs) / exposed, MODEL_HOUR_CAP) * horizonHours), at)
            }
          }
          f[d + SHAPE] = own.shape
          f[d + EXPOSURE] = own.exposure
          rows.i[row * WORDS + ACTIVE_HOURS] = 0
          f[d + RATE_WINDOW] = w
        }
        const hours = Math.round((cfg.windows * windowMs) / 360_000) / 10
        if (biggest >= 0) {
          const bytes = biggestBytes
          const { strs } = novel!
          const key = keyOf(strs, biggest)
          const facts = destinations.facts(addressOf(strs, biggest), hostOf(strs, biggest))
          return {
            severity: 'high',
            score: ratioScore(bytes, cfg.uploadBytes),
            summary: `sent ${(bytes / 1e6).toFixed(1)} MB (net of what came back) to ${key}, a destination it never used before`,
            evidence: {
              rule: 'upload', destination: key, netBytesOut: bytes, thresholdBytes: cfg.uploadBytes, newDestinations: picked.length,
              address: facts.address, name: facts.name, domain: facts.domain, asn: facts.asn, owner: facts.owner, range: facts.range,
            },
            destinations: [key],
          }
        }
        if (surprised < cfg.surprise) return null
        // In the order they were first used (then by name), whatever order their flows came in.
        const { strs } = novel!
        const judged = picked.map((i) => ({ first: nums[i * stride + FIRST]!, key: keyOf(strs, i), address: addressOf(strs, i) }))
        judged.sort((a, b) => a.first - b.first || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
        const keys = judged.map((d) => d.key)
        // A firmware change is in the evidence, not a reason to lower the severity: a rollout's
        // destinations are shared by the model's peers, and firmware that turned a device is not.
        const firmwareChanged = device.firmwareChangedAt > (w + 1) * windowMs - 2 * learningMs
        const expected = (belief.shape / belief.exposure) * horizonHours
        return {
          severity: surprised >= 2 * cfg.surprise ? 'high' : 'medium',
          score: surpriseScore(surprised, cfg.surprise),
          summary: `${counted} destinations never used before in ${hours} h (${Number(expected.toPrecision(2))} expected), none shared by ${cfg.peerDevices}+ ${device.model} peers`,
          evidence: {
            rule: 'novelty',
            newDestinations: counted,
            expected: Number(expected.toPrecision(2)),
            // -log10 of the chance of this many or more, for the device's rate.
            surprise: round2(surprised),
            // What the device met an hour, but for the destinations judged.
            deviceRatePerHour: Number((own.exposure > 0 ? Math.max(0, own.shape - vouched) / own.exposure : 0).toPrecision(2)),
            modelRatePerHour: Number(modelRate.toPrecision(2)),
            modelWeightHours: Math.round(priorHours * 10) / 10,
            firmwareChangedRecently: firmwareChanged,
            destinations: keys.slice(0, 10),
            // The first address each was seen at, and who owns it.
            addresses: judged.slice(0, 10).map((d) => d.address),
            owners: judged.slice(0, 10).map((d) => destinations.facts(d.address, undefined).owner ?? ''),
          },
          destinations: keys,
        }
      },
      snapshot(row): Snapshot {
        const f = rows.f
        const d = row * DOUBLES
        const i = rows.i
        const o = row * WORDS
        const m = more[row]
        return {
          known: knownOf(row).slice(),
          novel: m?.novel == null ? null : novelSnapshot(m.novel, stride, keyOf),
          shape: f[d + SHAPE]!,
          exposure: f[d + EXPOSURE]!,
          activeWindows: i[o + ACTIVE_WINDOWS]!,
          lastActive: f[d + LAST_ACTIVE]!,
          activeHours: i[o + ACTIVE_HOURS]!,
          lastHour: i[o + LAST_HOUR]!,
          lateSince: f[d + LATE_SINCE]!,
          lateLearned: i[o + LATE_LEARNED]!,
          rateWindow: f[d + RATE_WINDOW]!,
          // (Absent until needed: most devices never upload.)
          uploads: m?.uploads?.slice(),
          bulk: m?.bulk?.slice(),
          stale: m?.stale?.slice(),
        }
      },
      // From a checkpoint: as older ones wrote it too.
      restore(data): State {
        const s = data as Snapshot
        const row = fresh()
        const f = rows.f
        const d = row * DOUBLES
        const i = rows.i
        const o = row * WORDS
        // Checkpoints from before the belief: the old hourly rate as an hour of exposure.
        const rate = (s as unknown as { rate?: number }).rate
        f[d + SHAPE] = s.shape ?? rate ?? 0
        f[d + EXPOSURE] = s.exposure ?? (rate === undefined ? 0 : 1)
        f[d + LAST_ACTIVE] = s.lastActive
        f[d + LATE_SINCE] = s.lateSince ?? -1
        f[d + RATE_WINDOW] = s.rateWindow
        i[o + ACTIVE_WINDOWS] = s.activeWindows
        i[o + ACTIVE_HOURS] = s.activeHours ?? 0
        i[o + LAST_HOUR] = s.lastHour ?? -1
        i[o + LATE_LEARNED] = s.lateLearned ?? 0
        if (s.known.length <= KNOWN_INLINE) {
          i[o + KNOWN_COUNT] = s.known.length
          let signs = 0
          for (let k = 0; k < s.known.length; k++) {
            i[o + KNOWN + k] = s.known[k]! | 0
            if (s.known[k]! < 0) signs |= 1 << k
          }
          i[o + KNOWN_SIGNS] = signs
        } else {
          i[o + KNOWN_COUNT] = -1
          moreOf(row).known = s.known.slice()
        }
        if (s.novel !== null) moreOf(row).novel = novelFromSnapshot(s.novel, stride, derivedKey)
        if (s.uploads != null) moreOf(row).uploads = s.uploads.slice()
        if (s.bulk != null) moreOf(row).bulk = s.bulk.slice()
        if (s.stale != null) moreOf(row).stale = s.stale.slice()
        return row
      },
      forget(row) {
        more[row] = undefined
        rows.release(row)
      },
    }
  },
})

const round2 = (n: number): number => Math.round(n * 100) / 100

/** A flow uploading `sent` bytes in window `w` to known destination `hash`: added to its bulk upload of the horizon, which past `uploadBytes` makes it where the device uploads. */
const bulkUpload = (m: More, hash: number, w: number, sent: number, horizon: number, uploadBytes: number): void => {
  const bulk = (m.bulk ??= [])
  let k = -1
  for (let j = 0; j < bulk.length; j += 3) if (bulk[j] === hash) k = j
  if (k >= 0 && w - bulk[k + 1]! >= horizon) {
    bulk.splice(k, 3)
    k = -1
  }
  if (k < 0) {
    if (bulk.length >= 3 * MAX_BULK) bulk.splice(0, 3)
    k = bulk.length
    bulk.push(hash, w, 0)
  }
  bulk[k + 2]! += sent
  if (bulk[k + 2]! >= uploadBytes) {
    uploadedTo(m, hash)
    bulk.splice(k, 3)
  }
}

/** The device sent a horizon's upload to destination `hash`: remembered (the latest MAX_UPLOADS). */
const uploadedTo = (m: More, hash: number): void => {
  const uploads = (m.uploads ??= [])
  if (uploads.includes(hash)) return
  if (uploads.length >= MAX_UPLOADS) uploads.shift()
  uploads.push(hash)
}

/** The least count of a horizon that fires under a belief (at most `most`, a count known to fire). */
const firingCount = (belief: GammaRate, threshold: number, units: number, most: number): number => {
  for (let k = 1; k < most; k++) if (surprise(k, belief, units) >= threshold) return k
  return most
}

/** A surprise past its threshold as a score in [0.5, 1]: 0.5 at the threshold, 1 at three times it. */
const surpriseScore = (s: number, threshold: number): number => Math.min(1, 0.5 + (s - threshold) / (4 * threshold))

/**
 * New destinations with room for one more at their end: copied one longer (push would leave up to
 * half as much again unused), or, when `most` are kept, the first seen longest ago dropped.
 */
const roomForOne = (novel: Novel | null, most: number, stride: number): Novel => {
  const count = novel === null ? 0 : novel.strs.length / STRINGS
  if (novel !== null && count >= most) {
    // Moved by hand: copyWithin takes V8's generic path, ten times slower for a spambot's stream of new servers.
    const { nums, strs } = novel
    for (let j = stride; j < nums.length; j++) nums[j - stride] = nums[j]!
    for (let j = STRINGS; j < strs.length; j++) strs[j - STRINGS] = strs[j]!
    return novel
  }
  const nums = new Array<number>((count + 1) * stride)
  const strs: Novel['strs'] = new Array<string>((count + 1) * STRINGS)
  for (let j = 0; j < count * stride; j++) nums[j] = novel!.nums[j]!
  for (let j = 0; j < count * STRINGS; j++) strs[j] = novel!.strs[j]!
  return { nums, strs }
}

/**
 * A device's new destinations without those first used by window `before` (null for none left),
 * their hashes added to its stale ones (the latest `most` with those kept); the same arrays when none was.
 */
const withinHorizon = (m: More, before: number, stride: number, most: number): Novel | null => {
  const { nums, strs } = m.novel!
  const count = strs.length / STRINGS
  let kept = 0
  for (let i = 0; i < count; i++) if (nums[i * stride + FIRST]! > before) kept++
  if (kept === count) return m.novel
  const stale = m.stale ?? []
  const keptNums = new Array<number>(kept * stride)
  const keptStrs: Novel['strs'] = new Array<string>(kept * STRINGS)
  for (let i = 0, k = 0; i < count; i++) {
    if (nums[i * stride + FIRST]! <= before) {
      stale.push(nums[i * stride + HASH]!)
      continue
    }
    for (let j = 0; j < stride; j++) keptNums[k * stride + j] = nums[i * stride + j]!
    for (let j = 0; j < STRINGS; j++) keptStrs[k * STRINGS + j] = strs[i * STRINGS + j]!
    k++
  }
  // With the new ones kept, the latest `most` met; exactly as long as its content (push leaves room to grow).
  m.stale = stale.slice(Math.max(0, stale.length - (most - kept)))
  if (m.stale.length === 0) m.stale = null
  m.novel = kept === 0 ? null : { nums: keptNums, strs: keptStrs }
  return m.novel
}

/** New destination `i`'s first address, and its host name ('' for none), as the flow gave them. */
const addressOf = (strs: Novel['strs'], i: number): string => addressText(strs[i * STRINGS + ADDRESS]!)
const hostText = (strs: Novel['strs'], i: number): string => strs[i * STRINGS + HOST] as string
const hostOf = (strs: Novel['strs'], i: number): string | undefined => hostText(strs, i) || undefined

/** New destinations as checkpoints write them, an array per field. */
const novelSnapshot = ({ nums, strs }: Novel, stride: number, keyOf: (strs: Novel['strs'], i: number) => string): NovelSnapshot => {
  const count = strs.length / STRINGS
  const field = (f: number): number[] => Array.from({ length: count }, (_, i) => nums[i * stride + f]!)
  const text = (of: (strs: Novel['strs'], i: number) => string): string[] => Array.from({ length: count }, (_, i) => of(strs, i))
  return {
    keys: text(keyOf),
    addresses: text(addressOf),
    hosts: text(hostText),
    hashes: field(HASH),
    window: field(FIRST),
    bytes: field(BYTES),
    lastWindow: field(LAST),
    trail: field(TRAIL),
    tail: Array.from({ length: count }, (_, i) => nums.slice(i * stride + TAIL, (i + 1) * stride)),
    active: field(ACTIVE),
    tallied: field(TALLIED),
  }
}

/**
 * New destinations from a checkpoint. Older checkpoints lack some fields (made as before: hashes
 * from the keys, no addresses, a trail of the latest window alone, a tail of its bytes alone); a
 * tail of another lookahead (another lateness) is cut or padded with zeros to this one's. A key
 * is kept only where its address and host name do not give it (`derivedKey`): in checkpoints of
 * before addresses, or of another owner table.
 */
const novelFromSnapshot = (n: NovelSnapshot, stride: number, derivedKey: (address: string, host: string) => string): Novel => {
  const count = n.keys.length
  const nums = new Array<number>(count * stride)
  const strs: Novel['strs'] = new Array<string>(count * STRINGS)
  const lastBytes = (n as unknown as { lastBytes?: number[] }).lastBytes
  for (let i = 0; i < count; i++) {
    const o = i * stride
    nums[o + HASH] = n.hashes?.[i] ?? hashString(n.keys[i]!)
    nums[o + FIRST] = n.window[i]!
    nums[o + BYTES] = n.bytes[i]!
    nums[o + LAST] = n.lastWindow[i]!
    nums[o + TRAIL] = n.trail?.[i] ?? 1
    nums[o + ACTIVE] = n.active[i]!
    nums[o + TALLIED] = n.tallied?.[i] ?? 0
    const tail = n.tail?.[i] ?? [lastBytes?.[i] ?? 0]
    for (let k = 0; k < stride - TAIL; k++) nums[o + TAIL + k] = tail[k] ?? 0
    const key = n.keys[i]!
    const address = n.addresses?.[i] ?? ''
    const host = n.hosts?.[i] ?? ''
    strs[i * STRINGS + KEY] = address !== '' && derivedKey(address, host) === key ? null : key
    strs[i * STRINGS + ADDRESS] = compactAddress(address)
    strs[i * STRINGS + HOST] = host
  }
  return { nums, strs }
}
