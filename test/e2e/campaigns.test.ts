// Campaigns as a specification: on the synthetic fleet, each attack that turned many devices is one campaign with exactly its devices, the benign firmware rollout is none, and a paging webhook target gets one page per campaign instead of one per device.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
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

let records: AlertRecord[] = []
/** Each campaign's last record, and every member it ever listed. */
let campaigns: { last: CampaignRecord; members: string[] }[] = []

beforeAll(async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [BIN, 'replay', '-q', '--campaigns', fixture('synthetic/fleet.ndjson.gz')], { maxBuffer: 256 * 1024 * 1024 })
  records = stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as AlertRecord)
  const fleet = records.filter((r): r is CampaignRecord => r.scope === 'fleet')
  const ids = [...new Set(fleet.map((r) => r.id))]
  // The record lists at most 20 devices: the members are the device alerts' devices that count towards it, read from the records' growth.
  campaigns = ids.map((id) => {
    const own = fleet.filter((r) => r.id === id)
    const members = new Set<string>()
    for (const r of own) for (const d of r.evidence.devices as string[]) members.add(d)
    return { last: own.at(-1)!, members: [...members].sort() }
  })
}, 60_000)

describe('campaigns on the synthetic fleet', () => {
  it('makes the model compromised from the start one campaign of that model, with all 40 of its devices', () => {
    const glacier = campaigns.filter((c) => c.last.deviceCount > 0 && c.members.some((d) => byDevice.get(d)!.kind === 'compromised-model'))
    expect(glacier).toHaveLength(1)
    expect(glacier[0]!.last).toMatchObject({ model: 'glacier-fridge', deviceCount: 40, models: ['glacier-fridge'], behaviour: 'smtp-burst smtp/direct' })
    expect(glacier[0]!.last.startsAt).toBe('2026-11-02T00:02:00.000Z')
  })

  it('makes the burst spam one campaign with exactly its 8 devices, across their 3 models', () => {
    const burst = campaigns.filter((c) => c.members.some((d) => byDevice.get(d)!.kind === 'spam-burst'))
    expect(burst).toHaveLength(1)
    expect(burst[0]!.last).toMatchObject({ model: null, deviceCount: 8, behaviour: 'smtp-burst smtp/submission' })
    expect(burst[0]!.last.models).toEqual(['frostbyte-fridge', 'lumen-tv', 'brewbot-coffee'])
    expect(burst[0]!.members).toEqual(devicesOf('spam-burst'))
  })

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

  it('sends a paging target one page per campaign (its opening) instead of one per device alert', () => {
    const deviceFirings = records.filter((r): r is Alert => r.scope === 'device' && r.status === 'firing')
    const pages = records.filter((r) => r.scope === 'fleet' && r.status === 'firing' && r.revision === 1)
    expect(pages).toHaveLength(5)
    expect(deviceFirings.length).toBeGreaterThan(500)
  })
})
