// The configuration: one schema over engine, alerts, every detector and the inventory; errors name each field.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DETECTORS } from '../../../detectors/index.ts'
import { loadConfig, parseConfig } from '../../../src/config/load.ts'
import { isAppError } from '../../../src/errors.ts'

const errorOf = (fn: () => unknown): { code: string; message: string } => {
  try {
    fn()
  } catch (err) {
    if (isAppError(err)) return { code: err.code, message: err.message }
    throw err
  }
  throw new Error('expected an error')
}

describe('parseConfig', () => {
  it('fills every default, with the detectors\' own: port-novelty fires after one window, volume-spike is off', () => {
    const c = parseConfig({}, DETECTORS)
    expect(c.engine).toEqual({
      windowSeconds: 60, allowedLatenessSeconds: 60, idleFlushSeconds: 300, deviceTtlHours: 24, maxDevices: 200_000, probationMinutes: 10, quietWindows: 60,
      maxFutureSeconds: 300, maxAgeHours: 0,
    })
    expect(c.input).toEqual({ maxRecordBytes: 262_144, deadLetterRawBytes: 65_536, maxGzipRatio: 200, timeZone: 'UTC' })
    expect(c.alerts).toEqual({ fireAfter: 2, resolveAfter: 10, suppress: [] })
    expect(Object.keys(c.detectors)).toEqual(DETECTORS.map((d) => d.id))
    expect(c.detectors['port-novelty']).toMatchObject({ enabled: true, fireAfter: 1 })
    expect(c.detectors['smtp-burst']).toMatchObject({ enabled: true, burstServers: 5 })
    expect(c.detectors['smtp-burst']!.fireAfter).toBeUndefined()
    expect(c.detectors['volume-spike']!.enabled).toBe(false)
  })

  it('lists every invalid field by its path, and rejects unknown keys by name', () => {
    const e = errorOf(() =>
      parseConfig({ engine: { windowSeconds: 0, lateness: 5 }, detectors: { fanout: { minDistinctIps: 'many' }, 'no-such-detector': {} }, alerts: { suppress: [{ reason: 'x' }] } }, DETECTORS, 'test.yaml'),
    )
    expect(e.code).toBe('EGD_CONFIG')
    expect(e.message.split('\n')[0]).toBe('invalid configuration in test.yaml:')
    for (const path of ['engine.windowSeconds: ', 'engine: ', 'detectors.fanout.minDistinctIps: ', 'detectors: ', 'alerts.suppress.0: ']) {
      expect(e.message).toContain(`  ${path}`)
    }
    expect(e.message).toContain('"lateness"')
    expect(e.message).toContain('"no-such-detector"')
    expect(e.message).toContain('a suppression rule needs at least one of deviceId, detector, destination, asn')
  })

  it('takes private address space as the fleet by default, and names an invalid network, an invalid inventory key, an address listed twice or an unknown time zone by its path', () => {
    expect(parseConfig({}, DETECTORS).devices.networks).toEqual(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7'])
    const e = errorOf(() =>
      parseConfig({
        devices: { networks: ['192.168.0.0/16', '192.0.2.0/33'] },
        inventory: { '10.0.0.0/40': { model: 'x' }, lock: { addresses: ['192.168.1.122'] }, cam: { addresses: ['fd00::1', '192.168.1.122'] }, tv: { addresses: ['tv.local'] } },
      }, DETECTORS),
    )
    expect(e.message).toContain('  devices.networks.1: expected an IP network (CIDR such as 192.168.0.0/16 or fd00::/8) or an address')
    expect(e.message).toContain('  inventory.10.0.0.0/40: a key with "/" must be an IP network (CIDR)')
    expect(e.message).toContain('  inventory.cam.addresses.1: 192.168.1.122 is listed by lock too')
    expect(e.message).toContain('  inventory.tv.addresses.0: expected an IPv4 or IPv6 address')
    expect(errorOf(() => parseConfig({ input: { timeZone: 'Europe/Praha' } }, DETECTORS)).message).toContain('  input.timeZone: expected an IANA time zone name such as UTC or Europe/Prague')
  })

  it('returns a deeply frozen configuration', () => {
    const c = parseConfig({ alerts: { suppress: [{ detector: 'fanout' }] } }, DETECTORS)
    expect(Object.isFrozen(c.alerts.suppress[0])).toBe(true)
    expect(Object.isFrozen(c.detectors['fanout'])).toBe(true)
  })

  it('refuses a registry with two detectors of one id', () => {
    expect(errorOf(() => parseConfig({}, [DETECTORS[0]!, DETECTORS[0]!])).code).toBe('EGD_DETECTOR')
  })
})

describe('loadConfig', () => {
  it('reads YAML and JSON files, and names the file when it cannot be read or parsed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'egress-config-'))
    writeFileSync(join(dir, 'a.yaml'), 'alerts:\n  fireAfter: 4\n')
    writeFileSync(join(dir, 'b.json'), '{"engine": {"maxDevices": 10}}')
    writeFileSync(join(dir, 'c.yaml'), 'alerts: [unclosed\n')
    expect(loadConfig(join(dir, 'a.yaml'), DETECTORS).alerts.fireAfter).toBe(4)
    expect(loadConfig(join(dir, 'b.json'), DETECTORS).engine.maxDevices).toBe(10)
    expect(errorOf(() => loadConfig(join(dir, 'c.yaml'), DETECTORS)).message).toContain(`config file ${join(dir, 'c.yaml')} is not valid YAML or JSON`)
    expect(errorOf(() => loadConfig(join(dir, 'missing.yaml'), DETECTORS))).toMatchObject({ code: 'EGD_CONFIG' })
  })

  it('reads an owner table of the user\'s relative to the file, and names destinations.owners when it is missing or bad', () => {
    const dir = mkdtempSync(join(tmpdir(), 'egress-owners-'))
    writeFileSync(join(dir, 'owners.csv'), '52.88.0.0,52.89.255.255,16509,"Amazon.com, Inc."\n')
    writeFileSync(join(dir, 'bad.csv'), 'first,last,asn,organisation\n52.88.0.0,nowhere,16509,x\n')
    writeFileSync(join(dir, 'good.yaml'), 'destinations:\n  owners: owners.csv\n')
    writeFileSync(join(dir, 'missing.yaml'), 'destinations:\n  owners: nowhere.csv\n')
    writeFileSync(join(dir, 'bad.yaml'), 'destinations:\n  owners: bad.csv\n')
    expect(loadConfig(join(dir, 'good.yaml'), DETECTORS).destinations.owners).toBe(join(dir, 'owners.csv'))
    expect(errorOf(() => loadConfig(join(dir, 'missing.yaml'), DETECTORS)).message).toContain('destinations.owners: ENOENT')
    expect(errorOf(() => loadConfig(join(dir, 'bad.yaml'), DETECTORS)).message).toContain(`destinations.owners: ${join(dir, 'bad.csv')}: line 2: expected first,last,asn,organisation`)
    expect(loadConfig(undefined, DETECTORS).destinations.owners).toBe('builtin')
  })
})
