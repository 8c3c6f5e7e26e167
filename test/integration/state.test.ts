// State that survives: a service killed mid-stream, or one of two members stopped, still sends each of replay's alerts exactly once, and correlate finds replay's campaigns on its alerts topic.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { cli, committed, expectTopicLines, replayLines, setupTopics, startRun, topicLines, waitCommitted, waitReady } from '../helpers/service.ts'

const DEMO = fileURLToPath(new URL('../../fixtures/demo/demo.ndjson', import.meta.url))
const FLEET = fileURLToPath(new URL('../../fixtures/synthetic/fleet.ndjson.gz', import.meta.url))

const brokers = inject('kafkaBrokers')
const kafka = new Kafka({ clientId: 'state-test', brokers: [brokers], logLevel: logLevel.NOTHING })
const admin = kafka.admin()

/** Produces the synthetic fleet into `topic`; returns how many records it wrote. */
const produceFleet = async (env: NodeJS.ProcessEnv, topic: string): Promise<number> => {
  await cli(env, 'produce', '-q', '--topic', topic, FLEET)
  const offsets = await admin.fetchTopicOffsets(topic)
  return offsets.reduce((n, p) => n + Number(p.high), 0)
}

/** Writes `lines` as two files, first and second half, in a fresh folder. */
const halves = (lines: readonly string[]) => {
  const dir = mkdtempSync(join(tmpdir(), 'egress-state-'))
  const half = Math.floor(lines.length / 2)
  const first = join(dir, 'first.ndjson')
  const second = join(dir, 'second.ndjson')
  writeFileSync(first, lines.slice(0, half).join('\n') + '\n')
  writeFileSync(second, lines.slice(half).join('\n') + '\n')
  return { dir, half, first, second }
}

/** The devices a run restored from the state topic, from its closing line. */
const restored = (stderr: string): number => Number(/\((\d+) devices restored\)/.exec(stderr)?.[1] ?? -1)

/** Fleet-scope (campaign) records, as lines. */
const fleetLines = (lines: readonly string[]): string[] => lines.filter((l) => l.includes('"scope":"fleet"'))

/**
 * `correlate --kafka` on the alerts topic adds exactly the campaign records `replay --campaigns`
 * gives for the same sharding (whichever member wrote which alert), and a second pass adds none.
 */
const expectReplayCampaigns = async (env: NodeJS.ProcessEnv, alertsTopic: string, partitions: string): Promise<void> => {
  const expected = fleetLines(await replayLines('--campaigns', '--partitions', partitions, FLEET))
  expect(expected.length).toBeGreaterThan(0)
  // Without --complete a pass writes up to its watermark only: what it writes is final.
  await cli(env, 'correlate', '--kafka', '-q')
  const partial = fleetLines(await topicLines(kafka, alertsTopic))
  expect(partial.length).toBeGreaterThan(0)
  for (const line of partial) expect(expected).toContain(line)
  await cli(env, 'correlate', '--kafka', '--complete', '-q')
  expect(fleetLines(await topicLines(kafka, alertsTopic))).toEqual(expected)
  await cli(env, 'correlate', '--kafka', '--complete', '-q')
  expect(fleetLines(await topicLines(kafka, alertsTopic))).toEqual(expected)
}

beforeAll(async () => {
  await admin.connect()
})
afterAll(async () => {
  await admin.disconnect()
})

describe('state and exactly-once delivery', () => {
  // One partition: the shard's fleet view comes back from the models topic. It rode in the shard's
  // changelog record before, and the fleet's (~700 kB) outgrew the broker's 1 MB message limit.
  it('over one partition, killed with SIGKILL mid-stream and started again, run sends each alert of replay exactly once, and correlate adds replay\'s campaigns', async () => {
    const { t, env, groupId } = await setupTopics(admin, brokers, 1)
    const total = await produceFleet(env, t.events)
    const expected = await replayLines('--partitions', '1', FLEET)

    const first = startRun(env)
    // Killed once it has committed a fifth of the fleet, not all of it: batches are in flight.
    const before = await waitCommitted(admin, groupId, t.events, (n) => n >= total / 5)
    first.child.kill('SIGKILL')
    await first.exited
    expect(before).toBeLessThan(total)
    expect(await committed(admin, groupId, t.events)).toBeLessThan(total)

    const second = startRun(env)
    try {
      await waitCommitted(admin, groupId, t.events, (n) => n === total)
      await expectTopicLines(kafka, t.alerts, expected)
    } finally {
      second.child.kill('SIGTERM')
    }
    expect(await second.exited).toBe(0)
    // It carried on from the state the first one committed, not from scratch.
    expect(restored(second.out.stderr)).toBeGreaterThan(0)
    await expectReplayCampaigns(env, t.alerts, '1')
  })

  it('restores around a state record that is not JSON: a device\'s starts afresh, a shard record\'s starts the shard afresh, each said once, and the service is ready', async () => {
    const { t, env, groupId } = await setupTopics(admin, brokers, 1)
    await cli(env, 'produce', '-q', '--topic', t.events, DEMO)
    const total = (await admin.fetchTopicOffsets(t.events)).reduce((n, p) => n + Number(p.high), 0)
    const first = startRun(env)
    await waitCommitted(admin, groupId, t.events, (n) => n === total)
    first.child.kill('SIGTERM')
    expect(await first.exited).toBe(0)
    const producer = kafka.producer()
    await producer.connect()
    const garble = async (key: string): Promise<void> => void (await producer.send({ topic: t.state, messages: [{ key, value: '{"id": not json', partition: 0 }] }))
    try {
      await garble(`${t.events}/0/peep-cam-7e5dfe`)
      const second = startRun(env)
      await waitReady(second)
      second.child.kill('SIGTERM')
      expect(await second.exited, second.out.stderr.slice(-2000)).toBe(0)
      expect(second.out.stderr).toContain(`the state of ${t.events}/0 holds 1 record that is not JSON (${t.events}/0/peep-cam-7e5dfe: `)
      expect(second.out.stderr).toContain('those devices start afresh, and it is deleted')
      expect(restored(second.out.stderr)).toBeGreaterThan(0)
      expect(second.out.stderr.split('not JSON').length - 1).toBe(1)

      await garble(`${t.events}/0`)
      const third = startRun(env)
      await waitReady(third)
      third.child.kill('SIGTERM')
      expect(await third.exited, third.out.stderr.slice(-2000)).toBe(0)
      expect(third.out.stderr).toMatch(new RegExp(`the state of ${t.events}/0 holds \\d+ records? (that is|that are) not JSON \\(${t.events}/0: `))
      expect(third.out.stderr).toContain('its shard record among them: that shard starts afresh from where it was committed')
      expect(restored(third.out.stderr)).toBe(0)
    } finally {
      await producer.disconnect()
    }
  })

  it('two members over six partitions, one stopped mid-stream: together they send each alert of replay exactly once, and correlate adds replay\'s campaigns', async () => {
    const { t, env, groupId } = await setupTopics(admin, brokers, 6)
    // The stream comes in two halves; the member leaves between them, so the other one goes on with its partitions.
    const lines = gunzipSync(readFileSync(FLEET)).toString('utf8').trimEnd().split('\n')
    const { first, second } = halves(lines)
    const expected = await replayLines('--partitions', '6', FLEET)

    await cli(env, 'produce', '-q', '--topic', t.events, first)
    const a = startRun(env)
    const b = startRun(env)
    try {
      // Both members own partitions and a quarter of the fleet is in: one leaves, the second half follows.
      await Promise.all([waitReady(a), waitReady(b)])
      await waitCommitted(admin, groupId, t.events, (n) => n >= lines.length / 4)
      a.child.kill('SIGTERM')
      // Its last words when it does not stop cleanly: the failure says why.
      expect(await a.exited, a.out.stderr.slice(-3000)).toBe(0)
      await cli(env, 'produce', '-q', '--topic', t.events, second)
      await waitCommitted(admin, groupId, t.events, (n) => n === lines.length)
      // Exactly, none twice (records of transactions a new owner aborted read as duplicates through
      // kafkajs until its patch: test/integration/transactions.test.ts).
      await expectTopicLines(kafka, t.alerts, expected)
    } finally {
      a.child.kill('SIGTERM')
      b.child.kill('SIGTERM')
    }
    expect(await b.exited).toBe(0)
    // b took over a's partitions with their state.
    expect(restored(b.out.stderr)).toBeGreaterThan(0)
    // The campaigns of two members are those of one pipeline per partition (one member, or replay).
    await expectReplayCampaigns(env, t.alerts, '6')
  })

  it('a state written by other detectors is reported, that shard starts afresh and replaces it, and the next start restores the new one', async () => {
    const { t, env, groupId } = await setupTopics(admin, brokers, 1)
    const lines = readFileSync(DEMO, 'utf8').trimEnd().split('\n')
    const { dir, half, first, second } = halves(lines)
    const config = join(dir, 'volume-spike-on.yml')
    writeFileSync(config, 'detectors:\n  volume-spike: { enabled: true }\n')
    const stopped = async (run: ReturnType<typeof startRun>): Promise<void> => {
      run.child.kill('SIGTERM')
      expect(await run.exited).toBe(0)
    }

    await cli(env, 'produce', '-q', '--topic', t.events, first)
    const firstRun = startRun(env)
    await waitCommitted(admin, groupId, t.events, (n) => n === half)
    await stopped(firstRun)

    // The same shard under a configuration that runs one detector more.
    await cli(env, 'produce', '-q', '--topic', t.events, second)
    const secondRun = startRun(env, '--config', config)
    await waitCommitted(admin, groupId, t.events, (n) => n === lines.length)
    await stopped(secondRun)
    expect(secondRun.out.stderr).toContain(
      `the state of ${t.events}/0 was written by detectors [smtp-burst, email-telemetry, new-destination, fanout, port-novelty, model-shift], ` +
        `this configuration runs [smtp-burst, email-telemetry, new-destination, fanout, volume-spike, port-novelty, model-shift]; that shard starts afresh from where it was committed`,
    )
    expect(restored(secondRun.out.stderr)).toBe(0)

    const third = startRun(env, '--config', config)
    await waitReady(third)
    await stopped(third)
    expect(third.out.stderr).not.toContain('was written by detectors')
    expect(restored(third.out.stderr)).toBe(8)
  })
})
