import { describe, expect, it } from 'vitest'
import { alertId } from '../../src/alerts/alert.ts'
import { Evaluator } from '../../src/evaluate.ts'
import type { Alert, Severity } from '../../src/types.ts'
import { at, egress } from '../helpers/events.ts'

const record = (deviceId: string, detector: string, status: 'firing' | 'resolved', severity: Severity, minute: number): Alert => ({
  id: alertId(deviceId, detector, at(0)), scope: 'device', deviceId, detector, status, severity, score: 0.5,
  startsAt: new Date(at(0)).toISOString(), endsAt: status === 'resolved' ? new Date(at(minute)).toISOString() : null,
  detectedAt: new Date(at(1)).toISOString(), summary: 's', model: 'm', firmware: null, detectorVersion: 1, configHash: 'h', evidence: {},
})

describe('Evaluator', () => {
  it('counts an alert that stays low as a notice, neither a detection nor a false alarm, and one that rose above low as an alert', () => {
    const e = new Evaluator()
    e.observe(egress({ ts: at(0), deviceId: 'updated', label: 'benign' }))
    e.observe(egress({ ts: at(0), deviceId: 'bot', label: 'spam' }))
    e.alert(record('updated', 'model-shift', 'firing', 'low', 1))
    e.alert(record('updated', 'model-shift', 'resolved', 'low', 20))
    // Reported low after a firmware change, then an upload made it high: its resolution carries the peak.
    e.alert(record('bot', 'new-destination', 'firing', 'low', 1))
    e.alert(record('bot', 'new-destination', 'resolved', 'high', 30))
    const r = e.result()
    expect([r.notices, r.detected, r.falseAlarms]).toEqual([1, 1, 0])
    expect(r.perDevice.map((d) => [d.deviceId, d.outcome])).toEqual([['bot', 'detected'], ['updated', 'quiet']])
  })
})
