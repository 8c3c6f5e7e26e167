// One fleet view across members: `run` over 6 partitions, with members added, killed and joining late, leaves exactly the alerts of `replay --partitions 6`.
import { fileURLToPath } from 'node:url'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { cli, committed, expectTopicLines, replayLines, setupTopics, startRun, waitCommitted, waitReady } from '../helpers/service.ts'

const FLEET = fileURLToPath(new URL('../../fixtures/synthetic/fleet.ndjson.gz', import.meta.url))
const FLEET_LINES = 279_311

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
  it('three members, one killed with SIGKILL mid-stream and one joining late, leave exactly the same alerts', async () => {
    const { t, env, groupId } = await setupTopics(admin, brokers, 6)
    await cli(env, 'produce', '-q', '--topic', t.events, FLEET)
    const expected = await replayLines('--partitions', '6', FLEET)
    const first = startRun(env)
    const killed = startRun(env)
    const members = [first, killed]
    try {
      // Killed once the group is a third through the input: its open transactions are aborted when
      // its shards' new owners fence them, and those owners read on from its committed state.
      await waitCommitted(admin, groupId, t.events, (n) => n >= FLEET_LINES / 3, 600_000)
      killed.child.kill('SIGKILL')
      expect(await killed.exited).toBe(null)
      // The late member reads the models topic to its end before it joins the group.
      const late = startRun(env)
      members.push(late)
      await waitReady(late)
      expect(await committed(admin, groupId, t.events)).toBeLessThan(FLEET_LINES)
      await waitCommitted(admin, groupId, t.events, (n) => n === FLEET_LINES, 600_000)
      await expectTopicLines(kafka, t.alerts, expected)
      expect(late.out.stderr).not.toMatch(/error|failed/i)
    } finally {
      for (const m of members) m.child.kill('SIGTERM')
    }
    expect(await first.exited).toBe(0)
    expect(await members[2]!.exited).toBe(0)
  }, 900_000)
})
