// The metrics registry: the top-devices gauge is the one metric with a device label, and holds at most K series.
import { describe, expect, it } from 'vitest'
import { createMetrics, topDevices } from '../../src/metrics.ts'
import type { OpenAlertView } from '../../src/metrics.ts'

const open: OpenAlertView[] = [
  { deviceId: 'fridge-1', detector: 'smtp-burst', kind: 'alert', severity: 'high', score: 0.9 },
  { deviceId: 'fridge-1', detector: 'fanout', kind: 'alert', severity: 'medium', score: 0.6 },
  { deviceId: 'tv-7', detector: 'email-telemetry', kind: 'alert', severity: 'high', score: 0.95 },
  { deviceId: 'cam-3', detector: 'model-shift', kind: 'notice', severity: 'low', score: 0.4 },
  { deviceId: 'nas-2', detector: 'port-novelty', kind: 'alert', severity: 'low', score: 0.4 },
]
const source = (alerts: readonly OpenAlertView[]) => ({
  devicesTracked: () => 4,
  forEachOpenAlert: (visit: (a: OpenAlertView) => void) => alerts.forEach(visit),
  forEachWebhookTarget: () => undefined,
  shards: () => 1,
  ready: () => true,
  fleetRefused: () => ({ models: 2, keys: 40 }),
  fleetWaiting: () => 3,
  fleetCompleteMs: () => 1_700_000_400_000,
})

describe('top devices', () => {
  it('lists each device once, with its highest score, highest first, ties by device id, at most k', () => {
    expect(topDevices(source(open), 3).map((a) => [a.deviceId, a.detector, a.score])).toEqual([
      ['tv-7', 'email-telemetry', 0.95],
      ['fridge-1', 'smtp-burst', 0.9],
      ['cam-3', 'model-shift', 0.4],
    ])
    expect(topDevices(source(open), 10)).toHaveLength(4)
  })

  it('counts the alerts firing by detector, severity and kind', async () => {
    const text = await createMetrics(source(open), 'test', 0).registry.getSingleMetricAsString('egress_alerts_firing')
    expect(text.split('\n').filter((l) => l.startsWith('egress_alerts_firing{')).sort()).toEqual([
      'egress_alerts_firing{detector="email-telemetry",severity="high",kind="alert"} 1',
      'egress_alerts_firing{detector="fanout",severity="medium",kind="alert"} 1',
      'egress_alerts_firing{detector="model-shift",severity="low",kind="notice"} 1',
      'egress_alerts_firing{detector="port-novelty",severity="low",kind="alert"} 1',
      'egress_alerts_firing{detector="smtp-burst",severity="high",kind="alert"} 1',
    ])
  })

  it('exports egress_top_device_score with at most K series, and none when K is 0', async () => {
    const two = await createMetrics(source(open), 'test', 2).registry.getSingleMetricAsString('egress_top_device_score')
    expect(two.split('\n').filter((l) => l.startsWith('egress_top_device_score{'))).toEqual([
      'egress_top_device_score{device_id="tv-7",detector="email-telemetry"} 0.95',
      'egress_top_device_score{device_id="fridge-1",detector="smtp-burst"} 0.9',
    ])
    expect(createMetrics(source(open), 'test', 0).registry.getSingleMetric('egress_top_device_score')).toBeUndefined()
  })

  it('gives no other metric a device or address label', () => {
    const labels = createMetrics(source(open), 'test', 20)
      .registry.getMetricsAsArray()
      .filter((m) => m.name !== 'egress_top_device_score')
      .flatMap((m) => (m as unknown as { labelNames?: string[] }).labelNames ?? [])
    expect(labels.filter((l) => /device|ip|addr|host/i.test(l))).toEqual([])
  })

  it('says at scrape time what the shards\' fleet views refused at their caps', async () => {
    const text = await createMetrics(source(open), 'test', 0).registry.getSingleMetricAsString('egress_fleet_refused')
    expect(text.split('\n').filter((l) => l.startsWith('egress_fleet_refused{'))).toEqual([
      'egress_fleet_refused{what="models"} 2',
      'egress_fleet_refused{what="keys"} 40',
    ])
  })

  it('says at scrape time how many shards wait for the fleet view, and how far the view is complete', async () => {
    const metrics = createMetrics(source(open), 'test', 0).registry
    expect(await metrics.getSingleMetricAsString('egress_fleet_waiting_shards')).toMatch(/^egress_fleet_waiting_shards 3$/m)
    expect(await metrics.getSingleMetricAsString('egress_fleet_view_seconds')).toMatch(/^egress_fleet_view_seconds 1700000400$/m)
  })
})

