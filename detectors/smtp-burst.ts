/**
 * smtp-burst — direct SMTP to many mail servers: the spambot signature of the 2014 fridges.
 *
 * Counts a device's connections to SMTP ports (25, 465, 587, 2525 by default) and the distinct
 * mail servers it reaches, over a short horizon (bursts) and an hour (low-and-slow spam). A
 * device that mails through its one configured relay (a NAS sending notifications) stays quiet:
 * what marks a spambot is many distinct servers, not mail as such.
 *
 * The thresholds are the prior for a device with no history: an IoT device mailing many MX hosts
 * directly is suspicious whether or not it always did (a model compromised before anyone
 * watched). Tuning: raise `burstServers` / `slowServers` for fleets with devices that talk to
 * several relays; lower `slowServers` to catch slower spam at the price of more false alarms.
 */
import { z } from 'zod'
import { defineDetector } from '../src/engine/detector.ts'
import { RecentDistinct, WindowRing, windowOf } from '../src/engine/window.ts'
import { ratioScore } from '../src/engine/score.ts'

export const smtpBurstConfig = z.strictObject({
  /** Destination ports counted as SMTP submission or relay. */
  ports: z.array(z.number().int().min(0).max(65535)).default([25, 465, 587, 2525]),
  /** Horizon of the burst rule, in windows. */
  burstWindows: z.number().int().min(1).max(60).default(10),
  /** Distinct mail servers within the burst horizon that make a burst. */
  burstServers: z.number().int().min(1).max(120).default(5),
  /** SMTP connections within the burst horizon that make a burst. */
  burstFlows: z.number().int().min(1).default(15),
  /** Horizon of the slow-spam rule, in windows. */
  slowWindows: z.number().int().min(1).max(60).default(60),
  /** Distinct mail servers within the slow horizon that make slow spam. */
  slowServers: z.number().int().min(1).max(120).default(6),
  /** Distinct servers within the burst horizon that make the alert critical. */
  criticalServers: z.number().int().min(1).max(120).default(50),
  /**
   * Ports of authenticated submission (RFC 6409, RFC 8314). A spambot that uses them holds stolen
   * credentials, a different campaign from one that talks to MX hosts on 25 directly: the finding's
   * `indicator` tells them apart (`smtp/submission` or `smtp/direct`).
   */
  submissionPorts: z.array(z.number().int().min(0).max(65535)).default([465, 587, 2525]),
})
export type SmtpBurstConfig = z.infer<typeof smtpBurstConfig>

const SERVERS = 128

/** Allocated on the first SMTP flow: devices that never mail share INERT. */
interface State {
  flows: WindowRing | null
  servers: RecentDistinct | null
  /** Connections to submission ports; allocated on the first one. */
  submission: WindowRing | null
}

const INERT: State = Object.freeze({ flows: null, servers: null, submission: null }) as State

export const smtpBurst = defineDetector<SmtpBurstConfig, State>({
  id: 'smtp-burst',
  title: 'Direct SMTP to many mail servers',
  description:
    'SMTP connections and distinct mail servers per burst horizon (10 min) and per hour. ' +
    'Raise burstServers/slowServers for devices that use several relays.',
  version: 3,
  tags: ['maturity_stable', 'network', 'spam', 'mitre_T1071.003'],
  peerFeature: 'smtpFlowsPerHour',
  configSchema: smtpBurstConfig,
  create(cfg, { windowMs, lookaheadWindows }) {
    const ports = new Set(cfg.ports)
    const submissionPorts = new Set(cfg.submissionPorts)
    const horizon = Math.max(cfg.burstWindows, cfg.slowWindows)
    const slots = horizon + lookaheadWindows
    return {
      init: () => INERT,
      observeEgress(state, e) {
        if (e.proto !== 6 || !ports.has(e.dstPort)) return
        const own: State = state === INERT ? { flows: null, servers: null, submission: null } : state
        const w = windowOf(e.ts, windowMs)
        // A connection's later reports (an exporter's active timeout) are no new connections.
        const opened = e.continued ? 0 : 1
        ;(own.flows ??= new WindowRing(slots)).add(w, opened)
        ;(own.servers ??= new RecentDistinct(SERVERS)).add(e.dstIp, w)
        if (submissionPorts.has(e.dstPort)) (own.submission ??= new WindowRing(slots)).add(w, opened)
        return own === state ? undefined : own
      },
      evaluate(state, w) {
        const { flows, servers } = state
        if (flows === null || servers === null || flows.head <= w - horizon) return null
        const burstServers = servers.count(w, cfg.burstWindows)
        const burstFlows = flows.sum(w, cfg.burstWindows)
        const slowServers = servers.count(w, cfg.slowWindows)
        const slowFlows = flows.sum(w, cfg.slowWindows)
        const burst = burstServers >= cfg.burstServers && burstFlows >= cfg.burstFlows
        if (!burst && slowServers < cfg.slowServers) return null
        const minutes = Math.round((cfg.burstWindows * windowMs) / 60_000)
        const hours = Math.round((cfg.slowWindows * windowMs) / 60_000)
        const horizonWindows = burst ? cfg.burstWindows : cfg.slowWindows
        const top = servers.top(w, horizonWindows, 5)
        const submissionFlows = state.submission?.sum(w, horizonWindows) ?? 0
        return {
          severity: burst ? (burstServers >= cfg.criticalServers ? 'critical' : 'high') : 'medium',
          score: burst ? ratioScore(burstServers, cfg.burstServers) : 0.9 * ratioScore(slowServers, cfg.slowServers),
          summary: burst
            ? `${burstFlows} SMTP connections to ${burstServers} distinct mail servers in ${minutes} min (threshold ${cfg.burstServers} servers)`
            : `${slowFlows} SMTP connections to ${slowServers} distinct mail servers in ${hours} min (threshold ${cfg.slowServers} servers)`,
          evidence: {
            rule: burst ? 'burst' : 'slow',
            smtpFlowsBurst: burstFlows,
            mailServersBurst: burstServers,
            smtpFlowsSlow: slowFlows,
            mailServersSlow: slowServers,
            thresholdServersBurst: cfg.burstServers,
            thresholdServersSlow: cfg.slowServers,
            topServers: top,
            submissionFlows,
            indicator: submissionFlows > 0 ? 'smtp/submission' : 'smtp/direct',
          },
          destinations: top,
        }
      },
      // A device that never mailed is null in the changelog (older checkpoints wrote its empty fields).
      snapshot: (s) => (s === INERT ? null : { flows: s.flows?.toJSON() ?? null, servers: s.servers?.toJSON() ?? null, submission: s.submission?.toJSON() ?? null }),
      restore(data) {
        type Ring = ReturnType<WindowRing['toJSON']>
        const d = data as { flows: Ring | null; servers: ReturnType<RecentDistinct['toJSON']> | null; submission?: Ring | null } | null
        if (d === null || d.flows === null && d.servers === null && (d.submission ?? null) === null) return INERT
        return {
          flows: d.flows === null ? null : WindowRing.from(d.flows),
          servers: d.servers === null ? null : RecentDistinct.from(d.servers),
          submission: d.submission == null ? null : WindowRing.from(d.submission),
        }
      },
    }
  },
})
