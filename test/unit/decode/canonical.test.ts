// The canonical decoder: the fast path agrees with the zod schemas on every record, and errors name the field.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeCanonicalValue, decodeCanonicalWithZod, fastEgress, fastTelemetry } from '../../../src/decode/canonical.ts'

/** A field value that is sometimes valid, sometimes subtly not (wrong type, null, out of range, fractional). */
const maybe = <T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 20, arbitrary: valid },
    { weight: 1, arbitrary: fc.constantFrom(undefined, null, '', -1, 1.5, 70000, 'x', true, [], {}, Number.MAX_SAFE_INTEGER + 2, 'x'.repeat(254), 'x'.repeat(257)) },
  )

const ipv4 = fc.oneof(
  { weight: 20, arbitrary: fc.ipV4() },
  { weight: 1, arbitrary: fc.constantFrom('01.2.3.4', '256.1.1.1', '1.2.3', '1.2.3.4 ', '::1', '2001:db8::1') },
)
const egressRecord = fc.record(
  {
    type: fc.constantFrom(undefined, 'egress'),
    ts: maybe(fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 0, max: 2 ** 42 }) }, { weight: 1, arbitrary: fc.constant('2026-11-02T08:00:00Z') })),
    deviceId: maybe(fc.string({ minLength: 1, maxLength: 260 })),
    srcIp: fc.oneof(fc.constant(undefined), ipv4),
    dstIp: maybe(ipv4),
    dstPort: maybe(fc.integer({ min: 0, max: 65535 })),
    proto: maybe(fc.oneof(fc.constantFrom('tcp', 'UDP', 'icmp', 'sctp', 'constructor', '__proto__', 'toString'), fc.integer({ min: 0, max: 300 }))),
    bytesOut: maybe(fc.integer({ min: 0, max: 2 ** 40 })),
    bytesIn: fc.oneof(fc.constant(undefined), maybe(fc.double({ min: 0, max: 1e12, noNaN: true }))),
    packetsOut: fc.oneof(fc.constant(undefined), maybe(fc.nat())),
    durationMs: fc.oneof(fc.constant(undefined), maybe(fc.double({ min: 0, max: 1e9, noNaN: true }))),
    continued: fc.oneof(fc.constant(undefined), fc.boolean(), fc.constant('yes') as fc.Arbitrary<unknown>),
    dstHost: fc.oneof(fc.constant(undefined), maybe(fc.string({ maxLength: 300 })), fc.constantFrom('h'.repeat(253), 'h'.repeat(254))),
    model: fc.oneof(fc.constant(undefined), maybe(fc.string({ maxLength: 300 })), fc.constantFrom('m'.repeat(256), 'm'.repeat(257))),
    label: fc.oneof(fc.constant(undefined), fc.constantFrom('benign', 'spam-burst')),
  },
  { requiredKeys: [] },
)
const telemetryRecord = fc.record({
  type: fc.constant('telemetry'),
  ts: maybe(fc.integer({ min: 0, max: 2 ** 42 })),
  deviceId: maybe(fc.string({ minLength: 1, maxLength: 20 })),
  metrics: maybe(fc.dictionary(fc.string({ maxLength: 12 }), fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant('3') as fc.Arbitrary<unknown>))),
  model: fc.oneof(fc.constant(undefined), maybe(fc.string({ maxLength: 30 }))),
})

/** Drops undefined-valued keys, as a JSON round trip would. */
const asJson = (o: object): Record<string, unknown> => JSON.parse(JSON.stringify(o)) as Record<string, unknown>

describe('canonical decoding', () => {
  it('takes the fast path only for records the zod schema accepts, and builds the same event', () => {
    fc.assert(
      fc.property(fc.oneof(egressRecord, telemetryRecord), (record) => {
        const value = asJson(record)
        const viaZod = decodeCanonicalWithZod(value)
        const fast = value.type === 'telemetry' ? fastTelemetry(value) : fastEgress(value)
        if (fast !== null) expect(viaZod).toEqual({ ok: true, event: fast })
        expect(decodeCanonicalValue(value)).toEqual(viaZod)
      }),
      { numRuns: 5000, seed: 20261125 },
    )
  })

  it('decodes a DNS answer record, keeping the addresses among its answers, and names its bad fields', () => {
    expect(decodeCanonicalValue({ type: 'dns', ts: 1762070400000, deviceId: 'lock-1', query: 'API.Vendor.example', answers: ['cdn.vendor.example', '203.0.113.9'], ttl: 60 })).toEqual({
      ok: true,
      event: { type: 'dns', ts: 1762070400000, deviceId: 'lock-1', srcIp: undefined, query: 'api.vendor.example', answers: ['203.0.113.9'], ttlSeconds: 60, model: undefined, firmware: undefined, label: undefined },
    })
    expect(decodeCanonicalValue({ type: 'dns', ts: 1762070400000, deviceId: 'lock-1', answers: 'x', ttl: -1 })).toMatchObject({ ok: false, error: expect.stringMatching(/query: .*; answers: .*; ttl: /) })
  })

  it('takes the fast path for the ordinary egress record', () => {
    const record = { type: 'egress', ts: 1762070400000, deviceId: 'fridge-1', dstIp: '203.0.113.9', dstPort: 25, proto: 'tcp', bytesOut: 4120 }
    expect(fastEgress(record)).toMatchObject({ deviceId: 'fridge-1', proto: 6, dstPort: 25 })
  })

  it('reads a date-time without an offset as UTC, whatever the machine\'s time zone', () => {
    const r = decodeCanonicalValue({ ts: '2026-11-02T08:15:00', deviceId: 'd', dstIp: '203.0.113.9', dstPort: 25, proto: 'tcp', bytesOut: 1 })
    expect(r).toMatchObject({ ok: true, event: { ts: Date.UTC(2026, 10, 2, 8, 15) } })
    const offset = decodeCanonicalValue({ ts: '2026-11-02T09:15:00+01:00', deviceId: 'd', dstIp: '203.0.113.9', dstPort: 25, proto: 'tcp', bytesOut: 1 })
    expect(offset).toMatchObject({ ok: true, event: { ts: Date.UTC(2026, 10, 2, 8, 15) } })
  })

  it('names every bad field of a rejected record', () => {
    const r = decodeCanonicalValue({ ts: -3, deviceId: 'd', dstIp: '300.1.1.1', dstPort: 25, proto: 'sctp', bytesOut: 1 })
    expect(r).toMatchObject({ ok: false, reason: 'schema' })
    const error = (r as { error: string }).error
    for (const field of ['ts: ', 'dstIp: ', 'proto: ']) expect(error).toContain(field)
    expect(error).not.toContain('bytesOut')
  })
})
