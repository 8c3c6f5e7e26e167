import { describe, expect, it } from 'vitest'
import { emailTelemetry } from '../../../detectors/email-telemetry.ts'
import type { TelemetryEvent } from '../../../src/types.ts'
import { at, MIN, telemetry } from '../../helpers/events.ts'
import { soloFleet } from '../../../src/engine/fleet.ts'
import { Destinations } from '../../../src/engine/destinations.ts'
import { detectorFindings, minutesOf } from '../../helpers/run.ts'

/** One telemetry report per listed minute, each with the same metrics. */
const reports = (deviceId: string, model: string, minutes: readonly number[], metrics: Record<string, number>): TelemetryEvent[] =>
  minutes.map((m) => telemetry({ deviceId, model, ts: at(m), metrics }))

/** A report without mail counters: it only moves the device's event time on. */
const keepalive = (minute: number, deviceId = 'dev-1'): TelemetryEvent => telemetry({ deviceId, ts: at(minute) })

describe('email-telemetry', () => {
  it('keeps nothing for a device that never reports a mail count, and gives a mailing device\'s evicted row to the next one empty', () => {
    const detector = emailTelemetry.create(emailTelemetry.configSchema.parse({}), { windowMs: MIN, lookaheadWindows: 1, fleet: soloFleet(MIN).access('email-telemetry'), destinations: new Destinations(null) })
    const device = { id: 'dev-1', model: 'test-model', firmware: '', firmwareChangedAt: -Infinity, firstSeen: at(0) }
    const quiet = detector.init(device)
    expect(detector.observeTelemetry!(quiet, keepalive(0), device)).toBeUndefined()
    expect(detector.snapshot(quiet)).toBeNull()
    const mailer = detector.observeTelemetry!(quiet, reports('dev-1', 'test-model', [1], { emailsSent: 25 })[0]!, device)!
    expect(detector.snapshot(mailer)).toMatchObject({ reported: true, mail: { slots: expect.arrayContaining([25]) } })
    detector.forget!(mailer)
    const next = detector.observeTelemetry!(detector.init(device), reports('dev-2', 'test-model', [2], { emailsSent: 0 })[0]!, device)!
    expect(next).toBe(mailer)
    expect(JSON.parse(JSON.stringify(detector.snapshot(next)))).toEqual({ mail: null, reported: true, baseline: null })
  })

  it('reports a device that mails in every report from the first window whose 30-min sum reaches 60 in 3 reports', () => {
    const events = [...reports('dev-1', 'test-model', [0, 1, 2, 3, 4], { emailsSent: 25 }), keepalive(40)]
    const found = detectorFindings(emailTelemetry, events)
    // 75 mails in 3 reports at minute 2; quiet again at 32, when only the reports of minutes 3 and 4 remain in the horizon.
    expect(minutesOf(found)).toEqual(range(2, 32))
    expect(found[0]!.finding).toEqual({
      severity: 'high',
      score: expect.closeTo(0.5 + Math.log2(75 / 60) / 6, 9),
      summary: 'device reported 75 e-mails in 3 reports over 30 min (threshold 60)',
      // the baseline learnt from the two clean windows before: 0.02 * 25, then + 0.02 * (50 - 0.5)
      evidence: { emails: 75, reports: 3, threshold: 60, baseline: 1.49, horizonMinutes: 30, indicator: 'mail/reported' },
      destinations: [],
    })
    expect(found.find((f) => f.minute === 31)!.finding.evidence).toMatchObject({ emails: 75, reports: 3 })
  })

  it('stays quiet for a NAS that reports one batch of notifications in one report, not for the same mail spread over reports', () => {
    const idle = [0, 5, 10, 15, 25, 30, 35, 40, 45]
    const nas = [...reports('nas-1', 'vault-nas', idle, { emailsSent: 0 }), ...reports('nas-1', 'vault-nas', [20], { emailsSent: 200 })]
    const bot = [...reports('bot-1', 'vault-nas', [0, 5, 10, 15], { emailsSent: 0 }), ...reports('bot-1', 'vault-nas', [20, 25, 30, 35], { emailsSent: 50 })]
    const found = detectorFindings(emailTelemetry, [...nas, ...bot])
    expect(minutesOf(found, 'nas-1')).toEqual([])
    expect(minutesOf(found, 'bot-1')[0]).toBe(30) // the third report with mail
    expect(found[0]!.finding.evidence).toMatchObject({ emails: 150, reports: 3, threshold: 60 })
  })

  it('fires on an extreme count even in one report, and is critical from ten times the threshold', () => {
    const extreme = detectorFindings(emailTelemetry, [...reports('dev-1', 'test-model', [5], { emailsSent: 1500 }), keepalive(40)])
    expect(minutesOf(extreme)).toEqual(range(5, 35))
    expect(extreme[0]!.finding).toMatchObject({
      severity: 'critical',
      score: 1,
      summary: 'device reported 1500 e-mails in 1 reports over 30 min (threshold 60)',
    })

    // 600 = 10 x 60 in three reports; the baseline learnt 200 * 0.02 = 4, then 4 + 0.02 * (400 - 4) = 11.92.
    const sustained = detectorFindings(emailTelemetry, reports('dev-1', 'test-model', [0, 1, 2], { emailsSent: 200 }))
    expect(minutesOf(sustained)).toEqual([2])
    expect(sustained[0]!.finding.severity).toBe('critical')
    expect(sustained[0]!.finding.evidence).toEqual({ emails: 600, reports: 3, threshold: 60, baseline: 11.92, horizonMinutes: 30, indicator: 'mail/reported' })
  })

  it('judges a device by its own baseline, and a new device by its model peers, not by the floor alone', () => {
    // A print hub mails once a minute for four hours (about 30 per horizon), then three reports carry 20 extra mails.
    const steady = range(0, 240).map((m) => telemetry({ deviceId: 'hub-1', model: 'print-hub', ts: at(m), metrics: { emailsSent: 1 } }))
    const burst = (deviceId: string, model: string): TelemetryEvent[] => reports(deviceId, model, [240, 241, 242], { emailsSent: 21 })
    const found = detectorFindings(emailTelemetry, [
      ...steady,
      ...burst('hub-1', 'print-hub'), // its own baseline: about 30, so the threshold is about 120
      ...burst('hub-2', 'print-hub'), // new, but seeded from the hub model's typical level
      ...burst('cam-1', 'camera'), // new, and its model never mails: the 60 floor applies
    ])
    expect(minutesOf(found, 'hub-1')).toEqual([])
    expect(minutesOf(found, 'hub-2')).toEqual([])
    expect(minutesOf(found, 'cam-1')).toEqual([242])
    expect(found[0]!.finding.evidence).toEqual({ emails: 63, reports: 3, threshold: 60, baseline: 1.25, horizonMinutes: 30, indicator: 'mail/reported' })
  })

  it('honours minEmails, minReports and factor overrides', () => {
    const spam = reports('dev-1', 'test-model', [0, 1, 2, 3, 4], { emailsSent: 25 })
    expect(minutesOf(detectorFindings(emailTelemetry, spam, { minEmails: 150 }))).toEqual([])
    expect(minutesOf(detectorFindings(emailTelemetry, spam, { minEmails: 100 }))).toEqual([3, 4])

    const batch = reports('dev-1', 'test-model', [5], { emailsSent: 200 })
    expect(detectorFindings(emailTelemetry, batch)).toEqual([])
    expect(minutesOf(detectorFindings(emailTelemetry, batch, { minReports: 1 }))).toEqual([5])

    // A device at about 30 per horizon: factor 4 puts the bar near 120, factor 1 leaves the 60 floor.
    const steady = range(0, 240).map((m) => telemetry({ ts: at(m), metrics: { emailsSent: 1 } }))
    const burst = reports('dev-1', 'test-model', [240, 241, 242], { emailsSent: 21 })
    expect(detectorFindings(emailTelemetry, [...steady, ...burst])).toEqual([])
    expect(minutesOf(detectorFindings(emailTelemetry, [...steady, ...burst], { factor: 1 }))).toEqual([241, 242])
  })

  it('reads the first configured metric present in a report, and only configured metrics', () => {
    const both = reports('dev-1', 'test-model', [0, 1, 2], { emailsSent: 25, smtpConnections: 400 })
    expect(detectorFindings(emailTelemetry, both)[0]!.finding.evidence.emails).toBe(75)

    const connections = reports('dev-1', 'test-model', [0, 1, 2], { smtpConnections: 30 })
    expect(detectorFindings(emailTelemetry, connections)[0]!.finding.evidence.emails).toBe(90)

    const custom = reports('dev-1', 'test-model', [0, 1, 2], { mailQueued: 30 })
    expect(detectorFindings(emailTelemetry, custom)).toEqual([])
    expect(minutesOf(detectorFindings(emailTelemetry, custom, { metrics: ['mailQueued'] }))).toEqual([2])
  })

  // Regression: the engine evaluates window w after it may have observed reports of w+1 (the lateness
  // margin); the horizon ring has room for that lookahead, so the report of minute 0 still counts at 29.
  it('counts a report 29 minutes old in the 30-minute horizon while reports keep arriving', () => {
    const events = range(0, 41).map((m) => telemetry({ ts: at(m), metrics: { emailsSent: [0, 15, 29].includes(m) ? 20 : 0 } }))
    expect(minutesOf(detectorFindings(emailTelemetry, events))).toEqual([29])
  })
})

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i)
}
