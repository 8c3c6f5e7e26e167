import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { destinationHash, destinationKey } from '../../../src/engine/net.ts'
import { hashString } from '../../../src/engine/window.ts'

describe('destinationHash', () => {
  it('is the hash of the destination key, computed without building it', () => {
    const cases: [string, string | undefined][] = [
      ['203.0.113.7', 'API.Vendor.Example.'], ['203.0.113.7', 'mx1.mail-12.example'], ['203.0.113.7', 'localhost'], ['203.0.113.7', 'é.example'],
      ['203.0.113.7', undefined], ['2001:db8::1', undefined], ['203.0.113.7', ''], ['10', undefined],
    ]
    for (const [ip, host] of cases) expect(destinationHash(ip, host), `${ip} ${host}`).toBe(hashString(destinationKey(ip, host)))
    const label = fc.stringMatching(/^[A-Za-z0-9é-]{0,12}$/)
    const host = fc.array(label, { minLength: 1, maxLength: 5 }).map((ls) => ls.join('.'))
    const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'))
    fc.assert(fc.property(ipv4, fc.option(fc.oneof(host, host.map((h) => `${h}.`)), { nil: undefined }), (ip, h) => {
      expect(destinationHash(ip, h)).toBe(hashString(destinationKey(ip, h)))
    }), { numRuns: 500 })
  })
})
