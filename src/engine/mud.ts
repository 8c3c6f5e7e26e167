// MUD (RFC 8520) policies in the form detectors use: the ordered entries of a model's from-device ACLs, and what the first entry a flow matches says.
import { z } from 'zod'
import type { EgressEvent } from '../types.ts'
import { NetworkSet, isLocalAddress } from './net.ts'

/**
 * One access-control entry of a from-device policy, normalised from the MUD file. A field left
 * null or empty does not constrain the match. `unsupported` names MUD abstractions this product
 * cannot resolve (`controller`, `my-controller`, `manufacturer`, `same-manufacturer`, `model`):
 * an entry that uses one never matches, so what it would allow counts as a violation.
 */
export const mudAceSchema = z.strictObject({
  acl: z.string(),
  name: z.string(),
  /** 4 or 6 (the ACL's type), or null for either. */
  family: z.union([z.literal(4), z.literal(6)]).nullable(),
  protocol: z.number().int().min(0).max(255).nullable(),
  /** Destination networks (CIDR). */
  networks: z.array(z.string()),
  /** Destination DNS names (`ietf-acldns:dst-dnsname`), lower-case, matched against the flow's dstHost. */
  dnsNames: z.array(z.string()),
  /** `ietf-mud:mud/local-networks`: destinations on the local network. */
  localNetworks: z.boolean(),
  /** Destination port range, inclusive; null for any. */
  ports: z.tuple([z.number().int(), z.number().int()]).nullable(),
  /** Any destination port but this one (operator neq); null for none. */
  exceptPort: z.number().int().nullable().default(null),
  action: z.enum(['accept', 'drop', 'reject']),
  unsupported: z.array(z.string()),
})
export type MudAce = z.infer<typeof mudAceSchema>

export const mudProfileSchema = z.strictObject({
  /** The device model the profile is for. */
  model: z.string().min(1),
  /** `mud-url` of the file (not where it was read from: the same profile gives the same configuration hash anywhere). */
  url: z.string(),
  /** The from-device ACLs' names, in policy order. */
  acls: z.array(z.string()),
  aces: z.array(mudAceSchema),
})
export type MudProfile = z.infer<typeof mudProfileSchema>

/** A DNS name as profiles hold it: lower case, without a trailing dot. */
const hostName = (h: string): string => (h.endsWith('.') ? h.slice(0, -1) : h).toLowerCase()

/** What a profile says of a flow: allowed (by the entry named), or a violation citing the entry or the implicit deny. */
export interface MudVerdict {
  readonly allowed: boolean
  /** `<acl>/<ace>` of the first entry that matched, or `<acl>[,<acl>…] (no entry accepts)`. */
  readonly rule: string
}

interface CompiledAce {
  readonly ace: MudAce
  /** Destination networks; null for any destination. */
  readonly networks: NetworkSet | null
  readonly dnsNames: ReadonlySet<string>
  readonly rule: string
}

/** A profile ready to judge flows: entries in order, the first match decides, nothing matched is denied (RFC 8520: what is not allowed is not expected). */
export class MudPolicy {
  readonly #aces: readonly CompiledAce[]
  readonly #implicitDeny: MudVerdict

  constructor(readonly profile: MudProfile) {
    this.#aces = profile.aces.map((ace) => ({
      ace,
      networks: ace.networks.length === 0 ? null : new NetworkSet(ace.networks),
      dnsNames: new Set(ace.dnsNames),
      rule: `${ace.acl}/${ace.name}`,
    }))
    this.#implicitDeny = { allowed: false, rule: `${profile.acls.join(',') || 'from-device-policy'} (no entry accepts)` }
  }

  judge(e: EgressEvent): MudVerdict {
    const v6 = e.dstIp.includes(':')
    for (const c of this.#aces) {
      const a = c.ace
      if (a.unsupported.length > 0) continue
      if (a.family !== null && (a.family === 6) !== v6) continue
      if (a.protocol !== null && a.protocol !== e.proto) continue
      if (a.ports !== null && (e.dstPort < a.ports[0] || e.dstPort > a.ports[1])) continue
      if (a.exceptPort !== null && e.dstPort === a.exceptPort) continue
      if (a.localNetworks && !isLocalAddress(e.dstIp)) continue
      if (c.networks !== null && !c.networks.has(e.dstIp)) continue
      if (c.dnsNames.size > 0 && (e.dstHost === undefined || !c.dnsNames.has(hostName(e.dstHost)))) continue
      return { allowed: a.action === 'accept', rule: c.rule }
    }
    return this.#implicitDeny
  }
}
