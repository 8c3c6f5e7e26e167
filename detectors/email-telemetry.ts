/**
 * email-telemetry — mail volume the device reports about itself.
 *
 * Some devices sit behind a NAT or a network whose flows nobody collects; their own telemetry
 * (`emailsSent`, `smtpConnections`, per report, not cumulative) still tells when they turn into
 * spambots. Sums the reported counts over a horizon (30 min) and fires when the sum is high AND
 * spread over several reports: a NAS sending one batch of backup notifications is one report,
 * a spambot mails in every report.
 *
 * Baseline: the device's own level (an EWMA that does not learn from anomalous windows), seeded
 * from its model's typical level, so a new device starts from its peers. Tuning: `minEmails` is
 * the floor a legitimate mailer (NAS, printer) must stay under in the horizon; `factor` scales
 * the device's own baseline for devices that mail a lot by design.
 */
import { z } from 'zod'
import { defineDetector } from '../src/engine/detector.ts'
import { WindowRing, windowOf } from '../src/engine/window.ts'
import { ratioScore } from '../src/engine/score.ts'

export const emailTelemetryConfig = z.strictObject({
  /** Telemetry metric names read as mail counts, in order of preference (the first present counts). */
  metrics: z.array(z.string().min(1)).min(1).default(['emailsSent', 'smtpConnections']),
  /** Horizon, in windows. */
  windows: z.number().int().min(1).max(120).default(30),
  /** Mail count within the horizon below which nothing fires. */
  minEmails: z.number().positive().default(60),
  /** Reports with mail within the horizon needed to fire (sustained, not one batch). */
  minReports: z.number().int().min(1).default(3),
  /** Multiple of the device's baseline the horizon sum must exceed. */
  factor: z.number().positive().default(4),
  /** A horizon sum this large fires whatever the report count. */
  extremeEmails: z.number().positive().default(1000),
  /** Weight of each clean window in the device's baseline EWMA. */
  baselineAlpha: z.number().gt(0).lt(1).default(0.02),
})
export type EmailTelemetryConfig = z.infer<typeof emailTelemetryConfig>

interface State {
  /** Per-window mail counts, allocated on the first non-zero report (most devices never mail). */
  mail: WindowRing | null
  /** Whether the device ever reported a mail metric (zeros included). */
  reported: boolean
  /** EWMA of the horizon sum over clean windows; NaN until the first report. */
  baseline: number
}

/** Devices that never reported a mail metric share INERT (flow collectors' devices report none): written as null. */
const INERT: State = Object.freeze({ mail: null, reported: false, baseline: Number.NaN }) as State

export const emailTelemetry = defineDetector<EmailTelemetryConfig, State>({
  id: 'email-telemetry',
  title: 'Device-reported mail volume',
  description:
    'Mail counts from device telemetry, summed per 30 min and required in several reports. ' +
    'Raise minEmails for models that legitimately send mail in bulk.',
  version: 2,
  tags: ['maturity_stable', 'telemetry', 'spam'],
  peerFeature: 'smtpFlowsPerHour',
  configSchema: emailTelemetryConfig,
  create(cfg, { windowMs, lookaheadWindows, fleet }) {
    // Typical horizon sum per model over the fleet: the prior for a device's first baseline.
    const prior = fleet.histogram('mail')
    const minutes = Math.round((cfg.windows * windowMs) / 60_000)
    return {
      init: () => INERT,
      observeTelemetry(state, e) {
        for (const name of cfg.metrics) {
          const v = e.metrics[name]
          if (v !== undefined) {
            // A device's first mail metric: its own state from now on.
            const own: State = state === INERT ? { mail: null, reported: true, baseline: Number.NaN } : state
            if (v > 0) (own.mail ??= new WindowRing(cfg.windows + lookaheadWindows)).add(windowOf(e.ts, windowMs), v)
            return own
          }
        }
        return undefined
      },
      evaluate(state, w, device) {
        if (!state.reported) return null
        const at = w * windowMs
        if (Number.isNaN(state.baseline)) state.baseline = prior.quantile(device.model, 0.5, at, 0)
        // No ring yet: every report so far said zero.
        const mail = state.mail
        const total = mail === null ? 0 : mail.sum(w, cfg.windows)
        const reports = mail === null ? 0 : mail.active(w, cfg.windows)
        const threshold = Math.max(cfg.minEmails, cfg.factor * state.baseline)
        const fires = (total >= threshold && reports >= cfg.minReports) || total >= cfg.extremeEmails
        if (!fires) {
          state.baseline += cfg.baselineAlpha * (total - state.baseline)
          prior.observe(device.model, total, at)
          return null
        }
        return {
          severity: total >= 10 * threshold ? 'critical' : 'high',
          score: ratioScore(total, threshold),
          summary: `device reported ${total} e-mails in ${reports} reports over ${minutes} min (threshold ${Math.round(threshold)})`,
          evidence: {
            emails: total,
            reports,
            threshold: Math.round(threshold),
            baseline: Math.round(state.baseline * 100) / 100,
            horizonMinutes: minutes,
            indicator: 'mail/reported',
          },
          destinations: [],
        }
      },
      snapshot: (s) => (s === INERT ? null : { mail: s.mail?.toJSON() ?? null, reported: s.reported, baseline: s.baseline }),
      restore(data) {
        const d = data as { mail: ReturnType<WindowRing['toJSON']> | null; reported: boolean; baseline: number | null } | null
        // Older checkpoints wrote the inert state's fields.
        if (d === null || (!d.reported && d.mail === null)) return INERT
        return { mail: d.mail === null ? null : WindowRing.from(d.mail), reported: d.reported, baseline: d.baseline ?? Number.NaN }
      },
    }
  },
})
