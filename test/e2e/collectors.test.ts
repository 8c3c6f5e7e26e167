// Real collector output, replayed as users would: which addresses are the fleet's devices (devices.networks, Zeek's local_orig).
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const BIN = fileURLToPath(new URL('../../bin/egress-sentinel.js', import.meta.url))
const ZEEK = fileURLToPath(new URL('../../fixtures/collectors/zeek-public/', import.meta.url))

/** The summary's skips and devices, and the devices alerts name. */
const replay = async (...args: string[]) => {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, 'replay', '--no-progress', ...args], { maxBuffer: 64 << 20 })
  return {
    outside: Number(/outside=(\d+)/.exec(stderr)?.[1] ?? 0),
    devices: Number(/devices tracked: (\d+)/.exec(stderr)![1]),
    alerted: [...new Set(stdout.trim().split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { deviceId: string }).deviceId))].sort(),
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
    expect(await replay(join(ZEEK, file))).toEqual(expected)
  })

  it('judges the outsiders of a log as devices once devices.networks holds every address', async () => {
    const config = join(mkdtempSync(join(tmpdir(), 'egress-networks-')), 'everyone.yml')
    writeFileSync(config, 'devices:\n  networks: [0.0.0.0/0, "::/0"]\n')
    const r = await replay('-c', config, join(ZEEK, 'slips-test10-mixed-zeek-dir_conn.log'))
    expect(r.outside).toBe(0)
    expect(r.devices).toBeGreaterThan(0)
  })
})
