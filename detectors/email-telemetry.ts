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
import { Rows } from '../src/engine/rows.ts'
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

/**
 * A device that reported a mail metric (zeros included) has a row of the detector's `Rows`: its
 * baseline, the EWMA of the horizon sum over clean windows (NaN until its first evaluation), and
 * a flag for its per-window mail counts, a ring kept beside the rows from its first non-zero
 * report (most devices never mail). One that never reported one (flow collectors' devices report
 * none) is INERT, written as null.
 */
type State = number

const INERT: State = -1

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
    const rows = new Rows(1, 1)
    /** Each mailing device's ring, by its row (whose word says it has one). */
    const mails = new Map<State, WindowRing>()
    const own = (): State => {
      const row = rows.alloc()
      rows.f[row] = Number.NaN
      return row
    }
    const mailOf = (row: State): WindowRing | null => (rows.i[row] === 1 ? mails.get(row)! : null)
    // Typical horizon sum per model over the fleet: the prior for a device's first baseline.
    const prior = fleet.histogram('mail')
    const minutes = Math.round((cfg.windows * windowMs) / 60_000)
    return {
      rowState: true,
      init: () => INERT,
      observeTelemetry(state, e) {
        for (const name of cfg.metrics) {
          const v = e.metrics[name]
          if (v !== undefined) {
            // A device's first mail metric: a row of its own from now on.
            const row = state === INERT ? own() : state
            if (v > 0) {
              let mail = mailOf(row)
              if (mail === null) {
                mail = new WindowRing(cfg.windows + lookaheadWindows)
                mails.set(row, mail)
                rows.i[row] = 1
              }
              mail.add(windowOf(e.ts, windowMs), v)
            }
            return row
          }
        }
        return undefined
      },
      evaluate(row, w, device) {
        if (row === INERT) return null
        const at = w * windowMs
        if (Number.isNaN(rows.f[row]!)) rows.f[row] = prior.quantile(device.model, 0.5, at, 0)
        const baseline = rows.f[row]!
        // No ring yet: every report so far said zero.
        const mail = mailOf(row)
        const total = mail === null ? 0 : mail.sum(w, cfg.windows)
        const reports = mail === null ? 0 : mail.active(w, cfg.windows)
        const threshold = Math.max(cfg.minEmails, cfg.factor * baseline)
        const fires = (total >= threshold && reports >= cfg.minReports) || total >= cfg.extremeEmails
        if (!fires) {
          rows.f[row] = baseline + cfg.baselineAlpha * (total - baseline)
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
            baseline: Math.round(baseline * 100) / 100,
            horizonMinutes: minutes,
            indicator: 'mail/reported',
          },
          destinations: [],
        }
      },
      // The checkpoint's form is the one of an object per device: unchanged by the rows.
      snapshot: (row) => (row === INERT ? null : { mail: mailOf(row)?.toJSON() ?? null, reported: true, baseline: rows.f[row] }),
      restore(data) {
        const d = data as { mail: ReturnType<WindowRing['toJSON']> | null; reported: boolean; baseline: number | null } | null
        // Older checkpoints wrote the inert state's fields.
        if (d === null || (!d.reported && d.mail === null)) return INERT
        const row = own()
        rows.f[row] = d.baseline ?? Number.NaN
        if (d.mail !== null) {
          mails.set(row, WindowRing.from(d.mail))
          rows.i[row] = 1
        }
        return row
      },
      forget(row) {
        if (row === INERT) return
        mails.delete(row)
        rows.release(row)
      },
    }
  },
})
