// A destination's identity (registered domain, owner, prefix) and the owner table behind it.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Destinations } from '../../../src/engine/destinations.ts'
import { OwnerTable } from '../../../src/engine/owners.ts'
import { hashString } from '../../../src/engine/window.ts'

const TABLE = OwnerTable.of([
  'first,last,asn,organisation',
  '52.88.0.0,52.89.255.255,16509,"Amazon.com, Inc."',
  '44.224.0.0,44.255.255.255,16509,"Amazon.com, Inc."',
  '2.26.200.0,2.26.215.255,201907,"LLC ""SPUTNIK"""',
  '2606:4700::,2606:4701:ffff:ffff:ffff:ffff:ffff:ffff,13335,"Cloudflare, Inc."',
].join('\n'))

describe('Destinations', () => {
  const destinations = new Destinations(TABLE)

  it('names a destination by its registered domain, else its address\'s owner, else its prefix', () => {
    expect([
      destinations.key('52.89.250.177', 'a1b2c3-ats.iot.us-east-1.amazonaws.com'), destinations.key('52.89.250.177', undefined),
      destinations.key('44.237.243.166', undefined), destinations.key('::ffff:52.88.1.1', undefined), destinations.key('2606:4700::1111', undefined),
      destinations.key('203.0.113.7', undefined), destinations.key('2001:db8::1', undefined),
    ]).toEqual(['iot.us-east-1.amazonaws.com', 'AS16509', 'AS16509', 'AS16509', 'AS13335', '203.0.113.0/24', '2001:db8:0::/48'])
  })

  it('tells evidence the address, name, domain, owner and the owner\'s range', () => {
    expect(destinations.facts('52.89.250.177', 'A.Example.co.uk')).toEqual({
      address: '52.89.250.177', name: 'a.example.co.uk', domain: 'example.co.uk', asn: 16509, owner: 'Amazon.com, Inc.', range: '52.88.0.0/15',
    })
    expect(destinations.facts('2.26.201.9', undefined)).toEqual({
      address: '2.26.201.9', name: null, domain: null, asn: 201907, owner: 'LLC "SPUTNIK"', range: '2.26.200.0-2.26.215.255',
    })
    expect(destinations.facts('2606:4700::1111', undefined).range).toBe('2606:4700::/31')
    expect(new Destinations(null).facts('52.89.250.177', undefined)).toMatchObject({ asn: null, owner: null, range: null })
  })

  it('hashes the identity', () => {
    const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'))
    const host = fc.array(fc.stringMatching(/^[A-Za-z0-9é-]{1,12}$/), { minLength: 1, maxLength: 4 }).map((ls) => ls.join('.'))
    fc.assert(fc.property(fc.oneof(ipv4, fc.constant('52.88.7.7'), fc.constant('2606:4700::1')), fc.option(host, { nil: undefined }), (ip, h) => {
      expect(destinations.hash(ip, h)).toBe(hashString(destinations.key(ip, h)))
    }), { numRuns: 300 })
  })
})

describe('the built-in owner table (@ip-location-db/asn)', () => {
  const table = OwnerTable.builtin()

  it('knows the owners of well-known addresses, IPv4 and IPv6', () => {
    const asn = (ip: string) => table.owner(ip)?.asn ?? null
    expect([asn('8.8.8.8'), asn('1.1.1.1'), asn('52.89.250.177'), asn('2606:4700::1111'), asn('2a00:1450:4001:80b::200e'), asn('2001:4860:4860::8888')])
      .toEqual([15169, 13335, 16509, 13335, 15169, 15169])
    expect(table.owner('8.8.8.8')?.name).toBe('Google LLC')
  })

  it('reads back from its binary form (the cache of node_modules/.cache/egress-sentinel) as it was', () => {
    const copy = OwnerTable.fromBinary(table.toBinary())!
    expect(copy.rows).toBe(table.rows)
    const sample = ['8.8.8.8', '1.1.1.1', '52.89.250.177', '2606:4700::1111', '2a00:1450:4001:80b::200e', '185.220.101.4', '41.0.0.1', '10.0.0.1']
    expect(sample.map((ip) => copy.owner(ip))).toEqual(sample.map((ip) => table.owner(ip)))
    expect(OwnerTable.fromBinary(Buffer.from('not a table'))).toBeNull()
  })

  it('holds no private, documentation or benchmarking address', () => {
    expect(['10.0.0.1', '192.168.1.1', '192.0.2.1', '198.51.100.7', '203.0.113.5', '198.18.0.1', 'fd00::1', '2001:db8::1'].map((ip) => table.owner(ip))).toEqual([null, null, null, null, null, null, null, null])
  })
})

describe('an owner table from a file', () => {
  it('names the line it cannot read', () => {
    expect(() => OwnerTable.of('first,last,asn,organisation\n1.0.0.0,1.0.0.255,13335,x\n1.0.1.0,nope,1,y')).toThrow('table: line 3: expected first,last,asn,organisation')
    expect(() => OwnerTable.of('first,last,asn,organisation\n1.0.0.0,::1,13335,x')).toThrow('line 2')
  })
})
