import { describe, expect, it } from 'vitest'
import { alertId } from '../../src/alerts/alert.ts'
import { Evaluator } from '../../src/evaluate.ts'
import type { Alert, Severity } from '../../src/types.ts'
import { at, egress } from '../helpers/events.ts'

const record = (deviceId: string, detector: string, status: 'firing' | 'resolved', severity: Severity, minute: number, kind: 'alert' | 'notice' = 'alert'): Alert => ({
  id: alertId(deviceId, detector, at(0)), scope: 'device', kind, deviceId, detector, status, revision: status === 'firing' ? 1 : 2, severity, previousSeverity: null, score: 0.5,
  startsAt: new Date(at(0)).toISOString(), endsAt: status === 'resolved' ? new Date(at(minute)).toISOString() : null,
  detectedAt: new Date(at(1)).toISOString(), updatedAt: new Date(at(status === 'resolved' ? minute : 1)).toISOString(),
  summary: 's', model: 'm', firmware: null, detectorVersion: 1, configHash: 'h', evidence: {},
})

describe('Evaluator', () => {
  it('counts a notice apart, neither a detection nor a false alarm, and a low alert as an alert', () => {
    const e = new Evaluator()
    e.observe(egress({ ts: at(0), deviceId: 'updated', label: 'benign' }))
    e.observe(egress({ ts: at(0), deviceId: 'quiet-bot', label: 'spam' }))
    e.observe(egress({ ts: at(0), deviceId: 'bot', label: 'spam' }))
    e.alert(record('updated', 'model-shift', 'firing', 'low', 1, 'notice'))
    e.alert(record('updated', 'model-shift', 'resolved', 'low', 20, 'notice'))
    // Low is an impact, not a way to hide a finding: a low alert detects.
    e.alert(record('quiet-bot', 'new-destination', 'firing', 'low', 1))
    // Fired medium, escalated to high: one alert, detected once, at its first record.
    e.alert(record('bot', 'new-destination', 'firing', 'medium', 1))
    e.alert({ ...record('bot', 'new-destination', 'firing', 'high', 1), revision: 2, previousSeverity: 'medium', detectedAt: new Date(at(5)).toISOString() })
    e.alert(record('bot', 'new-destination', 'resolved', 'high', 30))
    const r = e.result()
    expect([r.notices, r.detected, r.falseAlarms]).toEqual([1, 2, 0])
    expect(r.perDevice.map((d) => [d.deviceId, d.outcome, d.timeToDetectSeconds])).toEqual([['bot', 'detected', 60], ['quiet-bot', 'detected', 60], ['updated', 'quiet', null]])
    expect(r.byDetector).toMatchObject({ 'new-destination': { alerts: 2, onInfected: 2, onBenign: 0 } })
  })

  it('scores from --from on: alerts detected before it (a history the detectors learn from) are counted apart, no false alarms, but detections of an infection that began before it', () => {
    const e = new Evaluator(at(3))
    e.observe(egress({ ts: at(0), deviceId: 'camera', label: 'benign' }))
    e.observe(egress({ ts: at(0), deviceId: 'bot', label: 'spam' }))
    e.observe(egress({ ts: at(4), deviceId: 'camera', label: 'benign' }))
    e.observe(egress({ ts: at(4), deviceId: 'bot', label: 'spam' }))
    // Detected at minute 1: before the scored period.
    e.alert(record('camera', 'new-destination', 'firing', 'high', 1))
    e.alert(record('bot', 'smtp-burst', 'firing', 'high', 1))
    e.alert(record('camera', 'model-shift', 'firing', 'low', 1, 'notice'))
    e.alert({ ...record('bot', 'new-destination', 'firing', 'medium', 1), detectedAt: new Date(at(4)).toISOString() })
    const r = e.result()
    expect([r.scoredFrom, r.alertsBeforeScored, r.devicesAlertedBeforeScored]).toEqual([new Date(at(3)).toISOString(), 2, 2])
    expect(r.perDevice.map((d) => [d.deviceId, d.outcome, d.detectors, d.timeToDetectSeconds])).toEqual([['bot', 'detected', ['new-destination', 'smtp-burst'], 60], ['camera', 'quiet', [], null]])
    expect(r.notices).toBe(0)
    expect(new Evaluator().result()).toMatchObject({ scoredFrom: null, alertsBeforeScored: 0 })
  })

  it('with --from, scores an alert detected exactly then, one opened before and escalated after, and leaves out a device seen only before', () => {
    const e = new Evaluator(at(1))
    e.observe(egress({ ts: at(0), deviceId: 'gone', label: 'benign' }))
    e.observe(egress({ ts: at(0), deviceId: 'camera', label: 'benign' }))
    e.observe(egress({ ts: at(2), deviceId: 'camera', label: 'benign' }))
    e.observe(egress({ ts: at(0), deviceId: 'nas', label: 'benign' }))
    e.observe(egress({ ts: at(3), deviceId: 'nas', label: 'benign' }))
    e.alert({ ...record('gone', 'fanout', 'firing', 'high', 1), detectedAt: new Date(at(0.5)).toISOString() })
    // Detected at minute 1, the first scored instant.
    e.alert(record('camera', 'new-destination', 'firing', 'high', 1))
    // Opened before the scored period, escalated in it: a false alarm of the period.
    e.alert({ ...record('nas', 'volume-spike', 'firing', 'medium', 1), detectedAt: new Date(at(0.5)).toISOString() })
    // (As the engine makes it: an escalation keeps its alert's detectedAt, its updatedAt says when.)
    e.alert({ ...record('nas', 'volume-spike', 'firing', 'high', 1), revision: 2, previousSeverity: 'medium', detectedAt: new Date(at(0.5)).toISOString(), updatedAt: new Date(at(2)).toISOString() })
    // Its last event just before, alerted at the window's end, exactly then: scored.
    e.observe(egress({ ts: at(0.5), deviceId: 'lamp', label: 'benign' }))
    e.alert(record('lamp', 'port-novelty', 'firing', 'high', 1))
    const r = e.result()
    expect(r.perDevice.map((d) => [d.deviceId, d.outcome])).toEqual([['camera', 'false-alarm'], ['lamp', 'false-alarm'], ['nas', 'false-alarm']])
    expect([r.devices, r.benign, r.falseAlarms, r.alertsBeforeScored, r.devicesAlertedBeforeScored]).toEqual([3, 3, 3, 2, 2])
    // Each detector counts the scored period's records.
    expect(r.byDetector).toEqual({ 'new-destination': { alerts: 1, onInfected: 0, onBenign: 1 }, 'port-novelty': { alerts: 1, onInfected: 0, onBenign: 1 }, 'volume-spike': { alerts: 1, onInfected: 0, onBenign: 1 } })
  })
})
