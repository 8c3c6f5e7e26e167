// The canonical event schemas of the contract (egress flow, device telemetry) and their decoder.
import { z } from 'zod'
import { PROTO_NUMBERS } from '../types.ts'
import type { DeviceEvent, EgressEvent, TelemetryEvent } from '../types.ts'
import { fail, success } from './result.ts'
import type { DecodeResult } from './result.ts'

const ip = z.union([z.ipv4(), z.ipv6()], { error: 'expected an IPv4 or IPv6 address' })

/** Event time: epoch milliseconds, or an ISO-8601 string with a date and time. */
const eventTime = z.union(
  [
    z.number().int().nonnegative(),
    z.iso.datetime({ offset: true, local: true }).transform((s) => Date.parse(s)),
  ],
  { error: 'expected epoch milliseconds or an ISO-8601 date-time' },
)

const protoSchema = z.union(
  [
    z.enum(['tcp', 'udp', 'icmp', 'TCP', 'UDP', 'ICMP']).transform((p) => PROTO_NUMBERS[p.toLowerCase() as keyof typeof PROTO_NUMBERS]),
    z.number().int().min(0).max(255),
  ],
  { error: 'expected "tcp", "udp", "icmp" or an IANA protocol number 0-255' },
)

const count = z.number().nonnegative()
const optionalText = z.string().max(256).optional()

export const egressSchema = z.object({
  type: z.literal('egress').optional(),
  ts: eventTime,
  deviceId: z.string().min(1).max(256),
  srcIp: ip.optional(),
  dstIp: ip,
  dstPort: z.number().int().min(0).max(65535),
  proto: protoSchema,
  bytesOut: z.number().int().nonnegative(),
  bytesIn: count.optional(),
  packetsOut: count.optional(),
  durationMs: count.optional(),
  dstHost: z.string().max(253).optional(),
  model: optionalText,
  firmware: optionalText,
  label: optionalText,
})

export const telemetrySchema = z.object({
  type: z.literal('telemetry'),
  ts: eventTime,
  deviceId: z.string().min(1).max(256),
  model: optionalText,
  firmware: optionalText,
  metrics: z.record(z.string(), z.number().refine(Number.isFinite, 'expected a finite number')),
  label: optionalText,
})

export type EgressInput = z.input<typeof egressSchema>

/** Formats an issue list as `path: message; path: message`, naming each field. */
export const describeIssues = (error: z.ZodError): string =>
  error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ')

const toEgress = (v: z.output<typeof egressSchema>): EgressEvent => ({
  type: 'egress',
  ts: v.ts,
  deviceId: v.deviceId,
  srcIp: v.srcIp,
  dstIp: v.dstIp,
  dstPort: v.dstPort,
  proto: v.proto,
  bytesOut: v.bytesOut,
  bytesIn: v.bytesIn,
  packetsOut: v.packetsOut,
  durationMs: v.durationMs,
  dstHost: v.dstHost,
  model: v.model,
  firmware: v.firmware,
  label: v.label,
})

const toTelemetry = (v: z.output<typeof telemetrySchema>): TelemetryEvent => ({
  type: 'telemetry',
  ts: v.ts,
  deviceId: v.deviceId,
  model: v.model,
  firmware: v.firmware,
  metrics: v.metrics,
  label: v.label,
})

/** Validates an already-parsed JSON value as a canonical egress or telemetry event. */
export const decodeCanonicalValue = (value: unknown): DecodeResult => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail('schema', '(root): expected a JSON object')
  }
  const type = (value as { type?: unknown }).type
  if (type === 'telemetry') {
    const r = telemetrySchema.safeParse(value)
    return r.success ? success(toTelemetry(r.data)) : fail('schema', describeIssues(r.error))
  }
  if (type !== undefined && type !== 'egress') {
    return fail('schema', 'type: expected "egress" or "telemetry"')
  }
  const r = egressSchema.safeParse(value)
  return r.success ? success(toEgress(r.data)) : fail('schema', describeIssues(r.error))
}

/** Builds a canonical event from adapter output, validating it with the same schema. */
export const canonicalEvent = (value: Record<string, unknown>): DecodeResult => decodeCanonicalValue(value)

export type { DeviceEvent }
