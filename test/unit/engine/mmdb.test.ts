// Owners from a MaxMind DB file: the same answers as the CSV table for the same networks, GeoLite2 and IPinfo fields, and errors that say what the file is not.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DETECTORS } from '../../../detectors/index.ts'
import { loadConfig } from '../../../src/config/load.ts'
import { Destinations } from '../../../src/engine/destinations.ts'
import { MmdbOwners } from '../../../src/engine/mmdb.ts'
import { OwnerTable } from '../../../src/engine/owners.ts'
import { isAppError } from '../../../src/errors.ts'
import { writeMmdb } from '../../helpers/mmdb.ts'

const dir = mkdtempSync(join(tmpdir(), 'egress-mmdb-'))
const file = (name: string, data: Buffer | string): string => {
  writeFileSync(join(dir, name), data)
  return join(dir, name)
}

/** The same networks, as GeoLite2-ASN records and as CSV rows. */
const NETWORKS: readonly [string, string, string, number, string][] = [
  ['8.8.8.0/24', '8.8.8.0', '8.8.8.255', 15169, 'Google LLC'],
  ['52.88.0.0/15', '52.88.0.0', '52.89.255.255', 16509, 'Amazon.com, Inc.'],
  ['185.220.100.0/22', '185.220.100.0', '185.220.103.255', 64512, 'Elsewhere Hosting'],
  ['2001:4860::/32', '2001:4860::', '2001:4860:ffff:ffff:ffff:ffff:ffff:ffff', 15169, 'Google LLC'],
]
const geolite = file('asn.mmdb', writeMmdb(Object.fromEntries(NETWORKS.map(([cidr, , , asn, org]) => [cidr, { autonomous_system_number: asn, autonomous_system_organization: org }]))))
const csv = file('asn.csv', NETWORKS.map(([, first, last, asn, org]) => `${first},${last},${asn},"${org}"`).join('\n'))

describe('owners from an MMDB file', () => {
  const addresses = ['8.8.8.8', '52.89.250.177', '52.88.0.1', '185.220.101.4', '2001:4860:4860::8888', '::ffff:52.89.250.177', '8.8.9.1', '10.0.0.1', '2a00:1450::1', 'nonsense']

  it('gives the AS, organisation and range the CSV table gives for the same networks, IPv4, IPv6 and IPv4-mapped', () => {
    const fromMmdb = new Destinations(OwnerTable.load(geolite))
    const fromCsv = new Destinations(OwnerTable.load(csv))
    expect(addresses.map((ip) => fromMmdb.facts(ip, undefined))).toEqual(addresses.map((ip) => fromCsv.facts(ip, undefined)))
    expect(addresses.map((ip) => fromMmdb.key(ip, undefined))).toEqual(addresses.map((ip) => fromCsv.key(ip, undefined)))
    expect(fromMmdb.facts('52.89.250.177', undefined)).toMatchObject({ asn: 16509, owner: 'Amazon.com, Inc.', range: '52.88.0.0/15' })
    expect(fromMmdb.key('2001:4860:4860::8888', undefined)).toBe('AS15169')
    expect(fromMmdb.key('10.0.0.1', undefined)).toBe('10.0.0.0/24')
  })

  it('reads IPinfo\'s fields (asn as "AS13335", name)', () => {
    const ipinfo = MmdbOwners.open(file('ipinfo.mmdb', writeMmdb({ '1.1.1.0/24': { asn: 'AS13335', name: 'Cloudflare, Inc.', domain: 'cloudflare.com' } }, 'ipinfo standard_asn.mmdb')))
    const row = ipinfo.row('1.1.1.1')
    expect([ipinfo.asnOf(row), ipinfo.nameOf(row), ipinfo.rangeOf(row)]).toEqual([13335, 'Cloudflare, Inc.', '1.1.1.0/24'])
    // One row per network, whichever address of it is asked for.
    expect(ipinfo.row('1.1.1.200')).toBe(row)
    expect(ipinfo.rows).toBe(1)
  })

  it('gives no owner for an IPv6 address in an IPv4-only file (not the owner of its first 32 bits)', () => {
    // 2001:4860:: begins with the bits of 32.1.72.96: an IPv4 tree would answer for that.
    const v4 = MmdbOwners.open(file('v4.mmdb', writeMmdb({ '32.0.0.0/8': { autonomous_system_number: 64500, autonomous_system_organization: 'Thirty-Two' }, '8.8.8.0/24': { autonomous_system_number: 15169, autonomous_system_organization: 'Google LLC' } }, 'GeoLite2-ASN', 4)))
    expect(v4.asnOf(v4.row('32.1.72.96'))).toBe(64500)
    expect([v4.row('2001:4860:4860::8888'), v4.row('2001:db8::1')]).toEqual([-1, -1])
    expect(v4.asnOf(v4.row('::ffff:8.8.8.8'))).toBe(15169)
  })

  it('refuses a file that is no MaxMind DB, and a database without AS numbers, naming the file', () => {
    expect(() => MmdbOwners.open(file('text.mmdb', 'first,last,asn\n'))).toThrow(`${join(dir, 'text.mmdb')}: not a MaxMind DB file`)
    const country = file('country.mmdb', writeMmdb({ '8.8.8.0/24': { country: { iso_code: 'US' } } }, 'GeoLite2-Country'))
    expect(() => MmdbOwners.open(country)).toThrow(`${country}: a GeoLite2-Country database without AS numbers (autonomous_system_number or asn)`)
  })

  it('is what destinations.owners names, relative to the configuration file; a bad one is a configuration error naming the setting', () => {
    writeFileSync(join(dir, 'good.yaml'), 'destinations:\n  owners: asn.mmdb\n')
    writeFileSync(join(dir, 'bad.yaml'), 'destinations:\n  owners: country.mmdb\n')
    expect(loadConfig(join(dir, 'good.yaml'), DETECTORS).destinations.owners).toBe(geolite)
    expect(Destinations.fromConfig(geolite).key('185.220.101.4', undefined)).toBe('AS64512')
    try {
      loadConfig(join(dir, 'bad.yaml'), DETECTORS)
      expect.unreachable()
    } catch (err) {
      expect(isAppError(err) && err.code).toBe('EGD_CONFIG')
      expect((err as Error).message).toContain('destinations.owners: ')
      expect((err as Error).message).toContain('without AS numbers')
    }
  })
})
