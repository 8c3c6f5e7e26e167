// Campaigns as a specification: on the synthetic fleet, each attack that turned many devices is one campaign with exactly its devices, the benign firmware rollout is one rollout notice and no campaign (the same move without new firmware is a campaign), and a paging webhook target gets one page per campaign instead of one per device.
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { beforeAll, describe, expect, it } from 'vitest'
import type { Alert, AlertRecord, CampaignRecord } from '../../src/types.ts'

const BIN = fileURLToPath(new URL('../../bin/egress-sentinel.js', import.meta.url))
const fixture = (p: string): string => fileURLToPath(new URL(`../../fixtures/${p}`, import.meta.url))

interface Label { deviceId: string; model: string; kind: string; hardCase: string | null }
const labels = (JSON.parse(readFileSync(fixture('synthetic/fleet.labels.json'), 'utf8')) as { labels: Label[] }).labels
const byDevice = new Map(labels.map((l) => [l.deviceId, l]))
const devicesOf = (kind: string): string[] => labels.filter((l) => l.kind === kind).map((l) => l.deviceId).sort()

interface Grouped { last: CampaignRecord; members: string[] }

/** The fleet's DNS answers: the names of its cloud services' addresses (their flows are unnamed). */
const DNS = fixture('synthetic/fleet.dns.ndjson.gz')

const replayCampaigns = async (...inputs: string[]): Promise<{ records: AlertRecord[]; groups: Grouped[] }> => {
  const { stdout } = await promisify(execFile)(process.execPath, [BIN, 'replay', '-q', '--campaigns', ...inputs], { maxBuffer: 256 * 1024 * 1024 })
  const records = stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as AlertRecord)
  const fleet = records.filter((r): r is CampaignRecord => r.scope === 'fleet')
  // The records list at most 20 devices each: the members are read from the records' growth.
  const groups = [...new Set(fleet.map((r) => r.id))].map((id) => {
    const own = fleet.filter((r) => r.id === id)
    const members = new Set<string>()
    for (const r of own) for (const d of r.evidence.devices as string[]) members.add(d)
    return { last: own.at(-1)!, members: [...members].sort() }
  })
  return { records, groups }
}

let records: AlertRecord[] = []
/** Each campaign's last record, and every member it ever listed. */
let campaigns: Grouped[] = []
let rollouts: Grouped[] = []

beforeAll(async () => {
  const r = await replayCampaigns(fixture('synthetic/fleet.ndjson.gz'), DNS)
  records = r.records
  campaigns = r.groups.filter((g) => g.last.kind === 'campaign')
  rollouts = r.groups.filter((g) => g.last.kind === 'rollout')
}, 60_000)

describe('campaigns on the synthetic fleet', () => {
  it('makes the model compromised from the start one campaign of that model, with all 40 of its devices', () => {
    const glacier = campaigns.filter((c) => c.last.deviceCount > 0 && c.members.some((d) => byDevice.get(d)!.kind === 'compromised-model'))
    expect(glacier).toHaveLength(1)
    expect(glacier[0]!.last).toMatchObject({ model: 'glacier-fridge', deviceCount: 40, models: ['glacier-fridge'], behaviour: 'smtp-burst smtp/direct' })
    // From the file's first minutes: compromised before anyone watched (the history day's start).
    expect(glacier[0]!.last.startsAt).toBe('2026-11-01T00:03:00.000Z')
  })

  it('makes the burst spam one campaign with exactly its 8 devices, across their 3 models', () => {
    const burst = campaigns.filter((c) => c.members.some((d) => byDevice.get(d)!.kind === 'spam-burst'))
    expect(burst).toHaveLength(1)
    expect(burst[0]!.last).toMatchObject({ model: null, deviceCount: 8, behaviour: 'smtp-burst smtp/submission' })
    expect(burst[0]!.last.models).toEqual(['frostbyte-fridge', 'lumen-tv', 'brewbot-coffee'])
    expect(burst[0]!.members).toEqual(devicesOf('spam-burst'))
  })

  it('makes the firmware update of every frostbyte fridge one rollout notice (low) of that model, and no campaign', () => {
    expect(rollouts).toHaveLength(1)
    expect(rollouts[0]!.last).toMatchObject({
      kind: 'rollout', model: 'frostbyte-fridge', severity: 'low', behaviour: 'model-shift rollout fw.frostbyte.example firmware 3.2.0',
    })
    // 38 of the 40: two infected fridges stop being collected or updating with the rest
    expect(rollouts[0]!.last.deviceCount).toBe(38)
    expect(new Set(rollouts[0]!.members.map((d) => byDevice.get(d)!.model))).toEqual(new Set(['frostbyte-fridge']))
    expect(rollouts[0]!.members.every((d) => byDevice.get(d)!.hardCase === 'firmware-update')).toBe(true)
  })

  it('names the firmware host from the DNS answers; without them, the owner of its cloud addresses', async () => {
    // The images come from object storage whose flows carry no name: the rollout above names the
    // host its answers gave. Without the answers it is the same rollout, known by its owner.
    const { groups } = await replayCampaigns(fixture('synthetic/fleet.ndjson.gz'))
    const unnamed = groups.filter((g) => g.last.kind === 'rollout')
    expect(unnamed.map((g) => [g.last.behaviour, g.last.model, g.last.severity])).toEqual([['model-shift rollout AS16509 firmware 3.2.0', 'frostbyte-fridge', 'low']])
    expect(unnamed[0]!.last.deviceCount).toBeGreaterThanOrEqual(30)
    expect(groups.filter((g) => g.last.kind === 'campaign').map((g) => g.last.behaviour)).toEqual(campaigns.map((c) => c.last.behaviour))
  }, 60_000)

  it('makes the same move without the firmware change a campaign of that model', async () => {
    // The fleet as if the fridges had taken up the update host without new firmware: a vendor-side compromise.
    const lines = gunzipSync(readFileSync(fixture('synthetic/fleet.ndjson.gz'))).toString('utf8')
    const dir = mkdtempSync(join(tmpdir(), 'egress-shift-'))
    const file = join(dir, 'fleet-no-update.ndjson.gz')
    const frozen = lines.split('\n').map((l) => (l.includes('"model":"frostbyte-fridge"') ? l.replace(/"firmware":"[^"]*"/, '"firmware":"3.1.4"') : l))
    writeFileSync(file, gzipSync(frozen.join('\n')))
    const { groups } = await replayCampaigns(file, DNS)
    expect(groups.filter((g) => g.last.kind === 'rollout')).toEqual([])
    const shift = groups.filter((g) => g.last.behaviour.startsWith('model-shift'))
    expect(shift.map((g) => [g.last.kind, g.last.behaviour, g.last.model])).toEqual([['campaign', 'model-shift shift fw.frostbyte.example', 'frostbyte-fridge']])
    // It opens as a medium campaign (a page for a medium target); members that later spam raise it.
    expect(shift[0]!.last.severity).not.toBe('low')
    expect(shift[0]!.last.deviceCount).toBeGreaterThanOrEqual(30)
  }, 60_000)

  it('puts no benign device in any campaign: the fleet-wide firmware update is not one', () => {
    // The other three: the low-and-slow spam, the spam only telemetry shows, and the scans: each exactly its devices.
    expect(campaigns.map((c) => [c.last.behaviour, c.last.deviceCount, [...new Set(c.members.map((d) => byDevice.get(d)!.kind))]])).toEqual([
      ['smtp-burst smtp/direct', 40, ['compromised-model']],
      ['smtp-burst smtp/direct', 8, ['spam-slow']],
      ['smtp-burst smtp/submission', 8, ['spam-burst']],
      ['email-telemetry mail/reported', 7, ['spam-telemetry']],
      ['fanout fanout/addresses', 6, ['scan']],
    ])
    // every frostbyte-fridge took firmware 3.2.0 and then a new host: none of the 34 uninfected ones is in a campaign
    const members = new Set(campaigns.flatMap((c) => c.members))
    expect(labels.filter((l) => l.hardCase === 'firmware-update' && l.kind === 'benign' && members.has(l.deviceId))).toEqual([])
  })

  it("says in each spambot's alert how far it stands from its model's peers", () => {
    const spam = records.filter((r): r is Alert => r.scope === 'device' && r.status === 'firing' && r.detector === 'smtp-burst' && byDevice.get(r.deviceId)!.kind === 'spam-burst')
    expect(spam.length).toBeGreaterThanOrEqual(8)
    for (const a of spam) {
      expect(a.evidence.peerFeature).toBe('smtpFlowsPerHour')
      // the other devices of its model (40) with a completed hour in the fleet view, itself left out
      expect(a.evidence.peerDevices as number).toBeGreaterThanOrEqual(30)
      expect(a.evidence.peerDevices as number).toBeLessThanOrEqual(39)
      // above nearly all of its peers' latest hours (a histogram with buckets ~9 % wide: equals are not below)
      expect(a.evidence.peerPercentile as number).toBeGreaterThanOrEqual(90)
      expect(a.evidence.peerSummary).toMatch(/^\d+ SMTP connections an hour, (\d+(\.\d)?× the mean of its \d+ \S+ peers|where its peers have none)/)
    }
    // The glacier fridges were all turned at once: against peers that all spam, they stand out far less than the burst spambots.
    const glacier = records.filter((r): r is Alert => r.scope === 'device' && r.status === 'firing' && r.detector === 'smtp-burst' && r.model === 'glacier-fridge' && r.evidence.peerRatio !== null)
    const medianRatio = (alerts: Alert[]) => {
      const ratios = alerts.map((a) => a.evidence.peerRatio).filter((r): r is number => typeof r === 'number').sort((x, y) => x - y)
      return ratios[ratios.length >> 1]!
    }
    expect(medianRatio(glacier)).toBeLessThan(medianRatio(spam) / 2)
  })

  it('sends a paging target one page per campaign (its opening) instead of one per device alert', () => {
    const deviceFirings = records.filter((r): r is Alert => r.scope === 'device' && r.status === 'firing')
    // A paging target (scopes [fleet], minSeverity medium): campaign openings; the rollout notice is low.
    const pages = records.filter((r) => r.scope === 'fleet' && r.status === 'firing' && r.revision === 1 && r.severity !== 'low')
    expect(pages).toHaveLength(5)
    expect(pages.every((p) => p.scope === 'fleet' && p.kind === 'campaign')).toBe(true)
    expect(deviceFirings.length).toBeGreaterThan(500)
  })
})
