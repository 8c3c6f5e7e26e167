// MUD files (RFC 8520, JSON encoding of the ietf-mud and ietf-access-control-list YANG modules): checked and reduced to the from-device entries the mud-violation detector judges flows by (no I/O: the detector reads the files through the configuration's reader).
import { z } from 'zod'
import type { MudAce, MudProfile } from './mud.ts'
import { parseNetwork } from './net.ts'

const port = z.number().int().min(0).max(65535)
const portMatch = z.strictObject({
  operator: z.enum(['eq', 'lt', 'gt', 'lte', 'gte', 'neq']).default('eq'),
  port: port.optional(),
  'lower-port': port.optional(),
  'upper-port': port.optional(),
})

/**
 * Match fields of RFC 8519 and RFC 8520 that this product reads, and those it knows but cannot
 * judge a flow record by (an entry using one never matches: what it would allow is a violation).
 * Any other key is an error that names it, so a typo never widens a policy.
 */
const UNJUDGED = {
  ip: ['source-ipv4-network', 'source-ipv6-network', 'ietf-acldns:src-dnsname', 'dscp', 'ecn', 'length', 'ttl', 'ihl', 'flags', 'offset', 'identification', 'flow-label'],
  transport: ['source-port', 'sequence-number', 'acknowledgement-number', 'data-offset', 'reserved', 'flags', 'window-size', 'urgent-pointer', 'options', 'length'],
  matches: ['eth', 'egress-interface', 'ingress-interface'],
} as const
const unjudged = <K extends string>(known: readonly K[]) => Object.fromEntries(known.map((k) => [k, z.unknown().optional()])) as Record<K, z.ZodOptional<z.ZodUnknown>>

const transport = z.strictObject({
  'destination-port': portMatch.optional(),
  'ietf-mud:direction-initiated': z.enum(['from-device', 'to-device']).optional(),
  ...unjudged(UNJUDGED.transport),
})
const ipv4Match = z.strictObject({
  protocol: z.number().int().min(0).max(255).optional(),
  'destination-ipv4-network': z.string().optional(),
  'ietf-acldns:dst-dnsname': z.string().min(1).optional(),
  ...unjudged(UNJUDGED.ip),
})
const ipv6Match = z.strictObject({
  protocol: z.number().int().min(0).max(255).optional(),
  'destination-ipv6-network': z.string().optional(),
  'ietf-acldns:dst-dnsname': z.string().min(1).optional(),
  ...unjudged(UNJUDGED.ip),
})
/** The `ietf-mud:mud` match abstractions (RFC 8520 §8). */
const MUD_ABSTRACTIONS = ['manufacturer', 'same-manufacturer', 'model', 'controller', 'my-controller'] as const

const aceSchema = z.object({
  name: z.string().min(1),
  matches: z
    .strictObject({
      ipv4: ipv4Match.optional(),
      ipv6: ipv6Match.optional(),
      tcp: transport.optional(),
      udp: transport.optional(),
      icmp: z.record(z.string(), z.unknown()).optional(),
      'ietf-mud:mud': z.record(z.string(), z.unknown()).optional(),
      ...unjudged(UNJUDGED.matches),
    })
    .refine((m) => !(m.ipv4 && m.ipv6), { message: 'ipv4 and ipv6 in one entry' })
    .refine((m) => [m.tcp, m.udp, m.icmp].filter((x) => x !== undefined).length <= 1, { message: 'more than one of tcp, udp, icmp in one entry' })
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
    if (m.port !== undefined) throw new Error(`${where}: port and lower-port/upper-port in one match`)
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
  const tName = m.tcp ? 'tcp' : 'udp'
  let ports: [number, number] | null = null
  let exceptPort: number | null = null
  if (t?.['destination-port'] !== undefined) {
    const r = portRange(t['destination-port'], `${where}.matches.${tName}.destination-port`)
    if (r === 'neq') exceptPort = t['destination-port'].port!
    else ports = r
  }
  if (t !== undefined) for (const k of UNJUDGED.transport) if (t[k] !== undefined) unsupported.push(`${tName} ${k}`)
  if (ip !== undefined) for (const k of UNJUDGED.ip) if (ip[k] !== undefined) unsupported.push(`${m.ipv4 ? 'ipv4' : 'ipv6'} ${k}`)
  for (const k of UNJUDGED.matches) if (m[k] !== undefined) unsupported.push(k)
  const transportProtocol = m.tcp ? 6 : m.udp ? 17 : m.icmp ? (m.ipv6 || family === 6 ? 58 : 1) : null
  if (ip?.protocol !== undefined && transportProtocol !== null && ip.protocol !== transportProtocol) {
    throw new Error(`${where}.matches: protocol ${ip.protocol} contradicts the ${m.tcp ? 'tcp' : m.udp ? 'udp' : 'icmp'} match`)
  }
  // Flow records are connections the device opened: an entry for connections opened towards it never matches one.
  if (t?.['ietf-mud:direction-initiated'] === 'to-device') unsupported.push('direction-initiated to-device')
  const mud = m['ietf-mud:mud'] ?? {}
  for (const k of MUD_ABSTRACTIONS) if (k in mud) unsupported.push(k)
  const networkText = m.ipv4?.['destination-ipv4-network'] ?? m.ipv6?.['destination-ipv6-network']
  if (networkText !== undefined && parseNetwork(networkText) === null) throw new Error(`${where}.matches: not an IP address or CIDR: ${networkText}`)
  const protocol = ip?.protocol ?? transportProtocol
  return {
    acl,
    name: a.name,
    family: m.ipv4 ? 4 : m.ipv6 ? 6 : family,
    protocol,
    networks: networkText === undefined ? [] : [networkText],
    dnsNames: ip?.['ietf-acldns:dst-dnsname'] === undefined ? [] : [ip['ietf-acldns:dst-dnsname'].toLowerCase().replace(/\.$/, '')],
    localNetworks: 'local-networks' in mud,
    ports,
    exceptPort,
    action: a.actions.forwarding,
    unsupported,
  }
}

/**
 * A MUD file's JSON, reduced to its from-device policy; throws naming the path of the first bad
 * field. The model is `model` when given, else the file's `model-name`, else `fallbackModel`.
 */
export const parseMudFile = (json: unknown, model?: string, fallbackModel?: string): MudProfile => {
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
    // Identities may carry their module's prefix (RFC 7951).
    const type = acl.type?.replace(/^ietf-access-control-list:/, '')
    const family = type === 'ipv4-acl-type' ? 4 : type === 'ipv6-acl-type' ? 6 : null
    const i = r.data['ietf-access-control-list:acls'].acl.indexOf(acl)
    acl.aces.ace.forEach((a, j) => aces.push(normaliseAce(name, family, a, `ietf-access-control-list:acls.acl.${i}.aces.ace.${j}`)))
  }
  const resolvedModel = model ?? mud['model-name'] ?? fallbackModel
  if (resolvedModel === undefined) throw new Error('no model: name it in the configuration or in ietf-mud:mud.model-name')
  return { model: resolvedModel, url: mud['mud-url'], acls: names, aces }
}
