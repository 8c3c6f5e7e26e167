/**
 * mud-violation — egress the device model's MUD profile (RFC 8520) does not allow.
 *
 * A manufacturer's MUD file lists what its device talks to; anything else is, by the vendor's own
 * word, not expected. Each flow of a device whose model has a profile is judged by the profile's
 * from-device ACLs (first matching entry decides; no match is a deny), and a window with denied
 * flows is a finding that cites the entry, or the implicit deny. Optional rate budgets (e.g. SMTP 0
 * an hour) catch what the ACLs allow but not at that volume.
 *
 * Profiles come from files (`profiles: {model: file}`, or a `directory` of them), read when the
 * configuration is loaded. Names in a profile (`dst-dnsname`) match the flow's `dstHost`: a flow
 * without one does not match them. Devices of models without a profile are never judged.
 *
 * Tuning: a profile that is too strict shows as findings on benign devices of the model, all
 * citing the same entry or the implicit deny: add the missing destination to the MUD file (or
 * write a local one for the model). `budgets` bound what the profile allows, per hour.
 */
import { z } from 'zod'
import { defineDetector } from '../src/engine/detector.ts'
import { ratioScore } from '../src/engine/score.ts'
import { MudPolicy, mudProfileSchema } from '../src/engine/mud.ts'
import type { MudProfile } from '../src/engine/mud.ts'
import { parseMudFile } from '../src/engine/mud-file.ts'
import type { ConfigFiles } from '../src/engine/detector.ts'
import { WindowRing, windowOf } from '../src/engine/window.ts'
import type { Finding, Severity } from '../src/types.ts'

const budgetSchema = z.strictObject({
  /** Cited in findings, e.g. `smtp`. */
  name: z.string().min(1),
  /** Models the budget applies to; every profiled model when absent. */
  models: z.array(z.string().min(1)).optional(),
  protocol: z.union([z.enum(['tcp', 'udp']), z.number().int().min(0).max(255)]).default('tcp'),
  ports: z.array(z.number().int().min(0).max(65535)).min(1),
  /** Flows an hour allowed; more is a finding (0: any such flow). */
  perHour: z.number().int().min(0),
})

export const mudViolationConfig = z.strictObject({
  /** MUD file per device model (paths relative to the configuration file). */
  profiles: z.record(z.string().min(1), z.string().min(1)).default({}),
  /** A directory of MUD files (`*.json`): each for the model its `model-name` names, else its file name. */
  directory: z.string().min(1).optional(),
  /** Rate budgets on flows of profiled models. */
  budgets: z.array(budgetSchema).default([]),
  /** The profiles as read from the files: filled in when the configuration is loaded. */
  loaded: z.array(mudProfileSchema).default([]),
})
export type MudViolationConfig = z.infer<typeof mudViolationConfig>

const FIELD = 'detectors.mud-violation'

/** The system error's code (ENOENT, EACCES), else its message. */
const codeOf = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? (err as Error).message

const readMud = (files: ConfigFiles, path: string, field: string, model?: string, fallbackModel?: string): MudProfile => {
  let json: unknown
  try {
    json = JSON.parse(files.readText(path))
  } catch (err) {
    throw new Error(`${field}: cannot read MUD file ${path}: ${codeOf(err)}`, { cause: err })
  }
  try {
    return parseMudFile(json, model, fallbackModel)
  } catch (err) {
    throw new Error(`${field}: MUD file ${path}: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * The profiles the section names: `profiles` (model → file) and every `*.json` of `directory` (its
 * model from `model-name`, else the file name), relative to the configuration file. A model named
 * twice is an error. Profiles switch the detector on, unless the section says `enabled: false`.
 */
const readProfiles = (cfg: MudViolationConfig & { readonly enabled: boolean }, files: ConfigFiles, written: Readonly<Record<string, unknown>> | undefined): MudViolationConfig & { readonly enabled: boolean } => {
  if (Object.keys(cfg.profiles).length === 0 && cfg.directory === undefined) return cfg
  const out: { profile: MudProfile; path: string }[] = []
  for (const [model, file] of Object.entries(cfg.profiles)) {
    const path = files.resolve(file)
    out.push({ profile: readMud(files, path, `${FIELD}.profiles.${model}`, model), path })
  }
  if (cfg.directory !== undefined) {
    const dir = files.resolve(cfg.directory)
    let names: string[]
    try {
      names = files.list(dir, '.json')
    } catch (err) {
      throw new Error(`${FIELD}.directory: cannot read ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err })
    }
    for (const name of names) {
      const path = `${dir}/${name}`
      out.push({ profile: readMud(files, path, `${FIELD}.directory`, undefined, name.slice(0, -'.json'.length)), path })
    }
  }
  const seen = new Map<string, string>()
  for (const { profile, path } of out) {
    const other = seen.get(profile.model)
    if (other !== undefined) throw new Error(`${FIELD}: two MUD profiles for model ${profile.model}: ${other} and ${path}`)
    seen.set(profile.model, path)
  }
  // What was read, not where it was: the same profiles give the same configuration hash wherever the files live.
  const { directory: _d, ...rest } = cfg
  return { ...rest, enabled: written?.enabled === undefined ? true : cfg.enabled, profiles: {}, loaded: [...cfg.loaded, ...out.map((o) => o.profile)] }
}

const PROTO = { tcp: 6, udp: 17 } as const
const MAX_PORTS = 4

/** What the device did wrong in one window: the first denied flow's rule and destination, the ports denied. */
interface Sample {
  window: number
  rule: string
  destination: string
  ports: number[]
}

/** Allocated on the first flow that breaks the profile or falls under a budget. */
interface State {
  denied: WindowRing | null
  samples: (Sample | null)[] | null
  /** Flows per budget (by budget index), per window. */
  budgets: (WindowRing | null)[] | null
}

/** The state of every device whose model has no profile: shared, never written. */
const INERT: State = Object.freeze({ denied: null, samples: null, budgets: null }) as State

export const mudViolation = defineDetector<MudViolationConfig, State>({
  id: 'mud-violation',
  title: 'Egress the MUD profile does not allow',
  description:
    "Flows that the device model's MUD (RFC 8520) from-device policy does not accept, citing the entry or the implicit deny; " +
    'optional per-hour budgets (e.g. SMTP 0). Needs profiles: detectors.mud-violation.profiles or .directory.',
  version: 1,
  fireAfter: 1,
  // Nothing to judge without profiles: it switches on when the configuration names some.
  enabledByDefault: false,
  tags: ['maturity_stable', 'network', 'policy', 'mud'],
  readFiles: readProfiles,
  configSchema: mudViolationConfig,
  create(cfg, { windowMs, lookaheadWindows }) {
    const policies = new Map(cfg.loaded.map((p) => [p.model, new MudPolicy(p)]))
    const budgets = cfg.budgets.map((b) => ({
      ...b,
      proto: typeof b.protocol === 'number' ? b.protocol : PROTO[b.protocol],
      portSet: new Set(b.ports),
      models: b.models === undefined ? null : new Set(b.models),
    }))
    const hour = Math.max(1, Math.round(3_600_000 / windowMs))
    const sampleSlots = lookaheadWindows + 1
    /** Counts a denied flow in its window, and keeps the window's first rule and destination and up to MAX_PORTS ports. */
    const note = (state: State, w: number, rule: string, destination: string, port: number): void => {
      ;(state.denied ??= new WindowRing(sampleSlots)).add(w, 1)
      const samples = (state.samples ??= new Array<Sample | null>(sampleSlots).fill(null))
      const slot = w % sampleSlots
      const s = samples[slot]
      if (s === null || s === undefined || s.window !== w) samples[slot] = { window: w, rule, destination, ports: [port] }
      else if (s.ports.length < MAX_PORTS && !s.ports.includes(port)) s.ports.push(port)
    }
    return {
      // Devices share one state that is never written until they break their profile or use a budget.
      init: () => INERT,
      observeEgress(state, e, device) {
        const policy = policies.get(device.model)
        if (policy === undefined) return
        const w = windowOf(e.ts, windowMs)
        let own = state
        for (let i = 0; i < budgets.length; i++) {
          const b = budgets[i]!
          if (b.proto !== e.proto || !b.portSet.has(e.dstPort) || (b.models !== null && !b.models.has(device.model))) continue
          if (own === INERT) own = { denied: null, samples: null, budgets: null }
          const rings = (own.budgets ??= budgets.map(() => null))
          ;(rings[i] ??= new WindowRing(hour + lookaheadWindows)).add(w, 1)
        }
        const verdict = policy.judge(e)
        if (!verdict.allowed) {
          if (own === INERT) own = { denied: null, samples: null, budgets: null }
          note(own, w, verdict.rule, e.dstHost ?? e.dstIp, e.dstPort)
        }
        return own === state ? undefined : own
      },
      evaluate(state, w, device): Finding | null {
        const profile = policies.get(device.model)?.profile
        if (profile === undefined || state === INERT) return null
        const denied = state.denied?.sum(w, 1) ?? 0
        if (denied > 0) {
          const s = state.samples?.[w % sampleSlots]
          if (s !== null && s !== undefined && s.window === w) {
            return {
              severity: 'high',
              score: ratioScore(denied, 1),
              summary: `${denied} flow(s) the ${device.model} MUD profile does not allow (port ${s.ports.join(', ')}, e.g. to ${s.destination}): ${s.rule}`,
              evidence: { rule: s.rule, profile: profile.url, deniedFlows: denied, ports: s.ports.slice(), sampleDestination: s.destination, indicator: `mud ${s.rule}` },
              destinations: [s.destination],
            }
          }
        }
        if (state.budgets === null) return null
        for (let i = 0; i < budgets.length; i++) {
          const ring = state.budgets[i]
          if (ring === null || ring === undefined || ring.sum(w, 1) === 0) continue
          const b = budgets[i]!
          const flows = ring.sum(w, hour)
          if (flows <= b.perHour) continue
          const severity: Severity = b.perHour === 0 || flows >= 10 * b.perHour ? 'high' : 'medium'
          return {
            severity,
            score: ratioScore(flows, Math.max(1, b.perHour)),
            summary: `${flows} flow(s) to port ${b.ports.join('/')} in the last hour, over the ${device.model} budget "${b.name}" of ${b.perHour}`,
            evidence: { rule: `budget ${b.name}`, profile: profile.url, flowsLastHour: flows, perHour: b.perHour, ports: b.ports.slice(), indicator: `mud budget ${b.name}` },
            destinations: [],
          }
        }
        return null
      },
      // The shared inert state is null in the changelog (older checkpoints wrote its empty fields).
      snapshot: (s) => (s === INERT ? null : {
        denied: s.denied?.toJSON() ?? null,
        samples: s.samples?.map((x) => (x === null ? null : { ...x, ports: x.ports.slice() })) ?? null,
        budgets: s.budgets?.map((r) => r?.toJSON() ?? null) ?? null,
      }),
      restore(data) {
        type Ring = ReturnType<WindowRing['toJSON']>
        const d = data as { denied: Ring | null; samples: (Sample | null)[] | null; budgets: (Ring | null)[] | null } | null
        if (d === null || (d.denied === null && d.budgets === null)) return INERT
        return {
          denied: d.denied === null ? null : WindowRing.from(d.denied),
          samples: d.samples === null ? null : d.samples.map((x) => (x === null ? null : { ...x, ports: x.ports.slice() })),
          budgets: d.budgets === null ? null : d.budgets.map((r) => (r === null ? null : WindowRing.from(r))),
        }
      },
    }
  },
})
