import { readFileSync } from 'node:fs'
import { beforeAll, describe, expect, it } from 'vitest'
import { DETECTORS } from '../../../detectors/index.ts'
import { mudViolation } from '../../../detectors/mud-violation.ts'
import { parseConfig } from '../../../src/config/load.ts'
import { parseMudFile } from '../../../src/engine/mud-file.ts'
import { MudPolicy } from '../../../src/engine/mud.ts'
import type { MudProfile } from '../../../src/engine/mud.ts'
import type { DeviceEvent, EgressEvent } from '../../../src/types.ts'
import { at, egress } from '../../helpers/events.ts'
import { fixturePath, loadFixture } from '../../helpers/fixtures.ts'
import { detectorFindings } from '../../helpers/run.ts'

const mudJson = (name: string): unknown => JSON.parse(readFileSync(fixturePath(`mud/${name}`), 'utf8'))
const profile = (name: string, model?: string): MudProfile => parseMudFile(mudJson(name), model)

describe('MUD files (RFC 8520)', () => {
  it("reads the RFC's example light bulb: its from-device entry allows TCP 443 to test.example.com over IPv6, nothing else", () => {
    const bulb = profile('rfc8520-lightbulb2000.json', 'lightbulb2000')
    expect(bulb).toEqual({
      model: 'lightbulb2000', url: 'https://lighting.example.com/lightbulb2000', acls: ['mud-76100-v6fr'],
      aces: [{
        acl: 'mud-76100-v6fr', name: 'cl0-frdev', family: 6, protocol: 6, networks: [], dnsNames: ['test.example.com'],
        localNetworks: false, ports: [443, 443], exceptPort: null, action: 'accept', unsupported: [],
      }],
    })
    const policy = new MudPolicy(bulb)
    const flow = (fields: Partial<EgressEvent>) => policy.judge(egress({ ts: at(0), dstIp: '2001:db8::10', dstHost: 'test.example.com', ...fields }))
    expect(flow({})).toEqual({ allowed: true, rule: 'mud-76100-v6fr/cl0-frdev' })
    expect(flow({ dstPort: 80 })).toEqual({ allowed: false, rule: 'mud-76100-v6fr (no entry accepts)' })
    expect(flow({ dstIp: '192.0.2.10' }).allowed).toBe(false) // an IPv6 ACL
    expect(flow({ dstHost: undefined }).allowed).toBe(false) // a name matches only a flow that carries it
    expect(flow({ proto: 17 }).allowed).toBe(false)
    expect(flow({ dstHost: 'TEST.example.com.' }).allowed).toBe(true) // names compare without case or a trailing dot
  })

  it('needs a model: the configuration names it, else the file (model-name)', () => {
    expect(() => profile('rfc8520-lightbulb2000.json')).toThrow('no model')
    expect(profile('glacier-fridge.json').model).toBe('glacier-fridge')
  })

  it('names the field at fault in a bad file, and an access list the policy names but nobody defines', () => {
    const bad = structuredClone(mudJson('rfc8520-lightbulb2000.json')) as { 'ietf-access-control-list:acls': { acl: { aces: { ace: { matches: { tcp: { 'destination-port': { operator: string } } } }[] } }[] } }
    bad['ietf-access-control-list:acls'].acl[1]!.aces.ace[0]!.matches.tcp['destination-port'].operator = 'about'
    expect(() => parseMudFile(bad, 'm')).toThrow('ietf-access-control-list:acls.acl.1.aces.ace.0.matches.tcp.destination-port.operator')
    const orphan = structuredClone(mudJson('rfc8520-lightbulb2000.json')) as { 'ietf-access-control-list:acls': { acl: unknown[] } }
    orphan['ietf-access-control-list:acls'].acl.pop()
    expect(() => parseMudFile(orphan, 'm')).toThrow('names access list "mud-76100-v6fr", which ietf-access-control-list:acls does not define')
  })

  it('never matches entries built on abstractions it cannot resolve (controller, manufacturer), nor connections opened towards the device', () => {
    const json = structuredClone(mudJson('rfc8520-lightbulb2000.json')) as { 'ietf-access-control-list:acls': { acl: { aces: { ace: { matches: Record<string, unknown> }[] } }[] } }
    json['ietf-access-control-list:acls'].acl[1]!.aces.ace[0]!.matches['ietf-mud:mud'] = { controller: 'urn:ietf:params:mud:dns' }
    const p = parseMudFile(json, 'm')
    expect(p.aces[0]!.unsupported).toEqual(['controller'])
    expect(new MudPolicy(p).judge(egress({ ts: at(0), dstIp: '2001:db8::10', dstHost: 'test.example.com' })).allowed).toBe(false)
  })

  /** The light bulb's from-device entry with its matches replaced. */
  const bulbWith = (matches: Record<string, unknown>, type = 'ipv6-acl-type') => {
    const json = structuredClone(mudJson('rfc8520-lightbulb2000.json')) as { 'ietf-access-control-list:acls': { acl: { type: string; aces: { ace: { matches: unknown }[] } }[] } }
    json['ietf-access-control-list:acls'].acl[1]!.type = type
    json['ietf-access-control-list:acls'].acl[1]!.aces.ace[0]!.matches = matches
    return json
  }

  it('rejects a match key it does not know by its path, so a typo never widens a policy', () => {
    expect(() => parseMudFile(bulbWith({ tcp: { 'destinaton-port': { operator: 'eq', port: 25 } } }), 'm'))
      .toThrow(/ietf-access-control-list:acls\.acl\.1\.aces\.ace\.0\.matches\.tcp: Unrecognized key: "destinaton-port"/)
    expect(() => parseMudFile(bulbWith({ ipv4: { protocol: 17 }, tcp: {} }, 'ipv4-acl-type'), 'm')).toThrow('protocol 17 contradicts the tcp match')
    expect(() => parseMudFile(bulbWith({ tcp: {}, udp: {} }), 'm')).toThrow('more than one of tcp, udp, icmp in one entry')
    expect(() => parseMudFile(bulbWith({ tcp: { 'destination-port': { port: 25, 'upper-port': 30 } } }), 'm')).toThrow('port and lower-port/upper-port in one match')
  })

  it('never matches with fields of RFC 8519 a flow record cannot show (source port, Ethernet), reads neq, icmp in IPv6 and prefixed types', () => {
    const judge = (json: unknown, fields: Partial<EgressEvent>) => new MudPolicy(parseMudFile(json, 'm')).judge(egress({ ts: at(0), dstIp: '2001:db8::10', ...fields }))
    const sourcePort = parseMudFile(bulbWith({ tcp: { 'source-port': { operator: 'eq', port: 4000 } } }), 'm')
    expect(sourcePort.aces[0]!.unsupported).toEqual(['tcp source-port'])
    expect(judge(bulbWith({ tcp: { 'source-port': { operator: 'eq', port: 4000 } } }), {}).allowed).toBe(false)
    expect(judge(bulbWith({ eth: { 'source-mac-address': '00:00:5e:00:53:01' } }, 'eth-acl-type'), { dstPort: 25 }).allowed).toBe(false)
    const notSmtp = bulbWith({ tcp: { 'destination-port': { operator: 'neq', port: 25 } } })
    expect([judge(notSmtp, { dstPort: 443 }).allowed, judge(notSmtp, { dstPort: 25 }).allowed]).toEqual([true, false])
    expect(parseMudFile(bulbWith({ icmp: {} }), 'm').aces[0]!.protocol).toBe(58)
    const local = bulbWith({ 'ietf-mud:mud': { 'local-networks': [null] } }, 'ietf-access-control-list:ipv6-acl-type')
    expect([judge(local, { dstIp: 'fd00::1' }).allowed, judge(local, { dstIp: '192.168.1.5' }).allowed]).toEqual([true, false])
  })

  it('loads a directory: each file for the model its model-name names, else its file name; paths relative to the configuration', () => {
    const config = parseConfig({ detectors: { 'mud-violation': { directory: 'mud' } } }, DETECTORS, 'test', fixturePath(''))
    const section = config.detectors['mud-violation'] as unknown as { loaded: MudProfile[]; profiles: object; directory?: string }
    expect(section.loaded.map((p) => p.model)).toEqual(['glacier-fridge', 'rfc8520-lightbulb2000', 'vault-nas'])
    // The effective configuration holds the profiles, not the paths: the same files anywhere give the same hash.
    expect([section.profiles, section.directory]).toEqual([{}, undefined])
    // Off by default (nothing to judge), on with profiles, unless switched off.
    expect(parseConfig({}, DETECTORS).detectors['mud-violation']!.enabled).toBe(false)
    expect((config.detectors['mud-violation'] as unknown as { enabled: boolean }).enabled).toBe(true)
    const off = parseConfig({ detectors: { 'mud-violation': { directory: 'mud', enabled: false } } }, DETECTORS, 'test', fixturePath(''))
    expect(off.detectors['mud-violation']!.enabled).toBe(false)
    expect(() => parseConfig({ detectors: { 'mud-violation': { profiles: { fridge: 'mud/none.json' } } } }, DETECTORS, 'test', fixturePath('')))
      .toThrow(/detectors\.mud-violation\.profiles\.fridge: cannot read MUD file .*none\.json: ENOENT/)
  })
})

describe('mud-violation on the synthetic fleet', () => {
  let fleet: DeviceEvent[] = []
  /** The DNS answers that name the fleet's cloud services (their flows are unnamed). */
  let answers: DeviceEvent[] = []
  beforeAll(() => {
    fleet = loadFixture('synthetic/fleet.ndjson.gz')
    answers = loadFixture('synthetic/fleet.dns.ndjson.gz')
  }, 60_000)
  const ofModel = (model: string) => fleet.filter((e) => e.model === model)
  /** A DNS answer lasts its TTL and the default grace of an hour past its last use. */
  const NAMES = { nameGraceMs: 3_600_000 }
  const loaded = (...names: string[]) => ({ loaded: names.map((n) => profile(n)) })

  it('makes every SMTP flow of the glacier fridges (a profile of the vendor API only) a violation citing the implicit deny, and nothing else', () => {
    const events = ofModel('glacier-fridge')
    const found = detectorFindings(mudViolation, events, loaded('glacier-fridge.json'))
    // SMTP flows per device and minute, as the findings must count them
    const smtp = new Map<string, number>()
    for (const e of events) {
      if (e.type !== 'egress' || e.dstPort !== 25) continue
      const key = `${e.deviceId} ${Math.floor(e.ts / 60_000)}`
      smtp.set(key, (smtp.get(key) ?? 0) + 1)
    }
    expect(smtp.size).toBeGreaterThan(1000)
    const reported = new Map(found.map((f) => [`${f.deviceId} ${f.minute + Date.parse('2026-11-02T00:00:00Z') / 60_000}`, f.finding]))
    expect([...reported.keys()].sort()).toEqual([...smtp.keys()].sort())
    for (const [key, n] of smtp) {
      expect(reported.get(key)!.evidence).toMatchObject({ deniedFlows: n, ports: [25], rule: 'mud-glacier-fridge-v4fr (no entry accepts)' })
    }
  })

  it('keeps the benign NAS boxes silent with a profile that allows their relay, the ones that mail through it included', () => {
    const labels = (JSON.parse(readFileSync(fixturePath('synthetic/fleet.labels.json'), 'utf8')) as { labels: { deviceId: string; kind: string; hardCase: string | null }[] }).labels
    const benign = new Set(labels.filter((l) => l.kind === 'benign').map((l) => l.deviceId))
    const flows = ofModel('vault-nas').filter((e) => benign.has(e.deviceId))
    expect(flows.some((e) => e.type === 'egress' && e.dstPort === 587)).toBe(true)
    // The profile allows the update server by name, and its flows come unnamed from a cloud: the
    // device's DNS answers name them, as a MUD manager resolves the profile's names.
    const events = [...flows, ...answers.filter((e) => benign.has(e.deviceId) && e.deviceId.startsWith('vault-nas-'))]
    expect(detectorFindings(mudViolation, events, loaded('vault-nas.json'), NAMES)).toEqual([])
    const unnamed = detectorFindings(mudViolation, flows, loaded('vault-nas.json'), NAMES)
    expect(unnamed.length).toBeGreaterThan(0)
    expect(new Set(unnamed.map((f) => f.finding.evidence.ports).flat())).toEqual(new Set([443]))
    // An SMTP budget of 0 an hour turns the relay's mail, which the ACL allows, into findings citing the budget.
    const budget = detectorFindings(mudViolation, events, { ...loaded('vault-nas.json'), budgets: [{ name: 'smtp', ports: [25, 465, 587], perHour: 0 }] }, NAMES)
    expect(budget.length).toBeGreaterThan(0)
    expect(budget[0]!.finding.evidence).toMatchObject({ rule: 'budget smtp', perHour: 0, indicator: 'mud budget smtp' })
    expect(budget[0]!.finding.severity).toBe('high')
  })

  it('judges no device of a model without a profile', () => {
    expect(detectorFindings(mudViolation, ofModel('lumen-tv'), loaded('glacier-fridge.json', 'vault-nas.json'))).toEqual([])
  })
})
