// The fleet's members: which source addresses are devices (devices.networks), and what the inventory says of an address.
import { describe, expect, it } from 'vitest'
import { FleetMembers } from '../../../src/engine/members.ts'
import { PRIVATE_NETWORKS, parseNetwork } from '../../../src/engine/net.ts'

describe('FleetMembers', () => {
  const members = new FleetMembers(PRIVATE_NETWORKS)

  it('takes private, carrier-grade NAT and unique-local sources as devices by default', () => {
    for (const ip of ['10.1.2.3', '172.16.0.9', '172.31.255.255', '192.168.2.16', '100.64.0.1', 'fd00::122', '::ffff:192.168.1.5']) expect(members.isMember(ip), ip).toBe(true)
  })

  it('takes public, link-local, loopback and global IPv6 sources as outsiders, and an event without a source as its device\'s', () => {
    for (const ip of ['67.189.205.92', '172.32.0.1', '169.254.1.1', 'fe80::d2:4591:568e:c3d1', '127.0.0.1', '2001:db8::1', '::', 'not-an-address']) {
      expect(members.isMember(ip), ip).toBe(false)
    }
    expect(members.isMember(undefined)).toBe(true)
  })

  it('answers the same for an address asked again (remembered) as the first time', () => {
    const m = new FleetMembers(['192.0.2.0/24'])
    expect([m.isMember('192.0.2.7'), m.isMember('192.0.2.7'), m.isMember('198.51.100.7'), m.isMember('198.51.100.7')]).toEqual([true, true, false, false])
  })

  it('names the device of each of its addresses, and gives attributes by id, address, or the longest CIDR key', () => {
    const m = new FleetMembers(PRIVATE_NETWORKS, {
      'front-door-lock': { model: 'schlage-lock', addresses: ['192.168.1.122', 'fd00::7a'] },
      '192.168.1.129': { model: 'blink-cam', firmware: '2021-03' },
      '192.168.1.0/24': { model: 'home-lan' },
      '192.168.1.128/28': { model: 'camera-range' },
    })
    expect([m.nameOf('192.168.1.122'), m.nameOf('FD00::7A'), m.nameOf('192.168.1.123'), m.nameOf(undefined)]).toEqual(['front-door-lock', 'front-door-lock', undefined, undefined])
    expect(m.lookup('front-door-lock', '192.168.1.122')?.model).toBe('schlage-lock')
    expect(m.lookup('192.168.1.129', '192.168.1.129')).toEqual({ model: 'blink-cam', firmware: '2021-03' })
    expect(m.lookup('192.168.1.130', '192.168.1.130')?.model).toBe('camera-range')
    expect(m.lookup('192.168.1.5', '192.168.1.5')?.model).toBe('home-lan')
    expect(m.lookup('cam-7', undefined)).toBeUndefined()
    expect(m.lookup('10.0.0.1', '10.0.0.1')).toBeUndefined()
  })
})

describe('parseNetwork', () => {
  it('reads CIDRs and bare addresses of both families, and nothing else', () => {
    expect(parseNetwork('192.168.0.0/16')).toEqual({ address: '192.168.0.0', prefix: 16, family: 'ipv4' })
    expect(parseNetwork('fd00::/8')).toEqual({ address: 'fd00::', prefix: 8, family: 'ipv6' })
    expect(parseNetwork('10.0.0.1')).toEqual({ address: '10.0.0.1', prefix: 32, family: 'ipv4' })
    for (const bad of ['192.0.2.0/33', 'fd00::/129', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/8/8', 'example.com/8', '']) expect(parseNetwork(bad), bad).toBeNull()
  })
})
