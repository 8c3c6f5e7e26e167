import { describe, expect, it } from 'vitest'
import { portNovelty } from '../../../detectors/port-novelty.ts'
import type { EgressEvent } from '../../../src/types.ts'
import { at, egress } from '../../helpers/events.ts'
import { detectorFindings, minutesOf } from '../../helpers/run.ts'
import { Destinations } from '../../../src/engine/destinations.ts'

/**
 * A heartbeat to the vendor cloud at half past every minute over [0, to). Its flow at m + 0.5 closes window
 * m - 1 (the engine waits 30 s for late events), so risky flows later in minute m cannot leak into it.
 */
const heartbeat = (deviceId: string, model = 'test-model', to = 160): EgressEvent[] =>
  range(0, to).map((m) => egress({ deviceId, model, ts: at(m + 0.5), dstIp: '52.10.0.1', dstPort: 443 }))

/** `n` flows on `port` from `minute` + 0.6 on, within that minute, to 45.i.7.9. */
const flows = (deviceId: string, minute: number, port: number, n = 1, model = 'test-model'): EgressEvent[] =>
  range(0, n).map((i) => egress({ deviceId, model, ts: at(minute + 0.6 + (0.3 * i) / n), dstIp: `45.${i}.7.9`, dstPort: port }))

describe('port-novelty', () => {
  it('counts a connection reported again at an exporter\'s active timeout (no SYN) as one flow', () => {
    const session = [egress({ ts: at(130.6), dstIp: '45.0.7.9', dstPort: 23 }), egress({ ts: at(131.6), dstIp: '45.0.7.9', dstPort: 23, continued: true }), egress({ ts: at(132.6), dstIp: '45.0.7.9', dstPort: 23, continued: true })]
    const found = detectorFindings(portNovelty, [...heartbeat('dev-1'), ...session])
    expect(found.map((f) => f.finding.evidence.flows)).toEqual(found.map(() => 1))
    expect(found.length).toBeGreaterThan(0)
  })

  it('reports a telnet sweep at high severity from the window of its first use, for 10 windows', () => {
    const found = detectorFindings(portNovelty, [...heartbeat('dev-1'), ...flows('dev-1', 130, 23, 20)])
    expect(minutesOf(found)).toEqual(range(130, 140))
    expect(found[0]!.finding).toEqual({
      severity: 'high',
      score: expect.closeTo(0.7 + 0.05 * Math.log10(20), 9),
      summary: 'first use of risky port 23 (20 flows), not used by the device or its test-model peers while learning',
      evidence: { ports: [23], flows: 20, sampleDestination: '45.0.7.9', peersRequired: 3, newPortsPerHour: 0, modelNewPortsPerHour: 0 },
      destinations: ['45.0.7.9'],
    })
  })

  it('learns the risky ports a device uses in its first two hours, and ignores local destinations', () => {
    const events = [
      ...heartbeat('dev-1'),
      ...flows('dev-1', 10, 587), // the NAS's mail relay, while learning
      ...flows('dev-1', 150, 587),
      egress({ ts: at(140.6), dstIp: '192.168.1.20', dstPort: 23 }),
      egress({ ts: at(141.6), dstIp: '10.0.0.5', dstPort: 445 }),
      egress({ ts: at(142.6), dstIp: 'fd00::5', dstPort: 5555 }),
    ]
    expect(detectorFindings(portNovelty, events)).toEqual([])
  })

  it('accepts a port that three of its model peers used while learning, not one that two did', () => {
    const learnt = (deviceId: string, model: string): EgressEvent[] => [...heartbeat(deviceId, model), ...flows(deviceId, 10, 587, 1, model)]
    const late = (deviceId: string, model: string): EgressEvent[] => [...heartbeat(deviceId, model), ...flows(deviceId, 150, 587, 1, model)]
    const found = detectorFindings(portNovelty, [
      ...learnt('nas-1', 'vault-nas'), ...learnt('nas-2', 'vault-nas'), ...learnt('nas-3', 'vault-nas'), ...late('nas-4', 'vault-nas'),
      ...learnt('cam-1', 'cam'), ...learnt('cam-2', 'cam'), ...late('cam-3', 'cam'),
    ])
    expect(minutesOf(found, 'nas-4')).toEqual([])
    expect(minutesOf(found, 'cam-3')).toEqual(range(150, 160))
    expect(found[0]!.finding.summary).toBe('first use of risky port 587 (1 flows), not used by the device or its cam peers while learning')
  })

  it('honours a per-model allow list', () => {
    const events = [
      ...heartbeat('nas-1', 'vault-nas'), ...flows('nas-1', 150, 587, 1, 'vault-nas'),
      ...heartbeat('cam-1', 'cam'), ...flows('cam-1', 150, 587, 1, 'cam'),
    ]
    const allowed = detectorFindings(portNovelty, events, { allow: { 'vault-nas': [587] } })
    expect(minutesOf(allowed, 'nas-1')).toEqual([])
    expect(minutesOf(allowed, 'cam-1')).toEqual(range(150, 160))
    expect(minutesOf(detectorFindings(portNovelty, events), 'nas-1')).toEqual(range(150, 160))
  })

  it('is medium for a risky port outside the high-risk list, high once a high-risk port joins it', () => {
    const found = detectorFindings(portNovelty, [...heartbeat('dev-1'), ...flows('dev-1', 130, 5555), ...flows('dev-1', 133, 23)])
    expect(found.map((f) => [f.minute, f.finding.severity])).toEqual([
      ...range(130, 133).map((m) => [m, 'medium']),
      ...range(133, 143).map((m) => [m, 'high']),
    ])
    expect(found[0]!.finding.score).toBeCloseTo(0.7, 9)
    const both = found.find((f) => f.minute === 133)!.finding
    expect(both.summary).toBe('first use of risky ports 5555, 23 (2 flows), not used by the device or its test-model peers while learning')
    expect(both.score).toBeCloseTo(0.8 + 0.05 * Math.log10(2), 9)
    expect(both.evidence).toEqual({ ports: [5555, 23], flows: 2, sampleDestination: '45.0.7.9', peersRequired: 3, newPortsPerHour: 0, modelNewPortsPerHour: 0 })
    expect(found.find((f) => f.minute === 140)!.finding.evidence.ports).toEqual([23])
  })

  it('honours learningMinutes, ports, highRiskPorts, windows and peerDevices overrides', () => {
    const early = [...heartbeat('dev-1'), ...flows('dev-1', 10, 5555)]
    expect(detectorFindings(portNovelty, early)).toEqual([])
    expect(minutesOf(detectorFindings(portNovelty, early, { learningMinutes: 0 }))).toEqual(range(10, 20))

    const mqtt = [...heartbeat('dev-1'), ...flows('dev-1', 130, 8883), ...flows('dev-1', 131, 23)]
    const custom = detectorFindings(portNovelty, mqtt, { ports: [8883], highRiskPorts: [], windows: 3 })
    expect(custom.map((f) => [f.minute, f.finding.severity, f.finding.evidence.ports])).toEqual([
      [130, 'medium', [8883]], [131, 'medium', [8883]], [132, 'medium', [8883]],
    ])

    const peers = [
      ...heartbeat('cam-1'), ...flows('cam-1', 10, 587), ...heartbeat('cam-2'), ...flows('cam-2', 10, 587),
      ...heartbeat('cam-3'), ...flows('cam-3', 150, 587),
    ]
    expect(minutesOf(detectorFindings(portNovelty, peers), 'cam-3')[0]).toBe(150)
    expect(detectorFindings(portNovelty, peers, { peerDevices: 2 })).toEqual([])
  })

  it('reports outbound telnet, IRC and port-25 SMTP even while the device is learning: it may have been infected before anyone watched', () => {
    for (const port of [23, 2323, 25, 6667, 6697]) {
      const found = detectorFindings(portNovelty, [...heartbeat('dev-1'), ...flows('dev-1', 10, port)])
      expect(minutesOf(found)).toEqual(range(10, 20))
      expect(found[0]!.finding.severity).toBe('high')
    }
    // A port learnable by a device (submission to a relay) is learnt instead.
    expect(detectorFindings(portNovelty, [...heartbeat('dev-1'), ...flows('dev-1', 10, 587)])).toEqual([])
  })

  it('keeps reporting an always-reported port however many devices of the model use it, unless allowed', () => {
    const events = ['relay-1', 'relay-2', 'relay-3', 'relay-4'].flatMap((id, i) => [
      ...heartbeat(id, 'printer'), ...flows(id, 10 + 2 * i, 25, 1, 'printer'),
    ])
    const found = detectorFindings(portNovelty, events)
    // A whole model mailing straight to port 25 is a compromised model, not a habit.
    expect(minutesOf(found, 'relay-4')).toEqual(range(16, 26))
    expect(detectorFindings(portNovelty, events, { allow: { printer: [25] } })).toEqual([])
  })

  it('accepts an unusual port that three devices of the model use persistently: the model\'s own protocol', () => {
    const beacon = (id: string, model: string): EgressEvent[] => [
      ...heartbeat(id, model),
      ...range(0, 30).map((i) => egress({ deviceId: id, model, ts: at(30 + i / 3), dstIp: '203.0.113.80', dstPort: 9999 })),
    ]
    const found = detectorFindings(portNovelty, [...beacon('hub-1', 'hub'), ...beacon('hub-2', 'hub'), ...beacon('hub-3', 'hub'), ...beacon('lamp-1', 'lamp')])
    expect(found.map((f) => f.deviceId).filter((id, i, all) => all.indexOf(id) === i)).toEqual(['lamp-1'])
  })

  it('reports persistent use of an unusual port from the 20th flow, and never a standard or high UDP port', () => {
    // Command and control on tcp/50, one flow every 20 s from minute 30: the 20th flow is at 36.33.
    const beacon = range(0, 40).map((i) => egress({ ts: at(30 + i / 3), dstIp: '178.128.185.250', dstPort: 50 }))
    const found = detectorFindings(portNovelty, [...heartbeat('dev-1'), ...beacon])
    expect(minutesOf(found)[0]).toBe(36)
    expect(found[0]!.finding).toMatchObject({
      severity: 'medium',
      summary: 'persistent use of unusual port 50 (21 flows), not used by the device or its test-model peers while learning',
      evidence: { ports: [50], sampleDestination: '178.128.185.250' },
    })
    expect(detectorFindings(portNovelty, [...heartbeat('dev-1'), ...beacon.slice(0, 19)])).toEqual([])
    const standard = beacon.map((e) => ({ ...e, dstPort: 8883 }))
    const media = beacon.map((e) => ({ ...e, dstPort: 50_000, proto: 17 }))
    expect(detectorFindings(portNovelty, [...heartbeat('dev-1'), ...standard, ...media])).toEqual([])
  })

  describe('a peer-to-peer stream: the port is random, the peer the point', () => {
    const owners = Destinations.fromConfig('builtin')
    const run = { destinations: owners }
    /** A camera streaming to a phone at `ip` (T-Mobile's range unless given) on the port its NAT mapped: a record a minute from `minute`. */
    const stream = (deviceId: string, model: string, minute: number, port: number, minutes: number, ip = '172.56.10.20', proto = 17): EgressEvent[] =>
      range(0, minutes).map((i) => egress({ deviceId, model, ts: at(minute + i + 0.6), dstIp: ip, dstPort: port, proto, bytesOut: 4_000_000, bytesIn: 60_000 }))
    /** Two earlier sessions of cam-1 to other T-Mobile addresses, on two other ports. */
    const sessions = [...stream('cam-1', 'cam', 125, 40_001, 3, '172.58.3.4'), ...stream('cam-1', 'cam', 135, 40_002, 3, '172.33.9.9')]
    const long = stream('cam-1', 'cam', 150, 23_456, 30)

    it('reports a 30-minute stream on an unusual port to a carrier the camera sent UDP to on one other port before, not on two', () => {
      const base = heartbeat('cam-1', 'cam', 300)
      expect(minutesOf(detectorFindings(portNovelty, [...base, ...long], {}, run), 'cam-1')[0]).toBe(169)
      expect(minutesOf(detectorFindings(portNovelty, [...base, ...sessions.slice(0, 3), ...long], {}, run), 'cam-1')[0]).toBe(169)
      expect(detectorFindings(portNovelty, [...base, ...sessions, ...long], {}, run)).toEqual([])
      // Sessions on dynamic ports (49152 and up, never judged themselves) are ports of the moment too.
      const dynamic = [...stream('cam-1', 'cam', 125, 55_001, 2, '172.58.3.4'), ...stream('cam-1', 'cam', 135, 60_002, 2, '172.33.9.9')]
      expect(detectorFindings(portNovelty, [...base, ...dynamic, ...long], {}, run)).toEqual([])
      // By prefix alone (no owner table) the three addresses are three destinations: reported.
      expect(minutesOf(detectorFindings(portNovelty, [...base, ...sessions, ...long]), 'cam-1')[0]).toBe(169)
      // Sessions that began after the port's first use do not make it a habit.
      const later = [...stream('cam-1', 'cam', 152, 40_001, 3, '172.58.3.4'), ...stream('cam-1', 'cam', 156, 40_002, 3, '172.33.9.9')]
      expect(minutesOf(detectorFindings(portNovelty, [...base, ...later, ...long], {}, run), 'cam-1')[0]).toBe(169)
    })

    it('still reports a TCP beacon on an unusual port to that carrier, and a UDP port whose flows go to two networks', () => {
      const base = [...heartbeat('cam-1', 'cam', 300), ...sessions]
      expect(minutesOf(detectorFindings(portNovelty, [...base, ...stream('cam-1', 'cam', 150, 23_456, 30, '172.56.10.20', 6)], {}, run), 'cam-1')[0]).toBe(169)
      const both = [...long.slice(0, 15), ...stream('cam-1', 'cam', 165, 23_456, 15, '178.128.185.250')]
      expect(minutesOf(detectorFindings(portNovelty, [...base, ...both], {}, run), 'cam-1')[0]).toBe(169)
    })

    it('does not report one to a carrier three other devices of its model had sessions with on ports of their own, and reports it for two, or for three that only register there on one port', () => {
      const peer = (id: string, n: number) => [...heartbeat(id, 'cam', 300), ...stream(id, 'cam', 110, 31_000 + n, 5, `172.40.${n}.9`), ...stream(id, 'cam', 120, 32_000 + n, 5, `172.41.${n}.9`)]
      const target = [...heartbeat('cam-9', 'cam', 300), ...stream('cam-9', 'cam', 150, 23_456, 30)]
      const three = [...peer('cam-1', 1), ...peer('cam-2', 2), ...peer('cam-3', 3), ...target]
      expect(minutesOf(detectorFindings(portNovelty, three, {}, run), 'cam-9')).toEqual([])
      const two = [...peer('cam-1', 1), ...peer('cam-2', 2), ...target]
      // (Judged once the fleet's level has the port's first use: a model with devices enough to share it waits for it.)
      expect([169, 170]).toContain(minutesOf(detectorFindings(portNovelty, two, {}, run), 'cam-9')[0])
      // A rendezvous server in the carrier's (or a cloud's) range, kept registered with on one port: no sessions.
      const register = (id: string, n: number) => [...heartbeat(id, 'cam', 300), ...stream(id, 'cam', 100, 32_100, 40, `172.42.${n}.9`)]
      const registered = [...register('cam-1', 1), ...register('cam-2', 2), ...register('cam-3', 3), ...target]
      expect([169, 170]).toContain(minutesOf(detectorFindings(portNovelty, registered, {}, run), 'cam-9')[0])
    })

    it('takes probes for no sessions: a packet on each of two other ports earns nothing', () => {
      const probes = [egress({ deviceId: 'cam-1', model: 'cam', ts: at(140.6), dstIp: '172.58.3.4', dstPort: 9001, proto: 17 }), egress({ deviceId: 'cam-1', model: 'cam', ts: at(140.7), dstIp: '172.58.3.4', dstPort: 9002, proto: 17 })]
      expect(minutesOf(detectorFindings(portNovelty, [...heartbeat('cam-1', 'cam', 300), ...probes, ...long], {}, run), 'cam-1')[0]).toBe(169)
      // Nor do sessions over TCP.
      const tcp = sessions.map((e) => ({ ...e, proto: 6 }))
      expect(minutesOf(detectorFindings(portNovelty, [...heartbeat('cam-1', 'cam', 300), ...tcp, ...long], {}, run), 'cam-1')[0]).toBe(169)
    })

    it('counts a device once for its model however often it comes back, and past the destinations it remembers', () => {
      // cam-1 has sessions with 40 /24s (by prefix: 40 destinations, past the 32 it remembers) on two ports each, three times over.
      const cycling = [0, 1, 2].flatMap((round) => range(0, 40).flatMap((i) => [
        ...stream('cam-1', 'cam', 100 + round * 10, 8000, 3, `45.${i}.7.9`),
        ...stream('cam-1', 'cam', 104 + round * 10, 8001, 3, `45.${i}.7.9`),
      ]))
      const target = [...heartbeat('cam-2', 'cam', 300), ...stream('cam-2', 'cam', 150, 23_456, 30, '45.1.7.9'), ...stream('cam-2', 'cam', 150, 23_457, 30, '45.39.7.9')]
      const found = detectorFindings(portNovelty, [...heartbeat('cam-1', 'cam', 300), ...cycling, ...target])
      expect(found.find((f) => f.deviceId === 'cam-2')?.finding.evidence.ports).toEqual([23_456, 23_457])
    })

    it('does not report a risky port the phone\'s NAT happened to map (UDP, to where the camera streams); reports it over TCP, and telnet whatever the protocol', () => {
      const base = [...heartbeat('cam-1', 'cam', 300), ...sessions]
      expect(detectorFindings(portNovelty, [...base, ...stream('cam-1', 'cam', 150, 1080, 3)], {}, run)).toEqual([])
      expect(minutesOf(detectorFindings(portNovelty, [...heartbeat('cam-1', 'cam', 300), ...stream('cam-1', 'cam', 150, 1080, 3)], {}, run), 'cam-1')[0]).toBe(150)
      expect(minutesOf(detectorFindings(portNovelty, [...base, ...stream('cam-1', 'cam', 150, 1080, 3, '172.56.10.20', 6)], {}, run), 'cam-1')[0]).toBe(150)
      expect(minutesOf(detectorFindings(portNovelty, [...base, ...stream('cam-1', 'cam', 150, 23, 1)], {}, run), 'cam-1')[0]).toBe(150)
    })
  })

  it('judges neither VPN tunnels nor the UDP of calls and consoles, but the same ports on TCP (or another UDP port) are unusual', () => {
    const beacon = range(0, 40).map((i) => egress({ ts: at(130 + i / 3), dstIp: '178.128.185.250', dstPort: 50 }))
    const on = (port: number, proto: number) => beacon.map((e) => ({ ...e, dstPort: port, proto }))
    // WireGuard, IPsec NAT traversal; a Zoom call, an Xbox Live session.
    expect(detectorFindings(portNovelty, [...heartbeat('dev-1', 'test-model', 200), ...on(51820, 17), ...on(4500, 17), ...on(8801, 17), ...on(3074, 17)])).toEqual([])
    expect(detectorFindings(portNovelty, [...heartbeat('dev-1', 'test-model', 200), ...on(8801, 6)])[0]!.finding.evidence.ports).toEqual([8801])
    expect(detectorFindings(portNovelty, [...heartbeat('dev-1', 'test-model', 200), ...on(8811, 17)])[0]!.finding.evidence.ports).toEqual([8811])
  })

  describe('mail submission (465, 587) to the service the device reads its mail from', () => {
    /** A mail client polling IMAP over TLS at mail.example.net (203.0.113.25) every 10 minutes from minute 0. */
    const imap = range(0, 20).map((i) => egress({ ts: at(10 * i + 0.2), dstIp: '203.0.113.25', dstPort: 993, dstHost: 'imap.example.net' }))
    const send = (dstIp: string, dstHost: string | undefined, port = 587) => egress({ ts: at(150.6), dstIp, dstPort: port, ...(dstHost === undefined ? {} : { dstHost }) })

    it('is its mail client: not reported, by the same name\'s domain or the same address', () => {
      expect(detectorFindings(portNovelty, [...heartbeat('dev-1'), ...imap, send('203.0.113.26', 'smtp.example.net')])).toEqual([])
      expect(detectorFindings(portNovelty, [...heartbeat('dev-1'), ...imap, send('203.0.113.25', undefined, 465)])).toEqual([])
    })

    it('to another mail service is a spambot\'s stolen account: reported at once, and so is any submission by a device that reads no mail', () => {
      const other = detectorFindings(portNovelty, [...heartbeat('dev-1'), ...imap, send('198.51.100.7', 'smtp.mailer.example')])
      expect(minutesOf(other)[0]).toBe(150)
      expect(other[0]!.finding.evidence.ports).toEqual([587])
      expect(minutesOf(detectorFindings(portNovelty, [...heartbeat('dev-1'), send('203.0.113.26', 'smtp.example.net')]))[0]).toBe(150)
      // Unnamed, only the very address counts: a relay next door (same /24, same owner) is another service.
      expect(minutesOf(detectorFindings(portNovelty, [...heartbeat('dev-1'), ...imap, send('203.0.113.99', undefined)]))[0]).toBe(150)
    })

    it('is learned while the device learns: a bot that connects to its relay\'s port 993 later makes it no mail service', () => {
      const late = range(0, 3).map((i) => egress({ ts: at(140 + i + 0.2), dstIp: '198.51.100.7', dstPort: 993 }))
      expect(minutesOf(detectorFindings(portNovelty, [...heartbeat('dev-1'), ...late, send('198.51.100.7', undefined)]))[0]).toBe(150)
    })
  })

  // Regression: the 16 ports a device tracks make room for new ones: ports out of the horizon give way,
  // and a risky port always gets in.
  it('still reports telnet after many one-off unusual ports', () => {
    const oneOff = range(0, 16).map((i) => egress({ ts: at(130.6), dstIp: '203.0.113.80', dstPort: 8000 + i }))
    const found = detectorFindings(portNovelty, [...heartbeat('dev-1', 'test-model', 220), ...oneOff, ...flows('dev-1', 135, 23), ...flows('dev-1', 200, 2323)])
    expect(minutesOf(found)).toEqual([...range(135, 145), ...range(200, 210)])
  })

  describe('judged against the device\'s own rate of new ports', () => {
    /** A general-purpose host: from minute 10, a new unusual port (a game, a chat client, a dev server) every 5 minutes. */
    const explorer = range(0, 40).map((k) => egress({ ts: at(10 + 5 * k + 0.7), dstIp: `203.0.113.${k}`, dstPort: 9000 + k }))
    const rdp = (n: number) => flows('dev-1', 230, 3389, n)

    it('reports one RDP flow on a device that never meets new ports, and not on one that meets a dozen an hour', () => {
      const quiet = detectorFindings(portNovelty, [...heartbeat('dev-1', 'test-model', 260), ...rdp(1)])
      expect(minutesOf(quiet)[0]).toBe(230)
      expect(quiet[0]!.finding).toMatchObject({ severity: 'medium', evidence: { ports: [3389], flows: 1, newPortsPerHour: 0 } })
      expect(detectorFindings(portNovelty, [...heartbeat('dev-1', 'test-model', 260), ...explorer, ...rdp(1)])).toEqual([])
    })

    it('takes the rate as of the window it judges: ports first used in the lookahead past it do not count', () => {
      // One RDP flow in minute 230; 40 new ports at 231.2, observed before window 230 closes (30 s lateness).
      const burst = range(0, 40).map((k) => egress({ ts: at(231.2 + k / 1000), dstIp: `203.0.113.${k}`, dstPort: 9000 + k }))
      const found = detectorFindings(portNovelty, [...heartbeat('dev-1', 'test-model', 260), ...rdp(1), ...burst])
      expect(found[0]).toMatchObject({ minute: 230, finding: { evidence: { ports: [3389], newPortsPerHour: 0 } } })
      // From window 231 on, the device has met them: one RDP flow is no longer remarkable.
      expect(minutesOf(found)).toEqual([230])
    })

    describe('with its model\'s rate as the prior', () => {
      /** A device of `model` from minute 0 on: a new unusual port every 5 minutes, all day (a general-purpose host). */
      const host = (deviceId: string, model: string): EgressEvent[] => [
        ...heartbeat(deviceId, model, 560),
        ...range(0, 110).map((k) => egress({ deviceId, model, ts: at(5 * k + 0.7), dstIp: `203.0.113.${k}`, dstPort: 9000 + k })),
      ]
      const quiet = (n: number, model: string): EgressEvent[] => range(0, n).flatMap((i) => heartbeat(`${model}-${i}`, model, 560))
      /** dev-1 of `model`: first seen at minute 300, `ports` new unusual ports in its first hour, one RDP flow at 430, after it learned. */
      const newcomer = (model: string, ports: number): EgressEvent[] => [
        ...range(300, 560).map((m) => egress({ model, ts: at(m + 0.5), dstIp: '52.10.0.1', dstPort: 443 })),
        ...range(0, ports).map((k) => egress({ model, ts: at(300 + 60 * (k / ports) + 0.7), dstIp: `198.51.100.${k}`, dstPort: 7000 + k })),
        ...flows('dev-1', 430, 3389, 1, model),
      ]

      it('judges a device that met few new ports busy when its model\'s devices meet them all the time', () => {
        // Three in its first two hours: alone, 0.5 an hour over the six-hour floor.
        const alone = detectorFindings(portNovelty, newcomer('pc', 3))
        expect(minutesOf(alone)).toEqual(range(430, 440))
        expect(alone[0]!.finding.evidence).toMatchObject({ ports: [3389], newPortsPerHour: 0.5, modelNewPortsPerHour: 0 })
        const busyModel = [...host('pc-a', 'pc'), ...host('pc-b', 'pc'), ...host('pc-c', 'pc')]
        expect(minutesOf(detectorFindings(portNovelty, [...busyModel, ...newcomer('pc', 3)]))).toEqual([])
      })

      it('needs more of a device\'s own new ports before it is busy when its model never meets any', () => {
        // Twelve in its first hour: alone, 2 an hour (busy); among quiet peers, whose zeros weigh as
        // twelve hours of its own, 12 over 2.2 + 12 hours (not busy).
        expect(minutesOf(detectorFindings(portNovelty, newcomer('cam', 12)))).toEqual([])
        const amongQuiet = detectorFindings(portNovelty, [...quiet(40, 'cam'), ...newcomer('cam', 12)])
        expect(minutesOf(amongQuiet)).toEqual(range(430, 440))
        expect(amongQuiet[0]!.finding).toMatchObject({ severity: 'medium', evidence: { ports: [3389], flows: 1, newPortsPerHour: 0.85, modelNewPortsPerHour: 0 } })
      })
    })

    it('still reports the busy device\'s risky port once it is persistent (medium, even for a high-risk port), and its first port-25 flow at once', () => {
      const busy = [...heartbeat('dev-1', 'test-model', 260), ...explorer]
      const brute = detectorFindings(portNovelty, [...busy, ...rdp(25)])
      expect(minutesOf(brute)[0]).toBe(230)
      expect(brute[0]!.finding).toMatchObject({ severity: 'medium', evidence: { ports: [3389], flows: 25, newPortsPerHour: 6.67 } })
      expect(detectorFindings(portNovelty, [...busy, ...flows('dev-1', 230, 587)])).toEqual([])
      const mail = detectorFindings(portNovelty, [...busy, ...flows('dev-1', 230, 25)])
      expect(mail[0]).toMatchObject({ minute: 230, finding: { severity: 'high', evidence: { ports: [25], flows: 1 } } })
    })
  })

  // Regression: a port counts at window w only from its first use on, whatever later flows the lookahead
  // has already observed.
  it('never reports a window that ends before the port\'s first use', () => {
    const onTheMinute = range(0, 160).map((m) => egress({ ts: at(m), dstIp: '52.10.0.1' }))
    const found = detectorFindings(portNovelty, [...onTheMinute, egress({ ts: at(130.2), dstIp: '45.1.1.1', dstPort: 23 })])
    expect(minutesOf(found)[0]).toBe(130)
  })
})

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i)
}
