// Suppression rules: allow-lists by device, detector, destination (CIDR or host), owner (AS) and expiry.
import type { Destinations } from '../engine/destinations.ts'
import { NetworkSet, parseNetwork } from '../engine/net.ts'

export interface SuppressionRule {
  /** Exact device id, or a prefix ending in `*`. */
  readonly deviceId?: string | undefined
  readonly detector?: string | undefined
  /** A CIDR (`192.0.2.0/24`), an address, a host name, or `*.suffix` for a domain and its subdomains. */
  readonly destination?: string | undefined
  /** An autonomous system number: every destination must be owned by it (`AS16509`, or an address or prefix of it). */
  readonly asn?: number | undefined
  /** ISO-8601; the rule stops applying at this event time. */
  readonly until?: string | undefined
  /** Why it exists: kept with the rule for the next analyst. */
  readonly reason?: string | undefined
}

interface CompiledRule {
  readonly device: ((id: string) => boolean) | null
  readonly detector: string | null
  readonly destination: ((dst: string) => boolean) | null
  readonly owner: ((dst: string) => boolean) | null
  readonly untilMs: number
}

const compileDestination = (text: string): ((dst: string) => boolean) => {
  const rule = parseNetwork(text)
  if (rule !== null) {
    const set = new NetworkSet([text])
    // A destination may itself be a prefix (new-destination reports a /24 or /48 when it knows no
    // host name): it matches when it lies wholly inside the rule's.
    return (dst) => {
      if (!dst.includes('/')) return set.has(dst)
      const net = parseNetwork(dst)
      return net !== null && net.family === rule.family && net.prefix >= rule.prefix && set.has(net.address)
    }
  }
  const host = text.toLowerCase()
  if (host.startsWith('*.')) {
    const suffix = host.slice(1)
    return (dst) => dst.toLowerCase().endsWith(suffix) || dst.toLowerCase() === host.slice(2)
  }
  return (dst) => dst.toLowerCase() === host
}

/** A destination owned by AS `asn`: its identity `AS<asn>`, or an address (or a prefix's first address) the owner table gives it. */
const compileOwner = (asn: number, destinations: Destinations | null): ((dst: string) => boolean) => {
  const key = `AS${asn}`
  return (dst) => {
    if (dst === key) return true
    if (destinations === null) return false
    const net = parseNetwork(dst)
    return net !== null && destinations.facts(net.address, undefined).asn === asn
  }
}

const compileDevice = (pattern: string): ((id: string) => boolean) =>
  pattern.endsWith('*') ? (id) => id.startsWith(pattern.slice(0, -1)) : (id) => id === pattern

/** Matches findings against the configured rules; built once from config. */
export class Suppressions {
  private readonly rules: readonly CompiledRule[]
  /** Findings dropped by a rule, by detector id. */
  readonly suppressed = new Map<string, number>()

  /** `destinations` says who owns an address, for `asn` rules (none match without it). */
  constructor(rules: readonly SuppressionRule[], destinations: Destinations | null = null) {
    this.rules = rules.map((r) => ({
      device: r.deviceId === undefined ? null : compileDevice(r.deviceId),
      detector: r.detector ?? null,
      destination: r.destination === undefined ? null : compileDestination(r.destination),
      owner: r.asn === undefined ? null : compileOwner(r.asn, destinations),
      untilMs: r.until === undefined ? Infinity : Date.parse(r.until),
    }))
  }

  get empty(): boolean {
    return this.rules.length === 0
  }

  /**
   * True when a rule covers the finding at event time `at`. A destination rule covers a finding
   * only when every destination it names matches, so one allowed relay cannot hide a spam run.
   */
  matches(deviceId: string, detector: string, destinations: readonly string[], at: number): boolean {
    for (const r of this.rules) {
      if (at >= r.untilMs) continue
      if (r.detector !== null && r.detector !== detector) continue
      if (r.device !== null && !r.device(deviceId)) continue
      if (r.destination !== null && (destinations.length === 0 || !destinations.every(r.destination))) continue
      if (r.owner !== null && (destinations.length === 0 || !destinations.every(r.owner))) continue
      this.suppressed.set(detector, (this.suppressed.get(detector) ?? 0) + 1)
      return true
    }
    return false
  }
}
