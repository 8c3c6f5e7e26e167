// The canonical event schemas of the contract (egress flow, device telemetry) and their decoder.
import { isIP } from 'node:net'
import { z } from 'zod'
import { PROTO_NUMBERS } from '../types.ts'
import type { DeviceEvent, DnsEvent, EgressEvent, TelemetryEvent } from '../types.ts'
import { fail, success } from './result.ts'
import type { DecodeResult } from './result.ts'

const ip = z.union([z.ipv4(), z.ipv6()], { error: 'expected an IPv4 or IPv6 address' })

/** Event time: epoch milliseconds, or an ISO-8601 string with a date and time (UTC when it has no offset). */
const eventTime = z.union(
  [
    z.number().int().nonnegative(),
    // A date-time without an offset is UTC: the same record means the same instant on every machine.
    z.iso.datetime({ offset: true, local: true }).transform((s) => Date.parse(/(?:z|[+-]\d\d(?::?\d\d)?)$/i.test(s) ? s : `${s}Z`)),
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
  continued: z.boolean().optional(),
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

/** A DNS answer the device received: the addresses `query` resolved to (names and other records among `answers` are left out), for `ttl` seconds. */
export const dnsSchema = z.object({
  type: z.literal('dns'),
  ts: eventTime,
  deviceId: z.string().min(1).max(256),
  srcIp: ip.optional(),
  query: z.string().min(1).max(253),
  answers: z.array(z.string().max(253)).max(256),
  ttl: count.optional(),
  model: optionalText,
  firmware: optionalText,
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
  continued: v.continued ?? false,
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

// The fast path: plain checks that accept a subset of what the zod schemas accept (IPv4 only,
// epoch-ms times, no nulls) and build the same event. Anything else takes the zod path, which
// stays the one authority on validity and the only source of error messages. A property test
// (test/unit/decode/canonical.test.ts) holds the two paths to the same output.

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)$/
const PROTO_BY_NAME: ReadonlyMap<string, number> = new Map([['tcp', 6], ['udp', 17], ['icmp', 1], ['TCP', 6], ['UDP', 17], ['ICMP', 1]])

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isOptionalAmount = (v: unknown): boolean => v === undefined || (typeof v === 'number' && Number.isFinite(v) && v >= 0)
const isOptionalText = (v: unknown, max: number): boolean => v === undefined || (typeof v === 'string' && v.length <= max)
const isDeviceId = (v: unknown): v is string => typeof v === 'string' && v.length >= 1 && v.length <= 256

const protoOf = (v: unknown): number => {
  if (typeof v === 'string') return PROTO_BY_NAME.get(v) ?? -1
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255 ? v : -1
}

/** The egress event of a record the fast checks accept, or null to let zod decide. */
export const fastEgress = (o: Readonly<Record<string, unknown>>): EgressEvent | null => {
  const { ts, deviceId, srcIp, dstIp, dstPort } = o
  const proto = protoOf(o.proto)
  if (
    !isCount(ts) || !isDeviceId(deviceId) || typeof dstIp !== 'string' || !IPV4.test(dstIp) ||
    !isCount(dstPort) || dstPort > 65535 || proto < 0 || !isCount(o.bytesOut) ||
    (srcIp !== undefined && (typeof srcIp !== 'string' || !IPV4.test(srcIp))) ||
    !isOptionalAmount(o.bytesIn) || !isOptionalAmount(o.packetsOut) || !isOptionalAmount(o.durationMs) || (o.continued !== undefined && typeof o.continued !== 'boolean') ||
    !isOptionalText(o.dstHost, 253) || !isOptionalText(o.model, 256) || !isOptionalText(o.firmware, 256) || !isOptionalText(o.label, 256)
  ) {
    return null
  }
  return {
    type: 'egress',
    ts,
    deviceId,
    srcIp: srcIp as string | undefined,
    dstIp,
    dstPort,
    proto,
    bytesOut: o.bytesOut as number,
    bytesIn: o.bytesIn as number | undefined,
    packetsOut: o.packetsOut as number | undefined,
    durationMs: o.durationMs as number | undefined,
    continued: o.continued === true,
    dstHost: o.dstHost as string | undefined,
    model: o.model as string | undefined,
    firmware: o.firmware as string | undefined,
    label: o.label as string | undefined,
  }
}

/** The telemetry event of a record the fast checks accept, or null to let zod decide. */
export const fastTelemetry = (o: Readonly<Record<string, unknown>>): TelemetryEvent | null => {
  const { ts, deviceId, metrics } = o
  if (
    !isCount(ts) || !isDeviceId(deviceId) || typeof metrics !== 'object' || metrics === null || Array.isArray(metrics) ||
    !isOptionalText(o.model, 256) || !isOptionalText(o.firmware, 256) || !isOptionalText(o.label, 256)
  ) {
    return null
  }
  for (const k in metrics) {
    const v = (metrics as Record<string, unknown>)[k]
    if (typeof v !== 'number' || !Number.isFinite(v)) return null
  }
  return {
    type: 'telemetry',
    ts,
    deviceId,
    model: o.model as string | undefined,
    firmware: o.firmware as string | undefined,
    metrics: metrics as Record<string, number>,
    label: o.label as string | undefined,
  }
}

const toDns = (v: z.output<typeof dnsSchema>): DnsEvent => ({
  type: 'dns',
  ts: v.ts,
  deviceId: v.deviceId,
  srcIp: v.srcIp,
  query: v.query.toLowerCase(),
  // The addresses among the answers (CNAMEs and other records are names, not destinations).
  answers: v.answers.filter((a) => isIP(a) !== 0),
  ttlSeconds: v.ttl,
  model: v.model,
  firmware: v.firmware,
  label: v.label,
})

/** Validates an already-parsed JSON value as a canonical egress, telemetry or DNS event. */
export const decodeCanonicalValue = (value: unknown): DecodeResult => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail('schema', '(root): expected a JSON object')
  }
  const type = (value as { type?: unknown }).type
  const fast = type === 'telemetry'
    ? fastTelemetry(value as Record<string, unknown>)
    : type === undefined || type === 'egress' ? fastEgress(value as Record<string, unknown>) : null
  return fast !== null ? success(fast) : decodeCanonicalWithZod(value)
}

/** The zod path alone: the authority on validity and the source of every error message. */
export const decodeCanonicalWithZod = (value: object): DecodeResult => {
  const type = (value as { type?: unknown }).type
  if (type === 'telemetry') {
    const r = telemetrySchema.safeParse(value)
    return r.success ? success(toTelemetry(r.data)) : fail('schema', describeIssues(r.error))
  }
  if (type === 'dns') {
    const r = dnsSchema.safeParse(value)
    return r.success ? success(toDns(r.data)) : fail('schema', describeIssues(r.error))
  }
  if (type !== undefined && type !== 'egress') {
    return fail('schema', 'type: expected "egress", "telemetry" or "dns"')
  }
  const r = egressSchema.safeParse(value)
  return r.success ? success(toEgress(r.data)) : fail('schema', describeIssues(r.error))
}

/** Builds a canonical event from adapter output, validating it with the same schema. */
export const canonicalEvent = (value: Record<string, unknown>): DecodeResult => decodeCanonicalValue(value)

export type { DeviceEvent }
