import { describe, expect, it } from 'vitest'
import { newDestination } from '../../../detectors/new-destination.ts'
import type { EgressEvent } from '../../../src/types.ts'
import { MIN as MINUTE, at, egress } from '../../helpers/events.ts'
import { Destinations } from '../../../src/engine/destinations.ts'
import { OwnerTable } from '../../../src/engine/owners.ts'
import { detectorFindings, minutesOf } from '../../helpers/run.ts'
import { soloFleet } from '../../../src/engine/fleet.ts'
import { hashString } from '../../../src/engine/window.ts'

/** The vendor cloud every device talks to, every 5 minutes over [from, to]; its destination key is `acme-iot.example`. */
const heartbeat = (deviceId: string, from = 0, to = 200, fields: Partial<EgressEvent> = {}): EgressEvent[] =>
  range(from / 5, to / 5 + 1).map((i) =>
    egress({ deviceId, ts: at(i * 5), dstIp: '52.10.0.1', dstHost: 'api.acme-iot.example', ...fields }))

/**
 * One flow per destination from `minute` on, 6 s apart (up to ten fit in one window), repeated in the two
 * windows after: the persistence (3 active windows) that makes a destination count as new.
 */
const visits = (deviceId: string, minute: number, dsts: readonly string[], fields: Partial<EgressEvent> = {}): EgressEvent[] =>
  [0, 1, 2].flatMap((k) => dsts.map((dstIp, i) => egress({ deviceId, ts: at(minute + k + i / 10), dstIp, ...fields })))

const C2 = ['203.0.113.7', '198.51.100.7', '192.0.2.7']
/** Their keys as evidence lists them: in the order first used, then by name (all three first in one window). */
const C2_KEYS = ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24']

describe('new-destination', () => {
  it('reports three never-seen destinations once their 20-window wait for peers has passed', () => {
    const found = detectorFindings(newDestination, [...heartbeat('dev-1'), ...visits('dev-1', 130, C2)])
    // First seen at 130, counted from 150, out of the one-hour horizon from 190.
    expect(minutesOf(found)).toEqual(range(150, 190))
    // The device met none while learning (its second hour: one hour of exposure); its model, never
    // observed, weighs as one hour at the floor rate (0.001 an hour): 0.0005 expected in the hour.
    // Three or more under that negative binomial (shape 0.001, p = 2/3): about 1.6e-5.
    expect(found[0]!.finding).toEqual({
      severity: 'medium',
      score: expect.closeTo(0.5 + (4.78 - 3) / 12, 2),
      summary: '3 destinations never used before in 1 h (0.0005 expected), none shared by 3+ test-model peers',
      evidence: {
        rule: 'novelty',
        newDestinations: 3,
        expected: 0.0005,
        surprise: 4.78,
        deviceRatePerHour: 0,
        modelRatePerHour: 0.001,
        modelWeightHours: 1,
        firmwareChangedRecently: false,
        destinations: C2_KEYS,
        // Documentation ranges: no owner in any table.
        addresses: ['192.0.2.7', '198.51.100.7', '203.0.113.7'],
        owners: ['', '', ''],
      },
      destinations: C2_KEYS,
    })
    // An hour after learning ended (minute 179) the device's rate learns the hour, but an hour that
    // fires adds only what was expected: an attack does not teach its own tolerance.
    expect(found.find((f) => f.minute === 180)!.finding.evidence.deviceRatePerHour).toBeLessThan(0.001)
  })

  it('learns destinations for two hours and takes its rate from those still new in the second hour', () => {
    const early = ['45.33.1.1', '45.33.2.1', '45.33.3.1', '45.33.4.1', '45.33.5.1', '45.33.6.1']
    const learner = [...heartbeat('dev-1'), ...visits('dev-1', 30, early), ...visits('dev-1', 150, early)]
    expect(detectorFindings(newDestination, learner)).toEqual([])

    // Two destinations first used at minutes 70 and 100: 2 an hour, and with its model's hour at the
    // floor rate, 1 expected in an hour: seven new ones are about one in 600, eight one in 1,000.
    const browsing = (deviceId: string, net: number, novel: number): EgressEvent[] => [
      ...heartbeat(deviceId),
      ...visits(deviceId, 70, [`91.${net}.1.1`]),
      ...visits(deviceId, 100, [`91.${net}.2.1`]),
      ...visits(deviceId, 130, range(0, novel).map((i) => `93.${net}.${i}.1`)),
    ]
    const found = detectorFindings(newDestination, [...browsing('seven', 1, 7), ...browsing('eight', 2, 8)])
    expect(minutesOf(found, 'seven')).toEqual([])
    expect(minutesOf(found, 'eight')[0]).toBe(150)
    expect(found[0]!.finding.evidence).toMatchObject({ newDestinations: 8, expected: 1, surprise: 3.01, deviceRatePerHour: 2 })
    expect(found[0]!.finding.summary).toBe('8 destinations never used before in 1 h (1 expected), none shared by 3+ test-model peers')
    // A quiet device of the same fleet fires on its first.
    const quiet = [...heartbeat('quiet'), ...visits('quiet', 130, ['93.9.9.1'])]
    expect(detectorFindings(newDestination, quiet)[0]!.finding.evidence).toMatchObject({ newDestinations: 1, surprise: 3.39 })
  })

  it('discounts destinations a rollout brings to the device and more than three of its model peers, even the first device', () => {
    const hosts = ['ota.newcdn.example', 'ingest.telemetry-cloud.example', 'time.ntp-pool.example']
    const adopt = (deviceId: string, model: string, minute: number): EgressEvent[] => [
      ...heartbeat(deviceId, 0, 200, { model }),
      ...[0, 1, 2].flatMap((k) => hosts.map((dstHost, i) => egress({ deviceId, model, ts: at(minute + k + i / 5), dstIp: `104.18.${i}.9`, dstHost }))),
    ]
    const found = detectorFindings(newDestination, [
      // dev-1 is first; four peers follow within its 20-window wait
      ...adopt('dev-1', 'cam', 130), ...adopt('dev-2', 'cam', 140), ...adopt('dev-3', 'cam', 141),
      ...adopt('dev-4', 'cam', 145), ...adopt('dev-5', 'cam', 149),
      // the same hosts on three devices of another model: each has only two peers
      ...adopt('bell-1', 'doorbell', 130), ...adopt('bell-2', 'doorbell', 130), ...adopt('bell-3', 'doorbell', 130),
    ])
    for (const id of ['dev-1', 'dev-2', 'dev-3', 'dev-4', 'dev-5']) expect(minutesOf(found, id)).toEqual([])
    for (const id of ['bell-1', 'bell-2', 'bell-3']) expect(minutesOf(found, id)[0]).toBe(150)
    expect(found.find((f) => f.deviceId === 'bell-1')!.finding.evidence.destinations)
      .toEqual(['newcdn.example', 'ntp-pool.example', 'telemetry-cloud.example'])
  })

  it('reports a large upload to one new destination at once, at high severity', () => {
    const upload = egress({ ts: at(130.5), dstIp: '185.220.101.4', bytesOut: 25_000_000 })
    const found = detectorFindings(newDestination, [...heartbeat('dev-1'), upload])
    expect(minutesOf(found)).toEqual(range(130, 190))
    expect(found[0]!.finding).toEqual({
      severity: 'high',
      score: expect.closeTo(0.5 + Math.log2(25 / 20) / 6, 9),
      summary: 'sent 25.0 MB (net of what came back) to 185.220.101.0/24, a destination it never used before',
      evidence: {
        rule: 'upload', destination: '185.220.101.0/24', netBytesOut: 25_000_000, thresholdBytes: 20_000_000, newDestinations: 0,
        address: '185.220.101.4', name: null, domain: null, asn: null, owner: null, range: null,
      },
      destinations: ['185.220.101.0/24'],
    })
    // One flow is not the persistence (3 active windows) that makes a destination count as new.
    expect(found.find((f) => f.minute === 150)!.finding.evidence.newDestinations).toBe(0)
  })

  it('keeps where a device uploaded known after a day of other destinations pushed it out of what it remembers: a gateway\'s nightly photo backup', () => {
    const backup = (minute: number) => egress({ ts: at(minute + 0.5), dstIp: '17.253.1.1', dstHost: 'photos.icloud.example', bytesOut: 25_000_000 })
    // A page of a site it never saw every 2 minutes (one flow each: none persists), past the 32 destinations it remembers.
    const browsing = range(0, 40).map((i) => egress({ ts: at(200 + 2 * i + 0.5), dstIp: `45.${i}.7.9`, dstHost: `www.site-${i}.example` }))
    const found = detectorFindings(newDestination, [...heartbeat('dev-1', 0, 400), backup(130), ...browsing, backup(330)], { maxKnown: 32 })
    expect(found.filter((f) => f.finding.evidence.rule === 'upload').map((f) => f.minute)).toEqual(range(130, 190))
    // Its first backup while it learned (two flows of 12.5 MB: a bulk upload to where it goes), the next one a day of sites later: none.
    const learnt = [egress({ ts: at(30.5), dstIp: '17.253.1.1', dstHost: 'photos.icloud.example', bytesOut: 12_500_000 }), egress({ ts: at(31.5), dstIp: '17.253.1.1', dstHost: 'photos.icloud.example', bytesOut: 12_500_000 })]
    expect(detectorFindings(newDestination, [...heartbeat('dev-1', 0, 400), ...learnt, ...browsing, backup(330)], { maxKnown: 32 })).toEqual([])
    // Smaller, it was no upload: the next night's backup is one to a destination it forgot.
    const small = learnt.map((e) => ({ ...e, bytesOut: 500_000 }))
    expect(detectorFindings(newDestination, [...heartbeat('dev-1', 0, 400), ...small, ...browsing, backup(330)], { maxKnown: 32 }).map((f) => f.minute)[0]).toBe(330)
  })

  it('counts what flows upload (sent less received, where twice as much went out): a large download or a call with a new destination is no upload, an upload with its acknowledgements is, and a download before it hides nothing', () => {
    // Two GB down over half an hour: 30 MB of acknowledgements go out.
    const download = range(0, 30).map((m) => egress({ ts: at(130.5 + m), dstIp: '185.220.101.4', bytesOut: 1_000_000, bytesIn: 66_000_000 }))
    expect(detectorFindings(newDestination, [...heartbeat('dev-1'), ...download]).filter((f) => f.finding.evidence.rule === 'upload')).toEqual([])
    // A video call: 8 MB up and 9 MB down a minute for 40 minutes, some minutes more up than down.
    const call = range(0, 40).map((m) => egress({ ts: at(130.5 + m), dstIp: '185.220.101.4', proto: 17, bytesOut: 8_000_000, bytesIn: m % 3 === 0 ? 7_000_000 : 9_500_000 }))
    expect(detectorFindings(newDestination, [...heartbeat('dev-1'), ...call]).filter((f) => f.finding.evidence.rule === 'upload')).toEqual([])
    // 25 MB up with 1.5 % coming back: 24.6 MB net, past the 20 MB of uploadBytes at once.
    const upload = egress({ ts: at(130.5), dstIp: '185.220.101.4', bytesOut: 25_000_000, bytesIn: 375_000 })
    const found = detectorFindings(newDestination, [...heartbeat('dev-1'), upload])
    expect(minutesOf(found)[0]).toBe(130)
    expect(found[0]!.finding.evidence.netBytesOut).toBe(24_625_000)
    // A payload fetched from the destination first (30 MB down) does not hide the upload that follows.
    const fetched = egress({ ts: at(130.2), dstIp: '185.220.101.4', bytesOut: 400_000, bytesIn: 30_000_000 })
    expect(minutesOf(detectorFindings(newDestination, [...heartbeat('dev-1'), fetched, { ...upload, ts: at(131.5) }]))[0]).toBe(131)
  })

  it('learns while the device is busy: an idle first hours teach nothing, its first busy hour sets its rate', () => {
    // Silent but for one call at minute 0, then browsing from minute 240: 12 new destinations an hour.
    const browsing = range(0, 36).map((i) => egress({ ts: at(240 + 5 * i), dstIp: `${20 + i}.1.1.1` }))
    const pc = [egress({ ts: at(0), dstIp: '52.10.0.1' }), ...browsing.flatMap((e) => [e, { ...e, ts: e.ts + MINUTE }, { ...e, ts: e.ts + 2 * MINUTE }])]
    expect(detectorFindings(newDestination, pc)).toEqual([])
    // Learning by the clock alone, the same traffic alarms once the first destination (first used at 240)
    // has waited out its 20 windows for peers.
    expect(minutesOf(detectorFindings(newDestination, pc, { learningWindows: 0 }))[0]).toBe(260)
  })

  it('counts a new destination only once it was used in three windows: a page load is not command and control', () => {
    const once = [...heartbeat('dev-1'), ...C2.map((dstIp, i) => egress({ ts: at(130 + i / 10), dstIp }))]
    expect(detectorFindings(newDestination, once)).toEqual([])
    const twice = [...once, ...C2.map((dstIp, i) => egress({ ts: at(131 + i / 10), dstIp }))]
    expect(detectorFindings(newDestination, twice)).toEqual([])
    expect(minutesOf(detectorFindings(newDestination, twice, { minActiveWindows: 2 }))[0]).toBe(150)
  })

  it('reports at the same severity when the firmware changed within twice the learning period, the change in the evidence', () => {
    const events = [
      ...heartbeat('dev-1', 0, 120, { firmware: '1.0' }),
      ...heartbeat('dev-1', 125, 200, { firmware: '1.1' }),
      ...visits('dev-1', 130, C2),
    ]
    const found = detectorFindings(newDestination, events)
    expect(minutesOf(found)).toEqual(range(150, 190))
    expect(found[0]!.finding).toMatchObject({ severity: 'medium', evidence: { surprise: 4.78 } })
    expect(found[0]!.finding.kind).toBeUndefined()
    expect(found[0]!.finding.evidence.firmwareChangedRecently).toBe(true)
  })

  it('judges a new device by its model: two new destinations are ordinary for a TV among TVs that meet them hourly, not for a thermostat', () => {
    /** Five devices of a model from minute 0, and a sixth that joins at 300 and uses two new destinations at 440. */
    const model = (model: string, churn: boolean): EgressEvent[] => [
      ...range(1, 6).flatMap((k) => [
        ...heartbeat(`${model}-${k}`, 0, 600, { model }),
        // A TV's ad breaks: a tracker it never used, every six minutes, each called once.
        ...(churn ? range(0, 100).map((i) => egress({ deviceId: `${model}-${k}`, model, ts: at(6 * i + k / 10), dstIp: `100.${k}.${i}.1` })) : []),
      ]),
      ...heartbeat(`${model}-new`, 300, 600, { model }),
      ...visits(`${model}-new`, 440, ['203.0.113.9', '198.51.100.9'], { model }),
    ]
    const found = detectorFindings(newDestination, [...model('tv', true), ...model('thermostat', false)])
    expect(found.filter((f) => f.deviceId !== 'thermostat-new')).toEqual([])
    // First used at 440, counted once the fleet's level holds the 20 windows of its wait (two epochs later).
    expect(minutesOf(found, 'thermostat-new')[0]).toBe(480)
    expect(found[0]!.finding.evidence).toMatchObject({ newDestinations: 2, deviceRatePerHour: 0, modelRatePerHour: 0.001 })
    // Unshared, persistent, and never met by the device itself: the TV's two are judged against its
    // model's ten new destinations an hour, and do not fire at even a twentieth of the default surprise.
    expect(detectorFindings(newDestination, model('tv', true), { surprise: 0.15 })).toEqual([])
  })

  it('learns a device that changed for good: its new churn fires in its first hours, not for ever', () => {
    // From minute 180 on, two new destinations every hour (each used in three windows) for 30 hours.
    const changed = [...heartbeat('dev-1', 0, 180 + 30 * 60), ...range(0, 30).flatMap((h) => visits('dev-1', 180 + h * 60 + 10, [`60.${h}.1.1`, `61.${h}.1.1`]))]
    const hours = new Set(detectorFindings(newDestination, changed).map((f) => Math.floor((f.minute - 180) / 60)))
    expect(hours.has(0)).toBe(true)
    expect([...hours].filter((h) => h >= 3)).toEqual([])
  })

  it('takes hours without traffic as no evidence: a device back from 20 silent hours keeps the rate it had', () => {
    /** Two new destinations an hour for ten hours, then eight in hour `back` (20 silent hours before it, or none). */
    const device = (back: number) => {
      const hours = [...range(0, 10), back]
      return [
        ...hours.flatMap((h) => heartbeat('dev-2', h * 60, h * 60 + 55)),
        ...hours.flatMap((h) => visits('dev-2', h * 60 + 10, range(0, h === back ? 8 : 2).map((k) => `${70 + k}.${h}.1.1`))),
      ]
    }
    const rate = (back: number) => detectorFindings(newDestination, device(back), { surprise: 0.1 }).find((f) => f.minute >= back * 60)!.finding.evidence.deviceRatePerHour as number
    expect(rate(10)).toBeGreaterThan(0.5)
    expect(rate(30)).toBeGreaterThan(0.8 * rate(10))
  })

  it('honours learningMinutes, learningWindows, peerDelayWindows, minNovel, peerDevices and uploadBytes overrides', () => {
    const early = [...heartbeat('dev-1'), ...visits('dev-1', 40, C2)]
    expect(minutesOf(detectorFindings(newDestination, early))).toEqual([])
    // Used at 40, 41 and 42: new from its third active window until the hour since first use has passed.
    expect(minutesOf(detectorFindings(newDestination, early, { learningMinutes: 30, learningWindows: 0, peerDelayWindows: 0 }))).toEqual(range(42, 100))
    // The heartbeat makes 8 windows with traffic by minute 40: still short of the default 20.
    expect(detectorFindings(newDestination, early, { learningMinutes: 30, peerDelayWindows: 0 })).toEqual([])

    const attack = [...heartbeat('dev-1'), ...visits('dev-1', 130, C2)]
    expect(detectorFindings(newDestination, attack, { minNovel: 4 })).toEqual([])

    const shared = ['dev-1', 'dev-2', 'dev-3'].flatMap((id) => [...heartbeat(id), ...visits(id, 130, C2)])
    expect(minutesOf(detectorFindings(newDestination, shared))[0]).toBe(150)
    expect(detectorFindings(newDestination, shared, { peerDevices: 2 })).toEqual([])

    const upload = [...heartbeat('dev-1'), egress({ ts: at(130.5), dstIp: '185.220.101.4', bytesOut: 5_000_000 })]
    expect(detectorFindings(newDestination, upload)).toEqual([])
    expect(minutesOf(detectorFindings(newDestination, upload, { uploadBytes: 5_000_000 }))[0]).toBe(130)
  })

  // Regression: bytes observed past window w (the lookahead) do not count at w, so the upload is reported
  // in the window its total reaches 20 MB, not before.
  it('reports several flows to one new destination in the window their total reaches uploadBytes', () => {
    const flows = range(130, 135).map((m) => egress({ ts: at(m), dstIp: '185.220.101.4', bytesOut: 5_000_000 }))
    const found = detectorFindings(newDestination, [...heartbeat('dev-1'), ...flows])
    expect(minutesOf(found)[0]).toBe(133)
  })
})

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i)
}

describe('new-destination with owners of addresses', () => {
  // Two ranges of one cloud provider, and another owner.
  const owners = new Destinations(OwnerTable.of([
    '52.88.0.0,52.89.255.255,16509,"Amazon.com, Inc."',
    '44.224.0.0,44.255.255.255,16509,"Amazon.com, Inc."',
    '185.220.100.0,185.220.103.255,64512,Elsewhere Hosting',
  ].join('\n')))
  /** A lock calling its cloud endpoint every minute; from minute 130 the endpoint answers from another range of the same provider. */
  const lock = (moved: string) => range(0, 260).map((m) => egress({ ts: at(m + 0.5), dstIp: m < 130 ? '52.89.250.177' : moved }))

  it('takes an endpoint that moves to another address of the provider it already used as the destination it knew', () => {
    expect(detectorFindings(newDestination, lock('44.237.243.166'), {}, { destinations: owners })).toEqual([])
    // Known by prefix alone, the move is three new /24s' worth of alerts.
    expect(detectorFindings(newDestination, lock('44.237.243.166')).length).toBeGreaterThan(0)
  })

  it('still reports a destination of an owner the device never used, with the owner in the evidence', () => {
    const found = detectorFindings(newDestination, lock('185.220.101.4'), {}, { destinations: owners })
    expect(found[0]!.finding.destinations).toEqual(['AS64512'])
    expect(found[0]!.finding.evidence).toMatchObject({ destinations: ['AS64512'], addresses: ['185.220.101.4'], owners: ['Elsewhere Hosting'] })
  })
})

describe('new-destination with names and owners together', () => {
  const owners = new Destinations(OwnerTable.of(['52.88.0.0,52.89.255.255,16509,"Amazon.com, Inc."', '44.224.0.0,44.255.255.255,16509,"Amazon.com, Inc."'].join('\n')))
  /** A thermostat calling its vendor's API, in one cloud, every minute. */
  const vendor = (named: boolean) => range(0, 260).map((m) => egress({ ts: at(m + 0.5), dstIp: '52.89.250.177', ...(named ? { dstHost: 'api.hearth.example' } : {}) }))
  /** From minute 150, an upload of 30 MB to a drop host in the same cloud. */
  const upload = (named: boolean) => range(150, 156).map((m) => egress({ ts: at(m + 0.7), dstIp: '44.237.1.9', bytesOut: 5_000_000, ...(named ? { dstHost: 'drop.files-3.example' } : {}) }))

  it('judges a named destination by its name when the device used its cloud only by name', () => {
    const found = detectorFindings(newDestination, [...vendor(true), ...upload(true)], {}, { destinations: owners })
    const first = found[0]!
    expect([first.minute, first.finding.evidence.rule, first.finding.evidence.destination, first.finding.evidence.name, first.finding.evidence.owner]).toEqual([
      153, 'upload', 'files-3.example', 'drop.files-3.example', 'Amazon.com, Inc.',
    ])
  })

  it('takes a name for an endpoint the device used unnamed, in either order, as the endpoint it knew', () => {
    // The vendor's flows unnamed until minute 200 (no DNS answer yet), then named.
    const renamed = vendor(false).map((e, m) => (m >= 200 ? { ...e, dstHost: 'api.hearth.example' } : e))
    expect(detectorFindings(newDestination, renamed, {}, { destinations: owners })).toEqual([])
    // Named until minute 200 (the answer expired), then unnamed.
    const expired = vendor(true).map((e, m) => (m >= 200 ? { ...e, dstHost: undefined } : e))
    expect(detectorFindings(newDestination, expired, {}, { destinations: owners })).toEqual([])
  })

  it('cannot tell an unnamed upload into a cloud the device already uses from its own traffic there (owner identity)', () => {
    expect(detectorFindings(newDestination, [...vendor(true), ...upload(false)], {}, { destinations: owners })).toEqual([])
  })
})

describe('new-destination past its horizon', () => {
  it('keeps knowing new destinations past their horizon after its known destinations forget them among many names of a cloud it knows', () => {
    const events: EgressEvent[] = []
    // Learning: a vendor's API and a CDN's address unnamed, then a heartbeat to both all day.
    for (let m = 0; m < 480; m++) events.push(egress({ ts: at(m), dstIp: '52.10.0.1', dstHost: 'api.acme.example' }))
    for (let m = 135; m < 480; m++) events.push(egress({ ts: at(m + 0.5), dstIp: '93.184.216.10' }))
    // Ten command servers from minute 130, every two minutes all day.
    const c2 = Array.from({ length: 10 }, (_, i) => `198.51.${i}.7`)
    for (let m = 130; m < 480; m += 2) c2.forEach((ip, i) => events.push(egress({ ts: at(m + 0.1 + i / 100), dstIp: ip })))
    // 255 sites served from the CDN it knows (named flows to a known address: each name is learned,
    // none new): more than maxKnown (256) less what it knew, so the command servers are forgotten there.
    for (let n = 0, m = 140; n < 255; n++, m += 0.2) events.push(egress({ ts: at(m + 0.05), dstIp: `93.184.216.${n % 250}`, dstHost: `www.site${n}.com` }))
    const findings = detectorFindings(newDestination, [...events].sort((a, b) => a.ts - b.ts))
    // One alert's windows, none after: the command servers stay known once past the horizon.
    const minutes = findings.map((f) => f.minute)
    expect(minutes.every((m, i) => i === 0 || m === minutes[i - 1]! + 1)).toBe(true)
    expect([minutes[0], minutes.at(-1)]).toEqual([150, 194])
  })

  it('knows a destination past its horizon only while it is among the latest maxNovel new ones, and learns it again when met after', () => {
    // Learning: a heartbeat to 125 minutes. X is met once at 130, then eight more new destinations
    // (past maxKnown of 8: X is forgotten there) while X is among the latest two new ones (maxNovel).
    const events: EgressEvent[] = []
    for (let m = 0; m < 125; m++) events.push(egress({ ts: at(m), dstIp: '52.10.0.1', dstHost: 'api.acme.example' }))
    const x = '198.51.100.7'
    events.push(egress({ ts: at(130), dstIp: x }))
    for (let k = 1; k <= 8; k++) events.push(egress({ ts: at(184 + k), dstIp: `203.0.${k}.9` }))
    // Met again at 200 (no longer among the latest two): learned again, as any forgotten destination.
    events.push(egress({ ts: at(200), dstIp: x }))
    events.push(egress({ ts: at(246), dstIp: '203.0.8.9' }))
    // So its 25 MB upload at 255 goes to a destination it knows: no upload finding.
    const upload = egress({ ts: at(255), dstIp: x, bytesOut: 25_000_000 })
    const cfg = { maxKnown: 8, maxNovel: 2, windows: 10 }
    expect(detectorFindings(newDestination, [...events, upload], cfg).filter((f) => f.finding.evidence.rule === 'upload')).toEqual([])
    // Not met at 200: it was forgotten, and the upload goes to a new destination.
    const without = events.filter((e) => !(e.dstIp === x && e.ts === at(200)))
    expect(detectorFindings(newDestination, [...without, upload], cfg).map((f) => [f.minute, f.finding.evidence.rule])).toContainEqual([255, 'upload'])
  })
})

describe('new-destination checkpoints', () => {
  /** A device that learned nothing (learning off), its state after flows to three new destinations, and the detector. */
  const withNovel = (overrides: Record<string, unknown> = {}) => {
    const cfg = newDestination.configSchema.parse({ learningMinutes: 0, learningWindows: 0, ...overrides })
    const fleet = soloFleet(MINUTE)
    const detector = newDestination.create(cfg, { windowMs: MINUTE, lookaheadWindows: 1, fleet: fleet.access('new-destination'), destinations: new Destinations(null) })
    const device = { id: 'dev-1', model: 'test-model', firmware: '', firmwareChangedAt: -Infinity, firstSeen: at(0) }
    const state = detector.init(device)
    const flows = [
      egress({ deviceId: 'dev-1', ts: at(10.1), dstIp: '203.0.113.7', bytesOut: 500, bytesIn: 100 }),
      egress({ deviceId: 'dev-1', ts: at(10.2), dstIp: '198.51.100.7', dstHost: 'c2.example', bytesOut: 300, bytesIn: 200 }),
      // A later window's flow to the first one, then one of the window before it (in the lookahead).
      egress({ deviceId: 'dev-1', ts: at(11.5), dstIp: '203.0.113.9', bytesOut: 700, bytesIn: 0 }),
      egress({ deviceId: 'dev-1', ts: at(10.9), dstIp: '203.0.113.7', bytesOut: 40, bytesIn: 0 }),
      egress({ deviceId: 'dev-1', ts: at(11.6), dstIp: '192.0.2.7', bytesOut: 900, bytesIn: 0 }),
    ]
    for (const e of flows) detector.observeEgress!(state, e, device)
    return { detector, device, state, fleet }
  }

  it('writes its new destinations a field per array, each tail as long as the lookahead, and restores them to the same checkpoint', () => {
    const { detector, device, state } = withNovel()
    const snapshot = JSON.parse(JSON.stringify(detector.snapshot(state)))
    expect(snapshot.novel).toEqual({
      keys: ['203.0.113.0/24', 'c2.example', '192.0.2.0/24'],
      addresses: ['203.0.113.7', '198.51.100.7', '192.0.2.7'],
      hosts: ['', 'c2.example', ''],
      hashes: ['203.0.113.0/24', 'c2.example', '192.0.2.0/24'].map(hashString),
      window: [10, 10, 11].map((m) => at(m) / MINUTE),
      // Sent less received where twice as much went out (300 against 200 is no upload).
      bytes: [400 + 700 + 40, 0, 900],
      lastWindow: [11, 10, 11].map((m) => at(m) / MINUTE),
      // The first: windows 11 (latest) and 10 (one before); the others one window each.
      trail: [0b11, 1, 1],
      tail: [[700, 440], [0, 0], [900, 0]],
      active: [2, 1, 1],
      tallied: [0, 0, 0],
    })
    const restored = detector.restore(JSON.parse(JSON.stringify(snapshot)), device)
    expect(JSON.parse(JSON.stringify(detector.snapshot(restored)))).toEqual(snapshot)
  })

  it('restores a checkpoint of an older version, whose new destinations had no hashes, addresses, trails, tails or tallies', () => {
    const { detector, device, state } = withNovel()
    const snapshot = JSON.parse(JSON.stringify(detector.snapshot(state)))
    const { keys, window, bytes, lastWindow, active } = snapshot.novel
    const older = { ...snapshot, novel: { keys, window, bytes, lastWindow, active, lastBytes: [700, 0, 900] } }
    const restored = JSON.parse(JSON.stringify(detector.snapshot(detector.restore(older, device))))
    expect(restored.novel).toEqual({
      ...snapshot.novel,
      addresses: ['', '', ''],
      hosts: ['', '', ''],
      trail: [1, 1, 1],
      tail: [[700, 0], [0, 0], [900, 0]],
    })
  })

  it('writes the keys its addresses and host names give, and keeps one they do not (a checkpoint written with another owner table)', () => {
    const { detector, device, state } = withNovel()
    const snapshot = JSON.parse(JSON.stringify(detector.snapshot(state)))
    expect(snapshot.novel.keys).toEqual(['203.0.113.0/24', 'c2.example', '192.0.2.0/24'])
    const other = { ...snapshot, novel: { ...snapshot.novel, keys: ['AS64500', 'c2.example', '192.0.2.0/24'] } }
    const restored = detector.restore(JSON.parse(JSON.stringify(other)), device)
    expect(JSON.parse(JSON.stringify(detector.snapshot(restored)))).toEqual(other)
  })

  it('keeps the latest maxKnown destinations it learned, in the order learned, the one learned longest ago making room', () => {
    const cfg = newDestination.configSchema.parse({ maxKnown: 8 })
    const detector = newDestination.create(cfg, { windowMs: MINUTE, lookaheadWindows: 1, fleet: soloFleet(MINUTE).access('new-destination'), destinations: new Destinations(null) })
    const device = { id: 'dev-1', model: 'test-model', firmware: '', firmwareChangedAt: -Infinity, firstSeen: at(0) }
    const state = detector.init(device)
    // Eleven destinations while learning (a /24 each: no owner table), the fifth met again at the end.
    const prefixes = Array.from({ length: 11 }, (_, i) => `198.51.${i}`)
    prefixes.forEach((p, i) => detector.observeEgress!(state, egress({ deviceId: 'dev-1', ts: at(1 + i), dstIp: `${p}.7` }), device))
    detector.observeEgress!(state, egress({ deviceId: 'dev-1', ts: at(20), dstIp: '198.51.4.9' }), device)
    const { known } = JSON.parse(JSON.stringify(detector.snapshot(state)))
    expect(known).toEqual(prefixes.slice(3).map((p) => hashString(`${p}.0/24`)))
  })

  /** A detector learning (the default two hours) and its device. */
  const learner = () => {
    const detector = newDestination.create(newDestination.configSchema.parse({}), { windowMs: MINUTE, lookaheadWindows: 1, fleet: soloFleet(MINUTE).access('new-destination'), destinations: new Destinations(null) })
    const device = { id: 'dev-1', model: 'test-model', firmware: '', firmwareChangedAt: -Infinity, firstSeen: at(0) }
    return { detector, device }
  }
  /** The mark of an address's identity used behind a name (BEHIND_NAME in the detector). */
  const behindName = (hash: number): number => hash ^ 0x5bd1e995

  it('keeps every destination it learned, in the order learned, each as it was hashed, however many more than a row holds', () => {
    const { detector, device } = learner()
    const state = detector.init(device)
    // Eleven prefixes unnamed, then three names (each adds its name and its address's mark).
    const prefixes = Array.from({ length: 11 }, (_, i) => `198.51.${i}`)
    prefixes.forEach((p, i) => detector.observeEgress!(state, egress({ deviceId: 'dev-1', ts: at(1 + i), dstIp: `${p}.7` }), device))
    const names = ['a.example', 'b.example', 'c.example']
    names.forEach((n, i) => detector.observeEgress!(state, egress({ deviceId: 'dev-1', ts: at(20 + i), dstIp: `203.0.${i}.9`, dstHost: n }), device))
    const expected = [
      ...prefixes.map((p) => hashString(`${p}.0/24`)),
      ...names.flatMap((n, i) => [hashString(n), behindName(hashString(`203.0.${i}.0/24`))]),
    ]
    // Both kinds of 32-bit numbers are among them: unsigned past 2^31, and signed below zero.
    expect([expected.some((h) => h >= 2 ** 31), expected.some((h) => h < 0)]).toEqual([true, true])
    const { known } = JSON.parse(JSON.stringify(detector.snapshot(state)))
    expect(known).toEqual(expected)
  })

  it('restores known destinations as they were written, few or many, signed or unsigned', () => {
    const { detector, device } = learner()
    const written = JSON.parse(JSON.stringify(detector.snapshot(detector.init(device))))
    for (const known of [[3_000_000_000, -5, 7], Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? 4_000_000_000 + i : -1_000_000 - i))]) {
      const restored = detector.restore({ ...written, known }, device)
      expect(JSON.parse(JSON.stringify(detector.snapshot(restored))).known).toEqual(known)
    }
  })

  it('knows an address a restored checkpoint knew behind a name when it comes back unnamed', () => {
    const { detector, device } = learner()
    // A /24 whose mark is negative (a signed number in the checkpoint).
    const prefix = Array.from({ length: 256 }, (_, i) => `198.18.${i}`).find((p) => behindName(hashString(`${p}.0/24`)) < 0)!
    const written = JSON.parse(JSON.stringify(detector.snapshot(detector.init(device))))
    // Learned (its rate window set): a flow to an unknown destination now is a new one.
    const learned = { ...written, rateWindow: 200, known: [hashString('c2.example'), behindName(hashString(`${prefix}.0/24`))] }
    const state = detector.restore(learned, device)
    detector.observeEgress!(state, egress({ deviceId: 'dev-1', ts: at(300), dstIp: `${prefix}.9` }), device)
    expect(JSON.parse(JSON.stringify(detector.snapshot(state))).novel).toBeNull()
    detector.observeEgress!(state, egress({ deviceId: 'dev-1', ts: at(301), dstIp: '192.0.2.9' }), device)
    expect(JSON.parse(JSON.stringify(detector.snapshot(state))).novel.keys).toEqual(['192.0.2.0/24'])
  })

  it('drops new destinations first used before the horizon at its hourly update, and still knows them', () => {
    const { detector, device, state, fleet } = withNovel()
    const novelOf = () => JSON.parse(JSON.stringify(detector.snapshot(state))).novel
    /** The window of minute `m`. */
    const w = (m: number): number => Math.floor(at(m) / MINUTE)
    /** Judges minute `m`'s window, the fleet's levels complete through it (one shard, as the engine closes them). */
    const judge = (m: number): void => {
      const through = Math.floor(at(m + 1) / fleet.view.settings.epochMs)
      fleet.publish({ shard: 0, closedThrough: through, clock: at(m + 1), epochs: fleet.shard.take(through) })
      detector.evaluate(state, w(m), device)
    }
    // Its rate's first update (learning is off): from minute 12's window on, hourly.
    judge(12)
    // Minute 71: no update due, the three (first used in minutes 10 and 11) are kept.
    judge(71)
    expect(novelOf().keys).toEqual(['203.0.113.0/24', 'c2.example', '192.0.2.0/24'])
    // Minute 72, an update: the horizon of 60 windows starts past them.
    judge(72)
    expect(novelOf()).toBeNull()
    // Their hashes stay, in the checkpoint too.
    const written = JSON.parse(JSON.stringify(detector.snapshot(state)))
    expect(written.stale).toEqual([hashString('203.0.113.0/24'), hashString('c2.example'), hashString('192.0.2.0/24')])
    expect(JSON.parse(JSON.stringify(detector.snapshot(detector.restore(written, device))))).toEqual(written)
    // Met again, they are known; a destination never met is new.
    detector.observeEgress!(state, egress({ deviceId: 'dev-1', ts: at(73.1), dstIp: '203.0.113.7', bytesOut: 500, bytesIn: 100 }), device)
    detector.observeEgress!(state, egress({ deviceId: 'dev-1', ts: at(73.2), dstIp: '198.18.5.9', bytesOut: 500, bytesIn: 100 }), device)
    expect(novelOf().keys).toEqual(['198.18.5.0/24'])
  })

  it('keeps the latest maxNovel new destinations, the one first seen longest ago making room', () => {
    const { detector, state } = withNovel({ maxNovel: 2 })
    const { novel } = JSON.parse(JSON.stringify(detector.snapshot(state)))
    expect(novel.keys).toEqual(['c2.example', '192.0.2.0/24'])
    expect(novel.tail).toEqual([[0, 0], [900, 0]])
    expect(novel.bytes).toEqual([0, 900])
  })
})
