// Real collector output, replayed as users would: which addresses are the fleet's devices (devices.networks, Zeek's local_orig).
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const BIN = fileURLToPath(new URL('../../bin/egress-sentinel.js', import.meta.url))
const COLLECTORS = fileURLToPath(new URL('../../fixtures/collectors/', import.meta.url))
const ZEEK = `${COLLECTORS}zeek-public/`

/** The summary's skips and devices, and the devices alerts name. */
const replay = async (...args: string[]) => {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, 'replay', '--no-progress', ...args], { maxBuffer: 64 << 20 })
  return {
    outside: Number(/outside=(\d+)/.exec(stderr)?.[1] ?? 0),
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
  it.each([
    ['slips-port-scans_horizontal_conn.log', { outside: 0, devices: 1, alerted: ['10.0.2.112'] }],
    ['slips-port-scans_vertical_conn.log', { outside: 0, devices: 1, alerted: ['192.168.1.9'] }],
    ['slips-test10-mixed-zeek-dir_conn.log', { outside: 141, devices: 0, alerted: [] }],
    ['slips-test14-malicious-zeek-dir_conn.log', { outside: 5, devices: 0, alerted: [] }],
    ['slips-test9-mixed-zeek-dir_conn.log', { outside: 17, devices: 3, alerted: [] }],
  ])('%s: outsiders are counted as outside, never tracked or judged', async (file, expected) => {
    const { firing: _, ...seen } = await replay(join(ZEEK, file))
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
  // The same capture through pmacctd (1-minute history bins), softflowd IPFIX → goflow2 (uniflow
  // and biflow) and softflowd IPFIX → nfcapd/nfdump. Its fan-out through softflowd's uniflow export
  // is not found yet: softflowd read the capture at once and exported every flow at its end, out of
  // start order, and the engine drops what comes over a window late (issue 12, open).
  it.each([
    ['pmacct/test7-print-json-history.json', ['192.168.2.16 fanout', '192.168.2.16 port-novelty']],
    ['goflow2/test7-softflowd-ipfix-a-milli-biflow.json', ['192.168.2.16 fanout', '192.168.2.16 port-novelty']],
    ['goflow2/test7-softflowd-ipfix-a-milli.json', ['192.168.2.16 port-novelty']],
    ['nfdump/test7-softflowd-ipfix-a-milli.ndjson', ['192.168.2.16 port-novelty']],
  ])('%s: raises on the scanner and on nobody else', async (file, firing) => {
    expect((await replay(join(COLLECTORS, file))).firing).toEqual(firing)
  })
})
