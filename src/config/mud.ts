// MUD files (RFC 8520, JSON encoding of the ietf-mud and ietf-access-control-list YANG modules): read, checked, and reduced to the from-device entries the mud-violation detector judges flows by.
import { readdirSync, readFileSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { z } from 'zod'
import type { MudAce, MudProfile } from '../engine/mud.ts'
import { parseCidr } from '../engine/net.ts'
import { AppError } from '../errors.ts'

const port = z.number().int().min(0).max(65535)
const portMatch = z.object({
  operator: z.enum(['eq', 'lt', 'gt', 'lte', 'gte', 'neq']).default('eq'),
  port: port.optional(),
  'lower-port': port.optional(),
  'upper-port': port.optional(),
})
const transport = z.object({
  'destination-port': portMatch.optional(),
  'ietf-mud:direction-initiated': z.enum(['from-device', 'to-device']).optional(),
})
const ipv4Match = z.object({
  protocol: z.number().int().min(0).max(255).optional(),
  'destination-ipv4-network': z.string().optional(),
  'ietf-acldns:dst-dnsname': z.string().min(1).optional(),
})
const ipv6Match = z.object({
  protocol: z.number().int().min(0).max(255).optional(),
  'destination-ipv6-network': z.string().optional(),
  'ietf-acldns:dst-dnsname': z.string().min(1).optional(),
})
/** The `ietf-mud:mud` match abstractions (RFC 8520 §8). */
const MUD_ABSTRACTIONS = ['manufacturer', 'same-manufacturer', 'model', 'controller', 'my-controller'] as const

const aceSchema = z.object({
  name: z.string().min(1),
  matches: z
    .object({
      ipv4: ipv4Match.optional(),
      ipv6: ipv6Match.optional(),
      tcp: transport.optional(),
      udp: transport.optional(),
      icmp: z.object({}).optional(),
      'ietf-mud:mud': z.record(z.string(), z.unknown()).optional(),
    })
    .default({}),
  actions: z.object({ forwarding: z.enum(['accept', 'drop', 'reject']) }),
})

const mudFileSchema = z.object({
  'ietf-mud:mud': z.object({
    'mud-version': z.literal(1),
    'mud-url': z.string().url(),
    'model-name': z.string().min(1).optional(),
    'from-device-policy': z.object({
      'access-lists': z.object({ 'access-list': z.array(z.object({ name: z.string().min(1) })).min(1) }),
    }),
  }),
  'ietf-access-control-list:acls': z.object({
    acl: z.array(
      z.object({
        name: z.string().min(1),
        type: z.string().optional(),
        aces: z.object({ ace: z.array(aceSchema) }),
      }),
    ),
  }),
})

type AceIn = z.infer<typeof aceSchema>

const portRange = (m: z.infer<typeof portMatch>, where: string): [number, number] | 'neq' => {
  if (m['lower-port'] !== undefined || m['upper-port'] !== undefined) {
    const lo = m['lower-port'] ?? 0
    const hi = m['upper-port'] ?? 65535
    if (lo > hi) throw new Error(`${where}: lower-port ${lo} is above upper-port ${hi}`)
    return [lo, hi]
  }
  if (m.port === undefined) throw new Error(`${where}: port or lower-port/upper-port required`)
  const p = m.port
  switch (m.operator) {
    case 'eq': return [p, p]
    case 'lte': return [0, p]
    case 'gte': return [p, 65535]
    case 'lt': return [0, p - 1]
    case 'gt': return [p + 1, 65535]
    case 'neq': return 'neq'
  }
}

const normaliseAce = (acl: string, family: 4 | 6 | null, a: AceIn, where: string): MudAce => {
  const m = a.matches
  const ip = m.ipv4 ?? m.ipv6
  const unsupported: string[] = []
  const t = m.tcp ?? m.udp
  let ports: [number, number] | null = null
  if (t?.['destination-port'] !== undefined) {
    const r = portRange(t['destination-port'], `${where}.matches.${m.tcp ? 'tcp' : 'udp'}.destination-port`)
    if (r === 'neq') unsupported.push('destination-port operator neq')
    else ports = r
  }
  // Flow records are connections the device opened: an entry for connections opened towards it never matches one.
  if (t?.['ietf-mud:direction-initiated'] === 'to-device') unsupported.push('direction-initiated to-device')
  const mud = m['ietf-mud:mud'] ?? {}
  for (const k of MUD_ABSTRACTIONS) if (k in mud) unsupported.push(k)
  const networkText = m.ipv4?.['destination-ipv4-network'] ?? m.ipv6?.['destination-ipv6-network']
  if (networkText !== undefined) {
    try {
      parseCidr(networkText)
    } catch (err) {
      throw new Error(`${where}.matches: ${(err as Error).message}`)
    }
  }
  const protocol = ip?.protocol ?? (m.tcp ? 6 : m.udp ? 17 : m.icmp ? (m.ipv6 ? 58 : 1) : null)
  return {
    acl,
    name: a.name,
    family: m.ipv4 ? 4 : m.ipv6 ? 6 : family,
    protocol,
    networks: networkText === undefined ? [] : [networkText],
    dnsNames: ip?.['ietf-acldns:dst-dnsname'] === undefined ? [] : [ip['ietf-acldns:dst-dnsname'].toLowerCase().replace(/\.$/, '')],
    localNetworks: 'local-networks' in mud,
    ports,
    action: a.actions.forwarding,
    unsupported,
  }
}

/**
 * A MUD file's JSON, reduced to its from-device policy; throws naming the path of the first bad
 * field. The model is `model` when given, else the file's `model-name`, else `fallbackModel`.
 */
export const parseMudFile = (json: unknown, source: string, model?: string, fallbackModel?: string): MudProfile => {
  const r = mudFileSchema.safeParse(json)
  if (!r.success) {
    const issue = r.error.issues[0]!
    throw new Error(`${issue.path.join('.') || '(file)'}: ${issue.message}`)
  }
  const mud = r.data['ietf-mud:mud']
  const acls = new Map(r.data['ietf-access-control-list:acls'].acl.map((a) => [a.name, a]))
  const names = mud['from-device-policy']['access-lists']['access-list'].map((a) => a.name)
  const aces: MudAce[] = []
  for (const name of names) {
    const acl = acls.get(name)
    if (acl === undefined) throw new Error(`ietf-mud:mud.from-device-policy names access list "${name}", which ietf-access-control-list:acls does not define`)
    const family = acl.type === 'ipv4-acl-type' ? 4 : acl.type === 'ipv6-acl-type' ? 6 : null
    const i = r.data['ietf-access-control-list:acls'].acl.indexOf(acl)
    acl.aces.ace.forEach((a, j) => aces.push(normaliseAce(name, family, a, `ietf-access-control-list:acls.acl.${i}.aces.ace.${j}`)))
  }
  const resolvedModel = model ?? mud['model-name'] ?? fallbackModel
  if (resolvedModel === undefined) throw new Error('no model: name it in the configuration or in ietf-mud:mud.model-name')
  return { model: resolvedModel, url: mud['mud-url'], source, acls: names, aces }
}

const readMud = (path: string, field: string, model?: string, fallbackModel?: string): MudProfile => {
  let json: unknown
  try {
    json = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new AppError('EGD_CONFIG', `${field}: cannot read MUD file ${path}: ${e.code ?? e.message}`, { cause: err })
  }
  try {
    return parseMudFile(json, path, model, fallbackModel)
  } catch (err) {
    throw new AppError('EGD_CONFIG', `${field}: MUD file ${path}: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * The profiles a `detectors.mud-violation` section names: `profiles` (model → file) and every
 * `*.json` of `directory` (its model from `model-name`, else the file name). Paths are relative to
 * `baseDir` (the configuration file's folder). A model named twice is an error.
 */
export const loadMudProfiles = (section: { profiles: Readonly<Record<string, string>>; directory?: string | undefined }, baseDir: string): MudProfile[] => {
  const out: MudProfile[] = []
  const field = 'detectors.mud-violation'
  for (const [model, file] of Object.entries(section.profiles)) out.push(readMud(resolve(baseDir, file), `${field}.profiles.${model}`, model))
  if (section.directory !== undefined) {
    const dir = resolve(baseDir, section.directory)
    let names: string[]
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort()
    } catch (err) {
      throw new AppError('EGD_CONFIG', `${field}.directory: cannot read ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err })
    }
    for (const name of names) out.push(readMud(join(dir, name), `${field}.directory`, undefined, basename(name, '.json')))
  }
  const seen = new Set<string>()
  for (const p of out) {
    if (seen.has(p.model)) throw new AppError('EGD_CONFIG', `${field}: two MUD profiles for model ${p.model} (one is ${p.source})`)
    seen.add(p.model)
  }
  return out
}
