/**
 * model-shift — many devices of a model taking up a host new to the model, together.
 *
 * A model's devices talk to the same few hosts for weeks. When several of them start using a
 * host that no device of the model used before (after the model's own learning), either the
 * vendor rolled out new firmware that calls it, or something turned the fleet, as in 2014 through
 * the vendor's own servers. The firmware tells them apart: a device whose firmware changed shortly
 * shortly before it took the host up (or while it settled: an update downloads, then reboots) reports a rollout (severity low, a notice: indicator
 * `rollout <host> firmware <version>`, which `correlate` turns into one fleet-wide rollout notice
 * instead of alerts per device); one without a firmware change reports a shift (medium, indicator
 * `shift <host>`: a campaign once enough devices show it). Hosts are full names when the collector
 * knows them (`api2.vendor.example` is not `api.vendor.example`), else addresses.
 *
 * Peers are counted per pipeline (per partition in `run`): `minPeers` must stay below the devices
 * of a model a partition holds.
 * Tuning: `minPeers` for small fleets; `adoptionMinutes` for rollouts staged over days;
 * `firmwareMinutes` for devices that take long to call home after an update.
 */
import { z } from 'zod'
import { defineDetector } from '../src/engine/detector.ts'
import { MAX_MODELS } from '../src/engine/cohort.ts'
import { isLocalAddress } from '../src/engine/net.ts'
import { hashNumber, hashString, windowOf } from '../src/engine/window.ts'
import type { Finding } from '../src/types.ts'

export const modelShiftConfig = z.strictObject({
  /** Minutes after a model's first device is seen during which its hosts are learned, not new. */
  learningMinutes: z.number().int().min(0).default(120),
  /** A device takes a host up with its model when it first uses it within this many minutes of the model's first use. */
  adoptionMinutes: z.number().int().min(1).default(180),
  /** Other devices of the model that must use the host too. */
  minPeers: z.number().int().min(0).default(3),
  /** Share of the model's devices (seen by this pipeline) that must have taken the host up: a rollout or a turned fleet moves most of a model, an ad server a few. */
  minShare: z.number().min(0).max(1).default(0.5),
  /** Windows with traffic to the host the device needs before it counts (a retry is not an adoption). */
  minActiveWindows: z.number().int().min(1).default(2),
  /** Minutes after its first use of a host before a device is judged: an update downloads, then installs and reboots. */
  settleMinutes: z.number().int().min(0).default(10),
  /** Windows after it is judged during which a device reports its adoption. */
  reportWindows: z.number().int().min(1).default(30),
  /** A firmware change at most this long before the first use (or while it settles) makes the adoption a rollout. */
  firmwareMinutes: z.number().int().min(1).default(240),
  /** Hosts new to a model tracked at once (they travel in the changelog's shard record); while full, further new hosts count as known. */
  maxNovelHosts: z.number().int().min(16).max(4096).default(128),
  /** Hosts new to the model tracked per device at most. */
  maxAdopted: z.number().int().min(1).max(64).default(8),
})
export type ModelShiftConfig = z.infer<typeof modelShiftConfig>

/** Bits of a model's known-hosts filter (a Bloom filter with two hashes): 4 KiB a model; about 5% false "known" at 4,000 hosts. */
const KNOWN_BITS = 1 << 15

/**
 * What a model has used: since when and how many devices; the hosts it knows (a Bloom filter: a
 * false "known" only misses an adoption, never invents one); and the hosts new to it still open to
 * adoption, by hash, with their first window and the devices that took them up (oldest first).
 */
interface ModelHosts {
  since: number
  readonly known: Uint8Array
  readonly novel: Map<number, { first: number; devices: number }>
  /** Host names as flows carry them, seen known: a lookup per flow instead of a hash (rebuilt after a restore, emptied when full). */
  readonly seen: Set<string>
}

const SEEN_MAX = 4096

/** Whether both of the host's bits are set (checked for nearly every flow: no allocation). */
const isKnown = (m: ModelHosts, hash: number): boolean => {
  const b1 = hash & (KNOWN_BITS - 1)
  const b2 = hashNumber(hash) & (KNOWN_BITS - 1)
  return (m.known[b1 >>> 3]! & (1 << (b1 & 7))) !== 0 && (m.known[b2 >>> 3]! & (1 << (b2 & 7))) !== 0
}
/**
 * A host leaves the table of open ones: known from now on when several devices took it up; a host
 * one device used (a scanned address, a mail server) is forgotten instead, so the filter does not
 * fill with them, and is new again should another device use it.
 */
const retire = (m: ModelHosts, hash: number, entry: { devices: number }): void => {
  m.novel.delete(hash)
  if (entry.devices >= 2) markKnown(m, hash)
}

const markKnown = (m: ModelHosts, hash: number): void => {
  const b1 = hash & (KNOWN_BITS - 1)
  const b2 = hashNumber(hash) & (KNOWN_BITS - 1)
  m.known[b1 >>> 3]! |= 1 << (b1 & 7)
  m.known[b2 >>> 3]! |= 1 << (b2 & 7)
}

/** Hosts new to its model this device used: allocated on the first. */
interface Adopted {
  hosts: string[]
  first: number[]
  last: number[]
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
    'Hosts new to the model that several of its devices take up at once: a rollout (low, a notice) after a firmware change, ' +
    'a shift (medium) without one. Lower minPeers for small fleets; raise adoptionMinutes for staged rollouts.',
  version: 1,
  tags: ['maturity_experimental', 'network', 'fleet', 'firmware'],
  configSchema: modelShiftConfig,
  create(cfg, { windowMs, modelDevices }) {
    const models = new Map<string, ModelHosts>()
    const learningWindows = Math.ceil((cfg.learningMinutes * 60_000) / windowMs)
    const adoptionWindows = Math.ceil((cfg.adoptionMinutes * 60_000) / windowMs)
    const firmwareMs = cfg.firmwareMinutes * 60_000
    const settleWindows = Math.ceil((cfg.settleMinutes * 60_000) / windowMs)
    return {
      init: () => INERT,
      observeEgress(state, e, device) {
        // Runs for every flow: the common case (a host the model is known to know) returns after two lookups.
        let model = models.get(device.model)
        const raw = e.dstHost ?? e.dstIp
        if (model?.seen.has(raw)) return
        const w = windowOf(e.ts, windowMs)
        if (model === undefined) {
          if (models.size >= MAX_MODELS) return
          model = { since: w, known: new Uint8Array(KNOWN_BITS / 8), novel: new Map(), seen: new Set() }
          models.set(device.model, model)
        }
        const host = e.dstHost === undefined ? e.dstIp : e.dstHost.toLowerCase()
        const a = state.adopted
        const i = a === null ? -1 : a.hosts.indexOf(host)
        if (i >= 0) {
          if (w > a!.last[i]!) {
            a!.last[i] = w
            a!.active[i]!++
          }
          return
        }
        const hash = hashString(host)
        let entry = model.novel.get(hash)
        if (entry !== undefined && w - entry.first > adoptionWindows) {
          // Too late to take it up with the model; the entry stays while its adopters may still report.
          if (w - entry.first > adoptionWindows + settleWindows + cfg.reportWindows) retire(model, hash, entry)
          return
        }
        if (entry === undefined) {
          if (isKnown(model, hash)) {
            // Cached as known only when the filter says so: every other path must see the host again.
            if (model.seen.size >= SEEN_MAX) model.seen.clear()
            model.seen.add(raw)
            return
          }
          if (isLocalAddress(e.dstIp)) return
          if (w < model.since + learningWindows) {
            markKnown(model, hash)
            return
          }
          if (model.novel.size >= cfg.maxNovelHosts) {
            // Full: the oldest makes room (a scanner churning through addresses must not blind the model).
            const [oldest, o] = model.novel.entries().next().value as [number, { first: number; devices: number }]
            retire(model, oldest, o)
          }
          entry = { first: w, devices: 0 }
          model.novel.set(hash, entry)
        }
        const own: State = state === INERT ? { adopted: null } : state
        const n = (own.adopted ??= { hosts: [], first: [], last: [], active: [] })
        if (n.hosts.length >= cfg.maxAdopted) return own === state ? undefined : own
        n.hosts.push(host)
        n.first.push(w)
        n.last.push(w)
        n.active.push(1)
        entry.devices++
        return own === state ? undefined : own
      },
      evaluate(state, w, device): Finding | null {
        const a = state.adopted
        if (a === null) return null
        const model = models.get(device.model)
        if (model === undefined) return null
        for (let i = 0; i < a.hosts.length; i++) {
          const first = a.first[i]!
          if (w - first < settleWindows || w - first >= settleWindows + cfg.reportWindows) continue
          const activeByW = a.active[i]! - (a.last[i]! > w ? 1 : 0)
          const host = a.hosts[i]!
          const peers = (model.novel.get(hashString(host))?.devices ?? 1) - 1
          if (activeByW < cfg.minActiveWindows || peers < cfg.minPeers || peers + 1 < cfg.minShare * modelDevices(device.model)) continue
          const firstUse = first * windowMs
          const changed = device.firmwareChangedAt
          const rollout = changed < (first + settleWindows + 1) * windowMs && firstUse - changed <= firmwareMs
          return {
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
      snapshotShared: () =>
        [...models].map(([m, h]) => ({
          model: m, since: h.since, known: Buffer.from(h.known).toString('base64'),
          novel: [...h.novel].map(([hash, e]) => [hash, e.first, e.devices]),
        })),
      restoreShared(data) {
        models.clear()
        for (const m of data as { model: string; since: number; known: string; novel: [number, number, number][] }[]) {
          models.set(m.model, {
            since: m.since, known: new Uint8Array(Buffer.from(m.known, 'base64')), seen: new Set(),
            novel: new Map(m.novel.map(([hash, first, devices]) => [hash, { first, devices }])),
          })
        }
      },
      snapshot: (s) => ({ adopted: s.adopted === null ? null : copy(s.adopted) }),
      restore: (data) => {
        const d = data as State
        return d.adopted === null ? INERT : { adopted: copy(d.adopted) }
      },
    }
  },
})

const copy = (a: Adopted): Adopted => ({ hosts: a.hosts.slice(), first: a.first.slice(), last: a.last.slice(), active: a.active.slice() })
