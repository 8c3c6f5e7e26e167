// Event builders for tests: canonical events with defaults, times given as minutes from a fixed start.
import type { EgressEvent, TelemetryEvent } from '../../src/types.ts'

/** 2026-11-02T00:00:00Z, the synthetic fleet's start. */
export const T0 = Date.UTC(2026, 10, 2)
export const MIN = 60_000

/** Event time `minutes` (fractions allowed) after T0. */
export const at = (minutes: number): number => T0 + Math.round(minutes * MIN)

export const egress = (fields: Partial<EgressEvent> & { ts: number }): EgressEvent => ({
  type: 'egress',
  deviceId: 'dev-1',
  srcIp: undefined,
  dstIp: '198.51.100.10',
  dstPort: 443,
  proto: 6,
  bytesOut: 1000,
  bytesIn: undefined,
  packetsOut: undefined,
  durationMs: undefined,
  continued: false,
  dstHost: undefined,
  model: 'test-model',
  firmware: undefined,
  label: undefined,
  ...fields,
})

export const telemetry = (fields: Partial<TelemetryEvent> & { ts: number }): TelemetryEvent => ({
  type: 'telemetry',
  deviceId: 'dev-1',
  model: 'test-model',
  firmware: undefined,
  metrics: {},
  label: undefined,
  ...fields,
})

/** `n` SMTP flows spread over one minute starting at `minute`, each to a different mail server. */
export const smtpFlows = (deviceId: string, minute: number, n: number, firstServer = 0): EgressEvent[] =>
  Array.from({ length: n }, (_, i) =>
    egress({ deviceId, ts: at(minute + i / n), dstIp: `203.0.113.${(firstServer + i) % 250}`, dstPort: 25, bytesOut: 4000 }))
