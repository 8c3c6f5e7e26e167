// One fleet view across members: `run` over 6 partitions, with members added, killed and joining late, leaves exactly the alerts of `replay --partitions 6`.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { cli, committed, expectTopicLines, replayLines, sample, setupTopics, startRun, waitCommitted, waitReady } from '../helpers/service.ts'
import { until } from '../helpers/wait.ts'
import { readAll } from '../helpers/kafka.ts'

const FLEET = fileURLToPath(new URL('../../fixtures/synthetic/fleet.ndjson.gz', import.meta.url))
/** The fleet's records, as `produce` writes them to the topic (one per line). */
const FLEET_LINES = gunzipSync(readFileSync(FLEET)).toString('utf8').trimEnd().split('\n').length

const brokers = inject('kafkaBrokers')
const kafka = new Kafka({ clientId: 'fleet-test', brokers: [brokers], logLevel: logLevel.NOTHING })
const admin = kafka.admin()

beforeAll(async () => {
  await admin.connect()
})
afterAll(async () => {
  await admin.disconnect()
})

describe('one fleet view in run', () => {
  it.each([2, 3])('%i members, one killed with SIGKILL mid-stream and one joining late, leave exactly the same alerts', { timeout: 900_000 }, async (n) => {
    const { t, env, groupId } = await setupTopics(admin, brokers, 6)
    await cli(env, 'produce', '-q', '--topic', t.events, FLEET)
    const expected = await replayLines('--partitions', '6', FLEET)
    const members = Array.from({ length: n }, () => startRun(env))
    const [first, killed] = [members[0]!, members[n - 1]!]
    try {
      // Killed once the group is a third through the input: its open transactions are aborted when
      // its shards' new owners fence them, and those owners read on from its committed state.
      await waitCommitted(admin, groupId, t.events, (c) => c >= FLEET_LINES / 3, 600_000)
      killed.child.kill('SIGKILL')
      expect(await killed.exited).toBe(null)
      // Until the group gives the killed member's partitions to another (6 s without heartbeats),
      // its shards publish nothing: the others run two epochs ahead at most, then wait, and say so.
      const address = /http on (\S+)/.exec(first.out.stderr)![1]!
      let said = ''
      await until(async () => {
        said = await (await fetch(`http://${address}/readyz`)).text()
        return /^ready: \d of \d shards wait for the fleet view \(complete through 2026-11-\d\dT/.test(said)
      }, () => `the member never said it waits for the fleet view; /readyz: ${said}`, 10_000)
      expect(sample(await (await fetch(`http://${address}/metrics`)).text(), 'egress_fleet_waiting_shards')).toBeGreaterThan(0)
      // The late member reads the models topic to its end before it joins the group.
      const late = startRun(env)
      members.push(late)
      await waitReady(late)
      expect(await committed(admin, groupId, t.events)).toBeLessThan(FLEET_LINES)
      await waitCommitted(admin, groupId, t.events, (c) => c === FLEET_LINES, 600_000)
      await expectTopicLines(kafka, t.alerts, expected)
      // A shard's progress never goes back, whoever owns it: a restored shard says the epochs it has
      // closed (a member loading the topic later keeps each shard's latest progress record only).
      const progress = new Map<string, number[]>()
      for (const r of await readAll(kafka, t.models)) {
        if (!r.key?.startsWith('p/') || r.value === '') continue
        const closed = (JSON.parse(r.value) as { closedThrough: number | null }).closedThrough ?? -Infinity
        progress.set(r.key, [...(progress.get(r.key) ?? []), closed])
      }
      expect(progress.size).toBe(6)
      for (const [key, closed] of progress) expect(closed, key).toEqual([...closed].sort((a, b) => a - b))
      // Its own lines report no failure (kafkajs' retries of a concurrent transaction operation are its own log).
      expect(late.out.stderr.split('\n').filter((l) => l.startsWith('egress-sentinel run:') && /error|failed|not restored/i.test(l))).toEqual([])
    } finally {
      for (const m of members) m.child.kill('SIGTERM')
    }
    // A member that exits otherwise says why in its last lines.
    for (const m of members) if (m !== killed) expect(await m.exited, m.out.stderr.slice(-2000)).toBe(0)
  })

  it('is not ready while the fleet view stands still for the stall timeout (another member frozen), and goes on exactly once it moves', { timeout: 900_000 }, async () => {
    const { t, env, groupId } = await setupTopics(admin, brokers, 6)
    await cli(env, 'produce', '-q', '--topic', t.events, FLEET)
    const expected = await replayLines('--partitions', '6', FLEET)
    // A frozen member keeps its partitions for the session timeout (30 s here): the other waits.
    const slow = { ...env, EGRESS_SESSION_TIMEOUT_SECONDS: '30', EGRESS_STALL_TIMEOUT_SECONDS: '5' }
    const [a, b] = [startRun(slow), startRun(slow)]
    try {
      await Promise.all([waitReady(a), waitReady(b)])
      await waitCommitted(admin, groupId, t.events, (c) => c >= FLEET_LINES / 4, 600_000)
      b.child.kill('SIGSTOP')
      const address = /http on (\S+)/.exec(a.out.stderr)![1]!
      let said = ''
      await until(async () => {
        const r = await fetch(`http://${address}/readyz`)
        said = `${r.status} ${(await r.text()).trim()}`
        // On /readyz, and once on stderr (the member's health check looks every second).
        return /^503 not ready: \d of \d shards have waited for the fleet view for \d+ s \(complete through 2026-11-\d\dT[^)]*\): no shard it waits for has moved$/.test(said) &&
          /not ready: \d of \d shards have waited for the fleet view/.test(a.out.stderr)
      }, () => `the member never said the fleet view stands still; /readyz: ${said}; stderr: ${a.out.stderr}`, 20_000)
      b.child.kill('SIGCONT')
      await waitReady(a, 20_000)
      await waitCommitted(admin, groupId, t.events, (c) => c === FLEET_LINES, 600_000)
      await expectTopicLines(kafka, t.alerts, expected)
    } finally {
      b.child.kill('SIGCONT')
      for (const m of [a, b]) m.child.kill('SIGTERM')
    }
    for (const m of [a, b]) expect(await m.exited).toBe(0)
  })

  it('reads telemetry on its own 6-partition topic with its device\'s flows, in event-time order: a device whose model only its telemetry gives is judged as that model', async () => {
    const { t, env, groupId } = await setupTopics(admin, brokers, 6)
    // The flows without model or firmware: only the telemetry says what each device is.
    const dir = mkdtempSync(join(tmpdir(), 'egress-telemetry-'))
    const egress: string[] = []
    const telemetry: string[] = []
    const both: string[] = []
    for (const line of gunzipSync(readFileSync(FLEET)).toString('utf8').trimEnd().split('\n')) {
      const event = JSON.parse(line) as Record<string, unknown>
      if (event.type === 'telemetry') {
        telemetry.push(line)
        both.push(line)
      } else {
        const { model: _m, firmware: _f, ...bare } = event
        const stripped = JSON.stringify(bare)
        egress.push(stripped)
        both.push(stripped)
      }
    }
    const files = { egress: join(dir, 'egress.ndjson'), telemetry: join(dir, 'telemetry.ndjson'), both: join(dir, 'both.ndjson') }
    for (const [name, lines] of [['egress', egress], ['telemetry', telemetry], ['both', both]] as const) writeFileSync(files[name], lines.join('\n') + '\n')
    await cli(env, 'produce', '-q', '--topic', t.events, files.egress)
    await cli(env, 'produce', '-q', '--topic', t.telemetry, files.telemetry)
    const expected = await replayLines('--partitions', '6', files.both)
    // The telemetry decides: without it the same flows give other alerts, and the models are unknown.
    expect(await replayLines('--partitions', '6', files.egress)).not.toEqual(expected)
    const firingFridges = expected.filter((l) => l.includes('"status":"firing"') && l.includes('"model":"glacier-fridge"'))
    expect(firingFridges.length).toBeGreaterThan(10)
    const members = [startRun(env), startRun(env)]
    try {
      await waitCommitted(admin, groupId, t.events, (n) => n === egress.length, 600_000)
      await waitCommitted(admin, groupId, t.telemetry, (n) => n === telemetry.length, 600_000)
      await expectTopicLines(kafka, t.alerts, expected)
    } finally {
      for (const m of members) m.child.kill('SIGTERM')
    }
    for (const m of members) expect(await m.exited, m.out.stderr.slice(-3000)).toBe(0)
  }, 900_000)
})
