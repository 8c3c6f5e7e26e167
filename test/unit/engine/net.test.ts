import fc from 'fast-check'
import ipaddr from 'ipaddr.js'
import { describe, expect, it } from 'vitest'
import { NetworkSet, addressBefore, addressText, compactAddress, ipv4Number, isLocalAddress, isMulticast, parseNetwork, prefixKey, registeredDomain } from '../../../src/engine/net.ts'

describe('registeredDomain', () => {
  it('groups names by the Public Suffix List, its private section included', () => {
    expect([
      registeredDomain('a.b.example.co.uk'), registeredDomain('API.Vendor.Example.'), registeredDomain('mx1.mail-12.example'),
      registeredDomain('bucket.s3.amazonaws.com'), registeredDomain('a1b2c3-ats.iot.us-east-1.amazonaws.com'), registeredDomain('d1.cloudfront.net'),
      registeredDomain('localhost'), registeredDomain('co.uk'),
    ]).toEqual([
      'example.co.uk', 'vendor.example', 'mail-12.example',
      'bucket.s3.amazonaws.com', 'iot.us-east-1.amazonaws.com', 'd1.cloudfront.net',
      'localhost', 'co.uk',
    ])
  })
})

describe('prefixKey', () => {
  it('is the IPv4 /24 or the IPv6 /48, an IPv4-mapped address its IPv4 one', () => {
    expect([
      prefixKey('203.0.113.7'), prefixKey('2001:db8:abcd:12::5'), prefixKey('2001:0DB8:0:0::1'), prefixKey('::ffff:203.0.113.7'), prefixKey('::ffff:cb00:7107'),
      prefixKey('not-an-address'),
    ]).toEqual(['203.0.113.0/24', '2001:db8:abcd::/48', '2001:db8:0::/48', '203.0.113.0/24', '203.0.113.0/24', 'not-an-address'])
  })
})

describe('local and multicast destinations', () => {
  it('are the IANA special-purpose ranges a device never reaches the internet through, IPv4-mapped ones included', () => {
    const local = ['0.1.2.3', '10.1.2.3', '100.64.0.1', '127.0.0.1', '169.254.1.1', '172.16.0.1', '172.31.255.255', '192.168.1.1', '224.0.0.251', '239.255.255.250',
      '255.255.255.255', '::', '::1', 'fd00::5', 'fc00::1', 'fe80::1', 'ff02::fb', '::ffff:192.168.1.1', '::ffff:10.0.0.1']
    const remote = ['8.8.8.8', '100.128.0.1', '172.32.0.1', '192.0.2.1', '198.51.100.7', '203.0.113.5', '198.18.0.1', '2001:db8::1', '2606:4700::1111',
      '::ffff:8.8.8.8', '64:ff9b::808:808', 'nonsense']
    expect(local.filter((ip) => !isLocalAddress(ip))).toEqual([])
    expect(remote.filter((ip) => isLocalAddress(ip))).toEqual([])
    expect(['224.0.0.251', '255.255.255.255', 'ff02::1', '::ffff:239.1.1.1'].map(isMulticast)).toEqual([true, true, true, true])
    expect(['192.168.1.255', '10.0.0.1', 'fe80::1', '8.8.8.8'].map(isMulticast)).toEqual([false, false, false, false])
  })
})

describe('ipv4Number', () => {
  it('reads exactly the dotted quads ipaddr.js reads as four decimal parts, to the same number', () => {
    const quad = fc.tuple(fc.nat(300), fc.nat(300), fc.nat(300), fc.nat(300)).map((p) => p.join('.'))
    const noisy = fc.oneof(quad, fc.stringMatching(/^[0-9.:a-f]{0,18}$/), quad.map((q) => `0${q}`), quad.map((q) => `${q}.`), quad.map((q) => `::ffff:${q}`))
    fc.assert(fc.property(noisy, (text) => {
      const expected = ipaddr.IPv4.isValidFourPartDecimal(text) ? ipaddr.IPv4.parse(text).toByteArray().reduce((n, b) => n * 256 + b, 0) : -1
      expect(ipv4Number(text)).toBe(expected)
    }), { numRuns: 3000 })
    expect([ipv4Number('0.0.0.0'), ipv4Number('255.255.255.255'), ipv4Number('10.0.0.1')]).toEqual([0, 4294967295, 167772161])
  })
})

describe('compact addresses', () => {
  const address = fc.oneof(
    fc.tuple(fc.nat(300), fc.nat(300), fc.nat(300), fc.nat(300)).map((p) => p.join('.')),
    fc.constantFrom('0.0.0.0', '255.255.255.255', '1.2.3.4', '1.2.3.45', '10.2.3.4', '010.1.1.1', '2001:db8::25', 'mx.example', ''),
  )

  it('give back every address exactly as written, a dotted quad held as a number', () => {
    fc.assert(fc.property(address, (text) => {
      const compact = compactAddress(text)
      expect(typeof compact === 'number').toBe(ipv4Number(text) >= 0)
      expect(addressText(compact)).toBe(text)
    }), { numRuns: 3000 })
  })

  it('sort as their texts do, without writing them', () => {
    fc.assert(fc.property(address, address, (a, b) => {
      expect(addressBefore(compactAddress(a), compactAddress(b))).toBe(a < b)
    }), { numRuns: 5000 })
  })
})

describe('networks', () => {
  it('parse CIDRs and addresses of both families, and nothing else', () => {
    expect([parseNetwork('192.0.2.0/24'), parseNetwork('fd00::/8'), parseNetwork('198.51.100.7')]).toEqual([
      { address: '192.0.2.0', prefix: 24, family: 'ipv4' }, { address: 'fd00::', prefix: 8, family: 'ipv6' }, { address: '198.51.100.7', prefix: 32, family: 'ipv4' },
    ])
    expect(['192.0.2.0/33', '10.0.0.0/', '10.0.0.0/8/8', 'fd00::/129', 'example.com', '300.1.1.1'].map(parseNetwork)).toEqual([null, null, null, null, null, null])
  })

  it('hold the IPv4-mapped form of their IPv4 addresses', () => {
    const set = new NetworkSet(['192.0.2.0/24', '2001:db8::/32'])
    expect(['192.0.2.9', '::ffff:192.0.2.9', '2001:db8::7', '192.0.3.1', 'x'].map((ip) => set.has(ip))).toEqual([true, true, true, false, false])
  })
})
