import { describe, expect, it } from 'vitest'
import { smtpBurst } from '../../../detectors/smtp-burst.ts'
import { at, egress, smtpFlows } from '../../helpers/events.ts'
import { detectorFindings, minutesOf } from '../../helpers/run.ts'

describe('smtp-burst', () => {
  it('reports a burst to many mail servers from the first window that crosses both thresholds', () => {
    const found = detectorFindings(smtpBurst, [...smtpFlows('dev-1', 10, 20), egress({ ts: at(80) })])
    expect(minutesOf(found)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19, ...range(20, 70)]) // quiet again at 70: the hour has passed
    expect(found[0]!.finding).toEqual({
      severity: 'high',
      score: expect.closeTo(0.5 + Math.log2(20 / 5) / 6, 6),
      summary: '20 SMTP connections to 20 distinct mail servers in 10 min (threshold 5 servers)',
      evidence: {
        rule: 'burst', smtpFlowsBurst: 20, mailServersBurst: 20, smtpFlowsSlow: 20, mailServersSlow: 20,
        thresholdServersBurst: 5, thresholdServersSlow: 6,
        // ties in count are broken by address, so the evidence is the same on every replay
        topServers: ['203.0.113.0', '203.0.113.1', '203.0.113.10', '203.0.113.11', '203.0.113.12'],
        // port 25 only: spam straight to MX hosts
        submissionFlows: 0,
        indicator: 'smtp/direct',
      },
      destinations: expect.any(Array),
    })
    // After the burst horizon, the hour-long slow rule keeps reporting at medium severity.
    expect(found.find((f) => f.minute === 20)!.finding.severity).toBe('medium')
  })

  it('names spam that also uses submission ports (stolen credentials) smtp/submission, counting those connections', () => {
    const mixed = [
      ...smtpFlows('dev-1', 10, 20),
      egress({ ts: at(10.5), dstIp: '198.51.100.7', dstPort: 587 }),
      egress({ ts: at(10.6), dstIp: '198.51.100.8', dstPort: 465 }),
      egress({ ts: at(80) }),
    ]
    const found = detectorFindings(smtpBurst, mixed)
    expect(found[0]!.finding.evidence).toMatchObject({ rule: 'burst', smtpFlowsBurst: 22, submissionFlows: 2, indicator: 'smtp/submission' })
    // past the ten-minute burst horizon, the slow rule's hour still holds them
    expect(found.find((f) => f.minute === 25)!.finding.evidence).toMatchObject({ rule: 'slow', submissionFlows: 2, indicator: 'smtp/submission' })
  })

  it('stays quiet for a NAS that sends many mails through its one relay', () => {
    const relay = Array.from({ length: 40 }, (_, i) => egress({ ts: at(5 + i / 40), dstIp: '192.0.2.25', dstPort: 587 }))
    expect(detectorFindings(smtpBurst, relay)).toEqual([])
  })

  it('catches slow spam: one new mail server every few minutes', () => {
    const slow = Array.from({ length: 12 }, (_, i) => egress({ ts: at(i * 3), dstIp: `198.51.100.${i + 1}`, dstPort: 25 }))
    const found = detectorFindings(smtpBurst, slow)
    expect(minutesOf(found)[0]).toBe(15) // the 6th distinct server arrives at minute 15
    expect(found[0]!.finding.severity).toBe('medium')
    expect(found[0]!.finding.evidence.rule).toBe('slow')
  })

  it('is critical past criticalServers and honours a lowered threshold', () => {
    expect(detectorFindings(smtpBurst, smtpFlows('dev-1', 0, 60))[0]!.finding.severity).toBe('critical')
    expect(detectorFindings(smtpBurst, smtpFlows('dev-1', 0, 3), { burstServers: 3, burstFlows: 3 })).not.toEqual([])
    expect(detectorFindings(smtpBurst, smtpFlows('dev-1', 0, 3))).toEqual([])
  })

  // Regression: a server mailed again in the window after w (seen by the engine's lookahead before w is
  // evaluated) still counts at w, by the window it was seen in before.
  it('counts a server mailed again just after the window being evaluated', () => {
    const rotation = Array.from({ length: 20 }, (_, m) => egress({ ts: at(m + 10 / 60), dstIp: `198.51.100.${(m % 6) + 1}`, dstPort: 25 }))
    const found = detectorFindings(smtpBurst, rotation)
    expect(minutesOf(found)[0]).toBe(5) // the sixth server, at minute 5
    expect(found[0]!.finding.evidence).toMatchObject({ rule: 'slow', mailServersSlow: 6 })
  })

  it('ignores non-SMTP ports and UDP', () => {
    const events = [
      ...Array.from({ length: 30 }, (_, i) => egress({ ts: at(i / 30), dstIp: `203.0.113.${i}`, dstPort: 443 })),
      ...Array.from({ length: 30 }, (_, i) => egress({ ts: at(i / 30), dstIp: `203.0.113.${i}`, dstPort: 25, proto: 17 })),
    ]
    expect(detectorFindings(smtpBurst, events)).toEqual([])
  })
})

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i)
}
