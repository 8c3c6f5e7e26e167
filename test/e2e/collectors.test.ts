// Real collector output, replayed as users would: which addresses are the fleet's devices (devices.networks, Zeek's local_orig).
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { createLineDecoder } from '../../src/decode/formats.ts'

const BIN = fileURLToPath(new URL('../../bin/egress-sentinel.js', import.meta.url))
const COLLECTORS = fileURLToPath(new URL('../../fixtures/collectors/', import.meta.url))
const ZEEK = `${COLLECTORS}zeek-public/`

/** The summary's skips and devices, and the devices alerts name. */
const replay = async (...args: string[]) => {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, 'replay', '--no-progress', ...args], { maxBuffer: 64 << 20 })
  return {
    outside: Number(/outside=(\d+)/.exec(stderr)?.[1] ?? 0),
    late: Number(/late \(dropped\): (\d+)/.exec(stderr)![1]),
    rejected: /rejected: ([^;]+);/.exec(stderr)![1],
    devices: Number(/devices tracked: (\d+)/.exec(stderr)![1]),
    alerted: [...new Set(stdout.trim().split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { deviceId: string }).deviceId))].sort(),
    firing: stdout.trim().split('\n').filter((l) => l.includes('"status":"firing"')).map((l) => {
      const a = JSON.parse(l) as { deviceId: string; detector: string }
      return `${a.deviceId} ${a.detector}`
    }).sort(),
  }
}

describe('real Zeek conn.logs (Stratosphere slips test data)', () => {
  // Counted from the logs: rows whose originator is outside the private networks, or that Zeek marks local_orig F.
  // Rows are placed at their connection's end, when Zeek writes them: one of test9's comes over 60 s after its device's newest (16 by their start).
  it.each([
    ['slips-port-scans_horizontal_conn.log', { outside: 0, late: 0, devices: 1, alerted: ['10.0.2.112'] }],
    ['slips-port-scans_vertical_conn.log', { outside: 0, late: 0, devices: 1, alerted: ['192.168.1.9'] }],
    ['slips-test10-mixed-zeek-dir_conn.log', { outside: 141, late: 0, devices: 0, alerted: [] }],
    ['slips-test14-malicious-zeek-dir_conn.log', { outside: 5, late: 0, devices: 0, alerted: [] }],
    ['slips-test9-mixed-zeek-dir_conn.log', { outside: 17, late: 1, devices: 3, alerted: [] }],
  ])('%s: outsiders are counted as outside, never tracked or judged', async (file, expected) => {
    const { firing: _, rejected: _r, ...seen } = await replay(join(ZEEK, file))
    expect(seen).toEqual(expected)
  })

  it('judges the outsiders of a log as devices once devices.networks holds every address', async () => {
    const config = join(mkdtempSync(join(tmpdir(), 'egress-networks-')), 'everyone.yml')
    writeFileSync(config, 'devices:\n  networks: [0.0.0.0/0, "::/0"]\n')
    const r = await replay('-c', config, join(ZEEK, 'slips-test10-mixed-zeek-dir_conn.log'))
    expect(r.outside).toBe(0)
    expect(r.devices).toBeGreaterThan(0)
  })
})

describe('the telnet scanner of test7 (192.168.2.16) through real collectors', () => {
  // The same capture through pmacctd (1-minute history bins, stitching), softflowd IPFIX → goflow2
  // (uniflow and biflow) and softflowd IPFIX → nfcapd/nfdump. softflowd read the capture at once and
  // exported most flows at its end, minutes after they began: each record is placed at its flow's
  // end, and the default lateness (60 s) takes all but 24 of the 349.
  it.each([
    ['pmacct/test7-print-json-history.json', 0],
    ['pmacct/test7-print-json-stitching.json', 0],
    ['goflow2/test7-softflowd-ipfix-a-milli-biflow.json', 4],
    ['goflow2/test7-softflowd-ipfix-a-milli.json', 24],
    ['nfdump/test7-softflowd-ipfix-a-milli.ndjson', 24],
    ['nfdump/test7-softflowd-ipfix-a-milli.json', 24],
    ['nfdump/test7-softflowd-ipfix-a-milli.csv', 24],
  ])('%s: raises fan-out and port-novelty on the scanner and nothing on anybody else', async (file, late) => {
    const r = await replay(join(COLLECTORS, file))
    expect(r.firing).toEqual(['192.168.2.16 fanout', '192.168.2.16 port-novelty'])
    expect(r.late).toBe(late)
  })

  it('takes every record of softflowd\'s export with a lateness that covers its idle timeouts (300 s)', async () => {
    const config = join(mkdtempSync(join(tmpdir(), 'egress-lateness-')), 'late.yml')
    writeFileSync(config, 'engine:\n  allowedLatenessSeconds: 300\n')
    for (const file of ['goflow2/test7-softflowd-ipfix-a-milli.json', 'nfdump/test7-softflowd-ipfix-a-milli.ndjson']) {
      const r = await replay('-c', config, join(COLLECTORS, file))
      expect([file, r.late, r.firing]).toEqual([file, 0, ['192.168.2.16 fanout', '192.168.2.16 port-novelty']])
    }
  })
})

describe('a week of two benign devices through real collectors', () => {
  // Their cloud endpoints (AWS IoT for the lock) answer from addresses that move across /24s and
  // ranges of their provider through the week: known by the owner of the address, not new.
  it.each([
    ['pmacct/tjoconnor-schlage-lock-01-print-json-history.json', null],
    ['pmacct/tjoconnor-blink-cam-01-print-json-history.json', null],
    ['goflow2/tjoconnor-schlage-lock-01-softflowd-ipfix-a-milli.json', null],
    ['goflow2/tjoconnor-blink-cam-01-softflowd-ipfix-a-milli.json', null],
    // With the DNS answers of their captures (fixtures/collectors/dns, scripts/import-dns.ts): flows named from then on.
    ['pmacct/tjoconnor-schlage-lock-01-print-json-history.json', 'dns/tjoconnor-schlage-lock-01.dns.log.json'],
    ['pmacct/tjoconnor-blink-cam-01-print-json-history.json', 'dns/tjoconnor-blink-cam-01.dns.log.json'],
  ])('%s (DNS: %s): no alert', async (file, dns) => {
    const r = await replay('-c', join(COLLECTORS, 'config/inventory.yaml'), join(COLLECTORS, file), ...(dns === null ? [] : [join(COLLECTORS, dns)]))
    expect(r.devices).toBeGreaterThan(0)
    expect(r.firing).toEqual([])
    // softflowd read the captures with its default idle timeouts (TCP: an hour): a few records come late.
    if (file.startsWith('pmacct/')) expect(r.late).toBe(0)
  })

  it('the lock\'s week known by /24 prefixes alone (no owner table) has its endpoint\'s moves as new destinations; with the DNS answers of its capture, none', async () => {
    const config = join(mkdtempSync(join(tmpdir(), 'egress-owners-')), 'no-owners.yml')
    writeFileSync(config, `${readFileSync(join(COLLECTORS, 'config/inventory.yaml'), 'utf8')}\ndestinations:\n  owners: none\n`)
    const flows = join(COLLECTORS, 'pmacct/tjoconnor-schlage-lock-01-print-json-history.json')
    const r = await replay('-c', config, flows)
    expect(r.firing.length).toBeGreaterThan(0)
    expect(new Set(r.firing)).toEqual(new Set(['192.168.1.122 new-destination']))
    // fixtures/collectors/dns: the answers its pcap holds (scripts/import-dns.ts), merged with the flows by event time.
    const named = await replay('-c', config, flows, join(COLLECTORS, 'dns/tjoconnor-schlage-lock-01.dns.log.json'))
    expect([named.late, named.firing]).toEqual([0, []])
  })
})

describe('a 170 s upload on the loopback, live, through real collectors', () => {
  /** The records of the upload (to port 8443): their bytes and packets, as decoded. */
  const upload = (file: string) => {
    const decoder = createLineDecoder('auto')
    let bytes = 0
    let packets = 0
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const r = decoder.decode(line)
      if (r.ok === true && r.event.type === 'egress' && r.event.dstPort === 8443) {
        bytes += r.event.bytesOut
        packets += r.event.packetsOut ?? 0
      }
    }
    return { bytes, packets }
  }

  // live*-traffic-timeline.txt: what the sender wrote. The records count IP bytes: the payload and
  // the IPv4 and TCP headers, at most 80 bytes a packet.
  it.each([
    ['live2-lo-pmacctd-print-stitching.json', 55_443_456],
    ['live2-lo-pmacctd-print-history.json', 55_443_456],
    ['live3-lo-pmacctd-nfprobe-ipfix-goflow2.json', 55_476_224],
  ])('%s: no record is late, and the upload\'s bytes are all there', async (file, sent) => {
    const config = join(mkdtempSync(join(tmpdir(), 'egress-loopback-')), 'lo.yml')
    writeFileSync(config, 'devices:\n  networks: [127.0.0.0/8]\n')
    const r = await replay('-c', config, join(COLLECTORS, 'live', file))
    expect([r.late, r.rejected]).toEqual([0, 'none'])
    const { bytes, packets } = upload(join(COLLECTORS, 'live', file))
    expect(bytes).toBeGreaterThanOrEqual(sent)
    expect(bytes - sent).toBeLessThanOrEqual(80 * packets)
  })
})
