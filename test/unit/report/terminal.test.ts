import { describe, expect, it } from 'vitest'
import { alertLine, outputFormat } from '../../../src/report/terminal.ts'
import type { Alert, CampaignRecord } from '../../../src/types.ts'

const alert: Alert = {
  id: '508419aaba32351cbfcd057c345f9534', scope: 'device', kind: 'alert', deviceId: 'frostbyte-fridge-a5e501', detector: 'smtp-burst', status: 'firing', revision: 2,
  severity: 'critical', previousSeverity: 'high', score: 1, startsAt: '2026-11-02T18:21:00.000Z', endsAt: null, detectedAt: '2026-11-02T18:23:00.000Z',
  updatedAt: '2026-11-02T18:25:00.000Z', summary: '64 SMTP connections to 60 distinct mail servers in 10 min (threshold 5 servers)', model: 'frostbyte-fridge',
  firmware: '3.1.4', detectorVersion: 3, configHash: 'abc', evidence: {},
}

describe('alert lines for a terminal', () => {
  it('puts time, status, severity, device, model, detector and summary on one line, an escalation as such', () => {
    expect(alertLine(alert, false)).toBe(
      '2026-11-02 18:25:00  escalated  critical  frostbyte-fridge-a5e501   frostbyte-fridge    smtp-burst       64 SMTP connections to 60 distinct mail servers in 10 min (threshold 5 servers)',
    )
    expect(alertLine({ ...alert, revision: 1, previousSeverity: null }, false)).toContain('  firing     critical  ')
  })

  it('colours the severity of a firing record, dims a resolved one, and says notice and campaign', () => {
    expect(alertLine(alert, true)).toContain('\x1b[1;31mcritical\x1b[0m')
    const resolved = alertLine({ ...alert, status: 'resolved' }, true)
    expect(resolved.startsWith('\x1b[2m2026-11-02 18:25:00  resolved ')).toBe(true)
    expect(alertLine({ ...alert, kind: 'notice', severity: 'low', revision: 1, previousSeverity: null }, false)).toContain('  notice: 64 SMTP')
    const campaign = { ...alert, scope: 'fleet', kind: 'campaign', behaviour: 'smtp-burst smtp/direct', model: null, deviceCount: 8, models: ['frostbyte-fridge', 'lumen-tv'], firmware: [], indicators: [] } as unknown as CampaignRecord
    expect(alertLine(campaign, false)).toContain('  campaign of 8 devices     frostbyte-fridge,lumen-tv  smtp-burst  ')
  })

  it('shows control characters from the input as \\xNN: a host name cannot recolour or retitle the terminal', () => {
    const hostile = { ...alert, deviceId: 'cam\x1b[2J', summary: 'sent 30 MB to x\x1b]0;PWNED\x07\x1b[31mevil.example' }
    const line = alertLine(hostile, false)
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/)
    expect(line).toContain('cam\\x1b[2J')
    expect(line).toContain('sent 30 MB to x\\x1b]0;PWNED\\x07\\x1b[31mevil.example')
  })

  it('defaults to text on a terminal and NDJSON elsewhere, and knows no third format', () => {
    expect([outputFormat(undefined, true), outputFormat(undefined, false), outputFormat('json', true), outputFormat('text', false), outputFormat('yaml', true)]).toEqual(['text', 'json', 'json', 'text', null])
  })
})
