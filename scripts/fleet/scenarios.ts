// The fleet's composition: which devices exist, which get infected when and how, and which play a benign hard case.
import { attackerHost, deviceAddress, HOUR, MB, MINUTE } from './flows.ts'
import type { Dest } from './flows.ts'
import { drawTraits, IOT_MODEL_IDS, MODELS } from './models.ts'
import type { ModelId, Traits } from './models.ts'
import { Rng } from './rng.ts'

/** 2026-11-02T00:00:00Z: the capture starts at midnight UTC, the fleet's local time. */
export const FLEET_START = Date.UTC(2026, 10, 2)
export const DAY = 24 * HOUR

export const ATTACK_KINDS = ['spam-burst', 'spam-slow', 'exfiltration', 'spam-telemetry', 'compromised-model', 'scan'] as const
export type AttackKind = (typeof ATTACK_KINDS)[number]
export const HARD_CASES = ['nas-relay', 'firmware-update', 'cdn-churn', 'offline', 'late-join', 'chatty-benign', 'ad-heavy', 'owner-change', 'nat-gateway'] as const
export type HardCase = (typeof HARD_CASES)[number]

export interface Interval {
  readonly from: number
  readonly to: number
}

/** Where an attack's traffic goes: dropper host, command and control, drop site, scan-result collector. */
export interface Infra {
  readonly loader: Dest
  readonly c2: Dest
  readonly drop: Dest
  readonly report: Dest
}

export interface AttackPlan {
  readonly kind: AttackKind
  /** The first malicious event: labels switch from `benign` to `kind` here. */
  readonly infectedAt: number
  /** When the payload (spam, scan, upload) starts, and for how long it runs. */
  readonly activeAt: number
  readonly activeMs: number
  /** SMTP connections or scanned addresses per minute, or bytes uploaded per minute. */
  readonly rate: number
  readonly variant: 'mirai' | 'ssh' | 'default'
  /** Shared by the devices of one campaign (same recipient list, same C&C). */
  readonly campaign: number
  readonly infra: Infra
  /** A later, shorter second run of the payload, or null. */
  readonly repeat: Interval | null
}

export interface FirmwareUpdate {
  readonly downloadAt: number
  /** The device runs `firmware` from here, after a short silent reboot. */
  readonly rebootAt: number
  readonly firmware: string
}

export interface DeviceSpec {
  readonly deviceId: string
  readonly model: ModelId
  readonly srcIp: string
  /** Firmware at the start of the capture. */
  readonly firmware: string
  readonly telemetry: boolean
  /** Offset of the device's 5-minute telemetry schedule. */
  readonly telemetryPhaseMs: number
  /** Which of its flows the collector exports: all, none (an unmonitored site), or only those before infection. */
  readonly collected: 'all' | 'none' | 'until-infection'
  /** First moment the device is on the network. */
  readonly joinAt: number
  readonly offline: Interval | null
  readonly hardCase: HardCase | null
  readonly attack: AttackPlan | null
  readonly update: FirmwareUpdate | null
  readonly traits: Traits
  /** Sold or passed on: factory-reset at `at`, set up at `back` in another household (its address and habits). */
  readonly owner: { readonly at: number; readonly back: number; readonly srcIp: string; readonly traits: Traits } | null
}

export interface FleetPlan {
  readonly seed: number
  /** The labelled capture: [start, end). */
  readonly start: number
  readonly end: number
  /**
   * When traffic begins: `start`, or earlier for a history before the labelled capture (days the
   * devices present at the start lived through, as a deployment's state has: their routines, and
   * the compromised model already compromised; the other attacks and the hard cases' one-off events
   * lie in [start, end)).
   */
  readonly from: number
  readonly devices: readonly DeviceSpec[]
}

export interface PlanOptions {
  /** Devices of each of the eight IoT models (default 40; at least 24 so every attack finds its hosts). */
  readonly devicesPerModel?: number
  /** Hours of history before the labelled day (benign but for the compromised model) (default `FLEET_HISTORY_HOURS`; 0 for none). */
  readonly historyHours?: number
}

type Draft = { -readonly [K in keyof DeviceSpec]: DeviceSpec[K] }

// ---------------------------------------------------------------------------------------------
// Devices

const newDevice = (rng: Rng, model: ModelId, start: number, ids: Set<string>, ips: Set<string>): Draft => {
  const def = MODELS[model]
  let deviceId = ''
  do {
    deviceId = `${model}-${rng.uint32().toString(16).padStart(8, '0').slice(0, 6)}`
  } while (ids.has(deviceId))
  ids.add(deviceId)
  const traits = drawTraits(model, rng, start)
  while (ips.has(traits.srcIp)) traits.srcIp = deviceAddress(rng)
  ips.add(traits.srcIp)
  return {
    deviceId,
    model,
    srcIp: traits.srcIp,
    firmware: rng.weighted(def.firmware),
    telemetry: rng.chance(def.telemetryShare),
    telemetryPhaseMs: rng.int(0, 5 * MINUTE - 1),
    collected: 'all',
    joinAt: start,
    offline: null,
    hardCase: null,
    attack: null,
    update: null,
    traits,
    owner: null,
  }
}

/** `n` times spread over [from, to): one uniform draw in each of n equal slots, shuffled. */
const spread = (rng: Rng, n: number, from: number, to: number): number[] => {
  const slot = (to - from) / n
  return rng.shuffle(Array.from({ length: n }, (_, i) => Math.floor(from + slot * i + rng.float(0, slot))))
}

const SYLLABLES = ['ka', 'vo', 'tri', 'zen', 'mor', 'lu', 'qa', 'dex', 'nu', 'ra', 'vel', 'xo', 'pi', 'sha', 'ter', 'gu']
const botName = (rng: Rng): string =>
  Array.from({ length: rng.int(2, 3) }, () => rng.pick(SYLLABLES)).join('') + (rng.chance(0.5) ? String(rng.int(2, 99)) : '')

/** Campaign `n`'s infrastructure in the attacker block; C&C names look like the throwaway domains bots use. */
const infraFor = (rng: Rng, n: number, kind: AttackKind, variant: AttackPlan['variant']): Infra => {
  const name = botName(rng)
  const c2 =
    kind === 'scan' ? attackerHost(n * 4 + 1, variant === 'mirai' ? 23 : 443, `cnc.${name}.test`)
      : kind === 'exfiltration' ? attackerHost(n * 4 + 1, rng.pick([443, 4444, 8080]))
        : attackerHost(n * 4 + 1, rng.pick([80, 8080, 443]), `${name}.example`)
  return {
    loader: attackerHost(n * 4, kind === 'exfiltration' ? 443 : 80, kind === 'exfiltration' ? `dl.${name}.example` : undefined),
    c2,
    drop: attackerHost(n * 4 + 2, rng.pick([443, 8443]), `drop.files-${n}.example`),
    report: attackerHost(n * 4 + 3, 48101),
  }
}

// ---------------------------------------------------------------------------------------------
// Attacks

interface AttackRule {
  readonly kind: Exclude<AttackKind, 'compromised-model'>
  readonly models: readonly ModelId[]
  readonly count: readonly [number, number]
  /** Infection window, hours after the start. */
  readonly window: readonly [number, number]
  readonly campaigns: number
}

const RULES: readonly AttackRule[] = [
  { kind: 'spam-burst', models: ['frostbyte-fridge', 'lumen-tv', 'brewbot-coffee'], count: [7, 9], window: [1, 21], campaigns: 2 },
  { kind: 'spam-slow', models: ['frostbyte-fridge', 'brewbot-coffee', 'hearth-thermostat', 'hue-bridge', 'lumen-tv'], count: [6, 8], window: [0.5, 13], campaigns: 1 },
  { kind: 'exfiltration', models: ['peep-cam', 'vault-nas', 'lumen-tv'], count: [6, 8], window: [1, 19], campaigns: 8 },
  { kind: 'spam-telemetry', models: ['frostbyte-fridge', 'lumen-tv', 'hearth-thermostat', 'vault-nas', 'brewbot-coffee'], count: [6, 8], window: [1, 20], campaigns: 1 },
  { kind: 'scan', models: ['peep-cam', 'hue-bridge', 'brewbot-coffee', 'hearth-thermostat'], count: [6, 7], window: [0.5, 22], campaigns: 2 },
]

/** Payload timing and intensity of one infected device, as real families behave. */
const payload = (rng: Rng, kind: AttackKind, model: ModelId, infectedAt: number, end: number): Omit<AttackPlan, 'campaign' | 'infra' | 'variant'> => {
  const base = { kind, infectedAt, repeat: null }
  switch (kind) {
    case 'spam-burst': {
      const activeAt = infectedAt + rng.int(2, 25) * MINUTE + rng.int(0, 59_999)
      const activeMs = rng.int(30, 100) * MINUTE
      const again = activeAt + activeMs + rng.int(2, 6) * HOUR
      const repeat = rng.chance(0.35) && again < end - 20 * MINUTE ? { from: again, to: Math.min(end, again + rng.int(15, 45) * MINUTE) } : null
      return { ...base, activeAt, activeMs, rate: Math.min(200, Math.max(30, rng.lognormal(50, 0.5))), repeat }
    }
    case 'spam-slow':
      return { ...base, activeAt: infectedAt + rng.int(5, 40) * MINUTE, activeMs: rng.int(3, 10) * HOUR, rate: rng.float(3, 8) }
    case 'exfiltration': {
      // Cameras: either a hijacked live stream (steady, like their own upload) or the stored archive pulled as fast as it goes.
      const camera = rng.chance(0.5) ? rng.float(3, 6) : rng.float(8, 15)
      const perMinute = (model === 'peep-cam' ? camera : model === 'vault-nas' ? rng.float(5, 14) : rng.float(2.5, 5)) * MB
      // Hundreds of MB, over an hour or more: a faster upload of the same loot just ends sooner.
      const total = Math.min(1200, Math.max(200, rng.lognormal(500, 0.5))) * MB
      const activeMs = Math.max(60 * MINUTE, Math.round((total / perMinute) * MINUTE))
      return { ...base, activeAt: infectedAt + rng.int(10, 60) * MINUTE, activeMs, rate: (total / activeMs) * MINUTE }
    }
    case 'spam-telemetry':
      return { ...base, activeAt: infectedAt + rng.int(3, 20) * MINUTE, activeMs: end - infectedAt, rate: rng.float(15, 50) }
    case 'scan':
      return { ...base, activeAt: infectedAt + rng.int(20, 180) * 1000, activeMs: rng.int(10, 30) * MINUTE, rate: rng.int(100, 220) }
    case 'compromised-model':
      return { ...base, activeAt: infectedAt + rng.int(0, 90) * MINUTE, activeMs: end - infectedAt, rate: rng.int(5, 30) }
  }
}

/** Infections over the labelled day [start, end); the compromised model from `from`, the first event of the file: before anyone watched. */
const infect = (rng: Rng, drafts: Draft[], start: number, end: number, from: number): void => {
  let campaignBase = 0
  for (const rule of RULES) {
    const r = rng.derive(rule.kind)
    const count = r.int(rule.count[0], rule.count[1])
    const times = spread(r, count, start + rule.window[0] * HOUR, start + rule.window[1] * HOUR)
    const infra = Array.from({ length: rule.campaigns }, (_, i) => {
      const variant = rule.kind === 'scan' ? (i === 0 ? 'mirai' : 'ssh') : 'default'
      return { variant, infra: infraFor(r, campaignBase + i, rule.kind, variant) } as const
    })
    const models = r.shuffle(rule.models)
    for (let i = 0; i < count; i++) {
      const model = models[i % models.length] as ModelId
      const free = drafts.filter((d) => d.model === model && d.attack === null && (rule.kind !== 'spam-telemetry' || d.telemetry))
      const device = r.pick(free)
      const c = i % rule.campaigns
      const { variant, infra: campaignInfra } = infra[c] ?? infra[0]!
      device.attack = { ...payload(r, rule.kind, model, times[i] ?? start, end), variant, campaign: campaignBase + c, infra: campaignInfra }
      // Some spam-telemetry devices sit where nobody collects flows at all; the others stop being collected.
      if (rule.kind === 'spam-telemetry') device.collected = i < 3 ? 'none' : 'until-infection'
    }
    campaignBase += rule.campaigns
  }
  // The 2014 story: a model turned through its vendor's servers before anyone watched.
  const vendor = MODELS['glacier-fridge'].hosts.api
  if (vendor === undefined) throw new Error('glacier-fridge has no api host')
  const hijacked: Infra = { loader: vendor, c2: vendor, drop: vendor, report: vendor }
  const r = rng.derive('compromised-model')
  for (const d of drafts.filter((x) => x.model === 'glacier-fridge')) {
    d.attack = { ...payload(r, 'compromised-model', d.model, from, end), variant: 'default', campaign: campaignBase, infra: hijacked }
  }
}

// ---------------------------------------------------------------------------------------------
// Benign hard cases

const benignOf = (drafts: Draft[], pred: (d: Draft) => boolean): Draft[] => drafts.filter((d) => d.attack === null && d.hardCase === null && pred(d))

const mark = (rng: Rng, pool: Draft[], n: number, hardCase: HardCase, apply: (d: Draft) => void): void => {
  for (const d of rng.shuffle(pool).slice(0, n)) {
    d.hardCase = hardCase
    apply(d)
  }
}

const hardCases = (rng: Rng, drafts: Draft[], start: number, ips: Set<string>): void => {
  // A fleet-wide update: every frostbyte-fridge, infected or not, within half an hour.
  const rollout = start + rng.int(9, 14) * HOUR + rng.int(0, 59) * MINUTE
  for (const d of drafts.filter((x) => x.model === 'frostbyte-fridge')) {
    const downloadAt = rollout + rng.int(0, 25 * MINUTE)
    d.update = { downloadAt, rebootAt: downloadAt + rng.int(150, 300) * 1000, firmware: '3.2.0' }
    d.hardCase = 'firmware-update'
  }
  const nas = (d: Draft): boolean => d.model === 'vault-nas'
  mark(rng, benignOf(drafts, nas), 5, 'nas-relay', (d) => {
    d.telemetry = d.telemetry || rng.chance(0.7)
    d.traits.mail = true
    d.traits.burstAfterBackup = d.traits.backupAt !== null
    d.traits.mailBursts = Array.from({ length: rng.int(1, 2) }, () => start + rng.int(6 * 60, 23 * 60) * MINUTE + rng.int(0, 59_999))
  })
  mark(rng, benignOf(drafts, (d) => d.model === 'lumen-tv'), 6, 'cdn-churn', (d) => (d.traits.heavy = true))
  const chatty = (model: ModelId): Draft[] => benignOf(drafts, (d) => d.model === model)
  mark(rng, chatty('peep-cam'), 2, 'chatty-benign', (d) => (d.traits.heavy = true))
  mark(rng, chatty('hue-bridge'), 2, 'chatty-benign', (d) => (d.traits.heavy = true))
  mark(rng, chatty('vault-nas'), 2, 'chatty-benign', (d) => {
    d.traits.heavy = true
    d.traits.uplinkMbps = 100
    d.traits.backupAt = start + rng.int(60, 150) * MINUTE + rng.int(0, 59_999)
    d.traits.backupBytes = rng.float(18, 45) * 1000 * MB
  })
  const notFrostbyte = (d: Draft): boolean => d.model !== 'frostbyte-fridge'
  mark(rng, benignOf(drafts, notFrostbyte), 6, 'offline', (d) => {
    const from = start + rng.int(2 * 60, 14 * 60) * MINUTE + rng.int(0, 59_999)
    d.offline = { from, to: from + rng.int(3 * 60, 8 * 60) * MINUTE + rng.int(0, 59_999) }
  })
  mark(rng, benignOf(drafts, notFrostbyte), 5, 'late-join', (d) => (d.joinAt = start + rng.int(2 * 60, 16 * 60) * MINUTE + rng.int(0, 59_999)))
  // Last, so that the draws of the cases above stay as they were.
  mark(rng, benignOf(drafts, (d) => d.model === 'lumen-tv'), 6, 'ad-heavy', (d) => (d.traits.adHeavy = true))
  mark(rng, benignOf(drafts, notFrostbyte), 4, 'owner-change', (d) => {
    const at = start + rng.int(5 * 60, 14 * 60) * MINUTE + rng.int(0, 59_999)
    const traits = drawTraits(d.model, rng.derive(`owner:${d.deviceId}`), start)
    while (ips.has(traits.srcIp)) traits.srcIp = deviceAddress(rng)
    ips.add(traits.srcIp)
    d.owner = { at, back: at + rng.int(30, 180) * MINUTE + rng.int(0, 59_999), srcIp: traits.srcIp, traits }
  })
}

const freeze = (drafts: readonly Draft[]): DeviceSpec[] => [...drafts].sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0))

/**
 * A day of history before the labelled day: the detectors meet the labelled day with the state a
 * deployment has (a camera's remote viewing, a NAS's nightly backup seen before), not learning
 * from midnight. `evaluate --from` counts the history's alerts apart.
 */
export const FLEET_HISTORY_HOURS = 24

/** Home gateways in the fleet (benign; a household's people behind one address). */
const GATEWAYS = 6

/** The full fleet: about 40 devices of each IoT model and a few home gateways, over 24 hours. */
export const planFleet = (seed: number, options: PlanOptions = {}): FleetPlan => {
  const perModel = options.devicesPerModel ?? 40
  if (!Number.isInteger(perModel) || perModel < 24) throw new RangeError('devicesPerModel must be an integer ≥ 24')
  const historyHours = options.historyHours ?? FLEET_HISTORY_HOURS
  if (!Number.isInteger(historyHours) || historyHours < 0 || historyHours > 24 * 14) throw new RangeError('historyHours must be an integer from 0 to 336')
  const rng = new Rng(seed)
  const start = FLEET_START
  const end = start + DAY
  const ids = new Set<string>()
  const ips = new Set<string>()
  const drafts = IOT_MODEL_IDS.flatMap((model) =>
    Array.from({ length: perModel }, (_, i) => newDevice(rng.derive(`device:${model}:${i}`), model, start, ids, ips)))
  const from = start - historyHours * HOUR
  infect(rng.derive('attacks'), drafts, start, end, from)
  hardCases(rng.derive('hard-cases'), drafts, start, ips)
  // Last, so that every other device stays as it was: households seen through their NAT gateway.
  for (let i = 0; i < GATEWAYS; i++) {
    const d = newDevice(rng.derive(`device:home-gateway:${i}`), 'home-gateway', start, ids, ips)
    d.hardCase = 'nat-gateway'
    drafts.push(d)
  }
  return { seed, start, end, from, devices: freeze(drafts) }
}

// ---------------------------------------------------------------------------------------------
// The demo: eight devices over 2 h 45 min of an evening, small enough to replay in a blink. Long enough
// for the exfiltration to start after new-destination's two hours of learning.

const DEMO_ROSTER: readonly ModelId[] = [
  'frostbyte-fridge', 'peep-cam', 'lumen-tv', 'vault-nas', 'frostbyte-fridge', 'lumen-tv',
  'hearth-thermostat', 'brewbot-coffee',
]

/** 18:00–20:45: a spam burst, an exfiltration and a spambot seen only in telemetry, among benign neighbours (one a NAS mailing through its relay). */
export const planDemo = (seed: number): FleetPlan => {
  const rng = new Rng(seed).derive('demo')
  const start = FLEET_START + 18 * HOUR
  const end = start + 165 * MINUTE
  const ids = new Set<string>()
  const ips = new Set<string>()
  const drafts = DEMO_ROSTER.map((model, i) => newDevice(rng.derive(`device:${i}`), model, start, ids, ips))
  const [fridge, cam, tv, nas, , watcher] = drafts as [Draft, Draft, Draft, Draft, Draft, Draft]
  watcher.traits.acr = false
  const attack = (d: Draft, kind: AttackKind, at: number, patch: Partial<AttackPlan>): void => {
    d.attack = { ...payload(rng, kind, d.model, at, end), variant: 'default', campaign: 0, infra: infraFor(rng, ATTACK_KINDS.indexOf(kind), kind, 'default'), ...patch }
  }
  const burstAt = start + rng.int(15, 30) * MINUTE + rng.int(0, 59_999)
  attack(fridge, 'spam-burst', burstAt, { activeAt: burstAt + rng.int(3, 6) * MINUTE, activeMs: rng.int(8, 10) * MINUTE, rate: rng.int(22, 28), repeat: null })
  const exfilAt = start + rng.int(122, 128) * MINUTE + rng.int(0, 59_999)
  attack(cam, 'exfiltration', exfilAt, { activeAt: exfilAt + rng.int(8, 15) * MINUTE, activeMs: rng.int(45, 55) * MINUTE, rate: rng.float(8, 10) * MB })
  tv.telemetry = true
  tv.collected = 'until-infection'
  attack(tv, 'spam-telemetry', start + rng.int(40, 60) * MINUTE + rng.int(0, 59_999), {})
  nas.hardCase = 'nas-relay'
  nas.telemetry = true
  nas.traits.mail = true
  nas.traits.backupAt = null
  nas.traits.mailBursts = [start + rng.int(20, 40) * MINUTE + rng.int(0, 59_999), start + rng.int(70, 100) * MINUTE + rng.int(0, 59_999)]
  return { seed, start, end, from: start, devices: freeze(drafts) }
}
