import { describe, expect, it } from 'vitest'
import { Destinations } from '../../../src/engine/destinations.ts'
import { OwnerTable } from '../../../src/engine/owners.ts'
import { AlertLifecycle } from '../../../src/alerts/lifecycle.ts'
import { Suppressions } from '../../../src/alerts/suppression.ts'
import { alertId } from '../../../src/alerts/alert.ts'
import type { DeviceRecord } from '../../../src/engine/device.ts'
import { initialFeatures } from '../../../src/engine/peers.ts'
import type { Alert, Finding } from '../../../src/types.ts'
import { MIN, T0 } from '../../helpers/events.ts'

const W0 = T0 / MIN

const device = (id = 'fridge-1'): DeviceRecord => ({
  id, model: 'frostbyte-fridge', firmware: '1.0', firmwareChangedAt: -Infinity, firstSeen: T0,
  maxTs: T0, nextWindow: W0, lastDataWindow: W0, touchedAt: 0, pending: false, alerts: null, names: null, ...initialFeatures(),
})

const finding = (score = 0.7, severity: Finding['severity'] = 'high', destinations = ['203.0.113.9']): Finding => ({
  severity, score, summary: `score ${score}`, evidence: { score }, destinations,
})

const setup = (suppress = new Suppressions([])) => {
  const alerts: Alert[] = []
  const lifecycle = new AlertLifecycle([{ detector: 'smtp-burst', detectorVersion: 7, configHash: 'c0ffee', peerFeature: 'smtpFlowsPerHour', fireAfter: 2, resolveAfter: 3 }], suppress, MIN, (a) => alerts.push(a))
  return { alerts, lifecycle }
}

describe('AlertLifecycle', () => {
  it('fires after N consecutive bad windows, starting at the first of them', () => {
    const { alerts, lifecycle } = setup()
    const d = device()
    lifecycle.onWindow(d, 0, W0 + 5, finding())
    expect(alerts).toEqual([])
    lifecycle.onWindow(d, 0, W0 + 6, finding())
    expect(alerts).toEqual([{
      id: alertId('fridge-1', 'smtp-burst', T0 + 5 * MIN),
      scope: 'device', kind: 'alert', deviceId: 'fridge-1', detector: 'smtp-burst', status: 'firing', revision: 1, severity: 'high', previousSeverity: null, score: 0.7,
      startsAt: '2026-11-02T00:05:00.000Z', endsAt: null, detectedAt: '2026-11-02T00:07:00.000Z', updatedAt: '2026-11-02T00:07:00.000Z',
      summary: 'score 0.7', model: 'frostbyte-fridge', firmware: '1.0', detectorVersion: 7, configHash: 'c0ffee',
      evidence: { score: 0.7 },
    }])
  })

  it('does not fire when a clean window breaks the streak', () => {
    const { alerts, lifecycle } = setup()
    const d = device()
    lifecycle.onWindow(d, 0, W0 + 1, finding())
    lifecycle.onWindow(d, 0, W0 + 2, null)
    lifecycle.onWindow(d, 0, W0 + 3, finding())
    expect(alerts).toEqual([])
  })

  it('keeps one open alert per device and detector, escalates it when its severity rises, and resolves after M clean windows with the peak', () => {
    const { alerts, lifecycle } = setup()
    const d = device()
    for (let w = 0; w < 6; w++) lifecycle.onWindow(d, 0, W0 + w, finding(0.6 + w * 0.05, w === 4 ? 'critical' : 'high'))
    lifecycle.onWindow(d, 0, W0 + 6, null)
    lifecycle.onWindow(d, 0, W0 + 7, null)
    expect(alerts.map((a) => [a.status, a.revision, a.severity, a.previousSeverity, a.updatedAt])).toEqual([
      ['firing', 1, 'high', null, '2026-11-02T00:02:00.000Z'],
      // The window at 00:04 was critical: a new revision of the same alert, the time it rose.
      ['firing', 2, 'critical', 'high', '2026-11-02T00:05:00.000Z'],
    ])
    // A lower finding after it lowers nothing, and is no new record.
    lifecycle.onWindow(d, 0, W0 + 8, null)
    expect(alerts.map((a) => a.status)).toEqual(['firing', 'firing', 'resolved'])
    const [firing, escalated, resolved] = alerts
    expect(new Set([firing!.id, escalated!.id, resolved!.id]).size).toBe(1)
    expect(escalated).toMatchObject({ detectedAt: firing!.detectedAt, startsAt: firing!.startsAt, score: 0.8, summary: 'score 0.8', evidence: { score: 0.8 } })
    expect(resolved).toMatchObject({ revision: 3, severity: 'critical', previousSeverity: 'critical', score: 0.85, endsAt: '2026-11-02T00:06:00.000Z', updatedAt: '2026-11-02T00:06:00.000Z' })
    expect(resolved!.startsAt).toBe(firing!.startsAt)
    expect(lifecycle.counters).toMatchObject({ fired: 1, escalated: 1, resolved: 1 })
  })

  it('fires at the most severe window of its streak, so that its resolution never says more than a firing record did', () => {
    const { alerts, lifecycle } = setup()
    const d = device()
    lifecycle.onWindow(d, 0, W0, finding(0.8, 'high'))
    lifecycle.onWindow(d, 0, W0 + 1, finding(0.5, 'medium'))
    lifecycle.onQuiet(d, 30)
    expect(alerts.map((a) => [a.status, a.revision, a.severity])).toEqual([['firing', 1, 'high'], ['resolved', 2, 'high']])
  })

  it('ends an open notice when the detector finds behaviour to act on: the alert is one of its own', () => {
    const { alerts, lifecycle } = setup()
    const d = device()
    const rollout: Finding = { ...finding(0.3, 'low'), kind: 'notice' }
    lifecycle.onWindow(d, 0, W0, rollout)
    lifecycle.onWindow(d, 0, W0 + 1, rollout)
    lifecycle.onWindow(d, 0, W0 + 2, finding(0.6, 'medium'))
    lifecycle.onWindow(d, 0, W0 + 3, finding(0.6, 'medium'))
    expect(alerts.map((a) => [a.kind, a.status, a.revision, a.severity, a.startsAt])).toEqual([
      ['notice', 'firing', 1, 'low', '2026-11-02T00:00:00.000Z'],
      ['notice', 'resolved', 2, 'low', '2026-11-02T00:00:00.000Z'],
      ['alert', 'firing', 1, 'medium', '2026-11-02T00:02:00.000Z'],
    ])
    expect(alerts[2]!.id).not.toBe(alerts[0]!.id)
  })

  it('keeps the kind the first finding gave: a notice stays a notice', () => {
    const { alerts, lifecycle } = setup()
    const d = device()
    const notice: Finding = { ...finding(0.3, 'low'), kind: 'notice' }
    lifecycle.onWindow(d, 0, W0, notice)
    lifecycle.onWindow(d, 0, W0 + 1, notice)
    lifecycle.onWindow(d, 0, W0 + 2, { ...finding(0.6, 'medium'), kind: 'notice' })
    lifecycle.onQuiet(d, 30)
    expect(alerts.map((a) => [a.kind, a.status, a.revision, a.severity])).toEqual([['notice', 'firing', 1, 'low'], ['notice', 'firing', 2, 'medium'], ['notice', 'resolved', 3, 'medium']])
  })

  it('counts a bulk of quiet windows as clean windows', () => {
    const { alerts, lifecycle } = setup()
    const d = device()
    lifecycle.onWindow(d, 0, W0, finding())
    lifecycle.onWindow(d, 0, W0 + 1, finding())
    lifecycle.onQuiet(d, 30)
    expect(alerts.map((a) => a.status)).toEqual(['firing', 'resolved'])
  })

  it('resolves open alerts of an evicted device', () => {
    const { alerts, lifecycle } = setup()
    const d = device()
    lifecycle.onWindow(d, 0, W0, finding())
    lifecycle.onWindow(d, 0, W0 + 1, finding())
    lifecycle.onEvict(d)
    expect(alerts.map((a) => a.status)).toEqual(['firing', 'resolved'])
  })

  it('treats a suppressed finding as clean and counts it', () => {
    const rules = new Suppressions([{ deviceId: 'nas-*', detector: 'smtp-burst', reason: 'relays mail' }])
    const { alerts, lifecycle } = setup(rules)
    const nas = device('nas-1')
    for (let w = 0; w < 4; w++) lifecycle.onWindow(nas, 0, W0 + w, finding())
    expect(alerts).toEqual([])
    expect(lifecycle.counters.suppressed).toBe(4)
    const fridge = device('fridge-1')
    for (let w = 0; w < 2; w++) lifecycle.onWindow(fridge, 0, W0 + w, finding())
    expect(alerts).toHaveLength(1)
  })
})

describe('Suppressions', () => {
  it('matches a destination rule only when every destination of the finding matches', () => {
    const s = new Suppressions([{ destination: '203.0.113.0/24' }, { destination: '*.relay.example' }])
    expect(s.matches('d', 'x', ['203.0.113.9'], 0)).toBe(true)
    expect(s.matches('d', 'x', ['203.0.113.9', '198.51.100.1'], 0)).toBe(false)
    expect(s.matches('d', 'x', ['smtp.relay.example'], 0)).toBe(true)
    expect(s.matches('d', 'x', ['relay.example'], 0)).toBe(true)
    expect(s.matches('d', 'x', ['evilrelay.example'], 0)).toBe(false)
    expect(s.matches('d', 'x', [], 0)).toBe(false)
  })

  it('stops applying at its until time (event time)', () => {
    const s = new Suppressions([{ detector: 'fanout', until: '2026-11-02T01:00:00Z' }])
    expect(s.matches('d', 'fanout', [], Date.parse('2026-11-02T00:59:00Z'))).toBe(true)
    expect(s.matches('d', 'fanout', [], Date.parse('2026-11-02T01:00:00Z'))).toBe(false)
    expect(s.matches('d', 'smtp-burst', [], 0)).toBe(false)
  })

  it('matches a destination that is itself a prefix (a new-destination key) when it lies inside the rule\'s', () => {
    const s = new Suppressions([{ destination: '203.0.113.0/24' }, { destination: '2001:db8::/32' }])
    expect(s.matches('d', 'new-destination', ['203.0.113.0/24'], 0)).toBe(true)
    expect(s.matches('d', 'new-destination', ['203.0.0.0/16'], 0)).toBe(false)
    expect(s.matches('d', 'new-destination', ['2001:db8:5::/48'], 0)).toBe(true)
    expect(s.matches('d', 'new-destination', ['198.51.100.0/24'], 0)).toBe(false)
  })

  it('matches IPv6 prefixes, and IPv4-mapped addresses in IPv4 ones', () => {
    const s = new Suppressions([{ destination: '2001:db8::/32' }, { destination: '192.0.2.0/24' }])
    expect(s.matches('d', 'x', ['2001:db8:1::5'], 0)).toBe(true)
    expect(s.matches('d', 'x', ['2001:db9::5'], 0)).toBe(false)
    expect(s.matches('d', 'x', ['::ffff:192.0.2.7'], 0)).toBe(true)
  })

  it('matches an asn rule when every destination is owned by the AS: its identity, an address or a prefix of it', () => {
    const destinations = new Destinations(OwnerTable.of('52.88.0.0,52.89.255.255,16509,"Amazon.com, Inc."\n185.220.100.0,185.220.103.255,64512,Elsewhere'))
    const s = new Suppressions([{ detector: 'new-destination', asn: 16509, reason: 'the vendor\'s cloud' }], destinations)
    expect(s.matches('d', 'new-destination', ['AS16509'], 0)).toBe(true)
    expect(s.matches('d', 'new-destination', ['52.89.250.177', '52.88.1.0/24'], 0)).toBe(true)
    expect(s.matches('d', 'new-destination', ['AS16509', '185.220.101.4'], 0)).toBe(false)
    expect(s.matches('d', 'new-destination', ['vendor.example'], 0)).toBe(false)
    // Without an owner table only the identity names the owner.
    expect(new Suppressions([{ asn: 16509 }]).matches('d', 'x', ['52.89.250.177'], 0)).toBe(false)
  })
})
