// The follower a webhook target reads the alerts topic with, against the real broker: it starts a new group at the end, commits below the oldest unfinished record, and pauses while its work is full.
import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { brokerClients } from '../helpers/clients.ts'
import { startTail } from '../../src/kafka/tail.ts'
import type { Tail } from '../../src/kafka/tail.ts'
import { createTopics } from '../../scripts/kafka/topics.ts'
import { until } from '../helpers/wait.ts'

const { kafka, admin, producer } = brokerClients('tail-test')

const topicWith = async (count: number): Promise<string> => {
  const topic = `tail-${randomUUID()}`
  await createTopics(admin, [{ topic, numPartitions: 1 }])
  await produce(topic, 0, count)
  return topic
}
const produce = (topic: string, from: number, count: number) =>
  producer.send({ topic, acks: -1, messages: Array.from({ length: count }, (_, i) => ({ value: `r${from + i}` })) })

const committed = async (groupId: string, topic: string): Promise<number> =>
  Number((await admin.fetchOffsets({ groupId, topics: [topic] }))[0]!.partitions[0]!.offset)

/** A tail that keeps each record's `done` for the test to call. */
const follow = async (groupId: string, topic: string, full: () => boolean = () => false) => {
  const got: { value: string; done: () => void; live: () => boolean }[] = []
  const tail: Tail = await startTail({
    kafka, groupId, topic, sessionTimeoutMs: 6_000, commitIntervalMs: 100, full,
    onRecord: (r, done, live) => void got.push({ value: r.value!.toString(), done, live }),
  })
  return { tail, got }
}

describe('the alerts topic follower of a webhook target', () => {
  it('starts a new group at the end of the topic: a new target is not sent the history', async () => {
    const topic = await topicWith(5)
    const groupId = `g-${randomUUID()}`
    const { tail, got } = await follow(groupId, topic)
    await until(async () => (await committed(groupId, topic)) === 5, 'not committed at the end within 30 s')
    await produce(topic, 5, 3)
    await until(() => got.length === 3, 'not given the new records within 30 s')
    expect(got.map((g) => g.value)).toEqual(['r5', 'r6', 'r7'])
    await tail.stop(async () => undefined)
  })

  it('commits below the oldest unfinished record, and the next member reads again from there', async () => {
    const topic = `tail-${randomUUID()}`
    await createTopics(admin, [{ topic, numPartitions: 1 }])
    const groupId = `g-${randomUUID()}`
    const first = await follow(groupId, topic)
    await until(async () => (await committed(groupId, topic)) === 0, 'not committed at the start within 30 s')
    await produce(topic, 0, 10)
    await until(() => first.got.length === 10, 'not given ten records within 30 s')
    for (const i of [0, 1, 2, 5, 6]) first.got[i]!.done()
    await until(async () => (await committed(groupId, topic)) === 3, 'not committed up to the oldest unfinished record within 30 s')
    await first.tail.stop(async () => undefined)
    expect(await committed(groupId, topic)).toBe(3)

    const second = await follow(groupId, topic)
    await until(() => second.got.length === 7, 'not given the unfinished records again within 30 s')
    expect(second.got.map((g) => g.value)).toEqual(['r3', 'r4', 'r5', 'r6', 'r7', 'r8', 'r9'])
    for (const g of second.got) g.done()
    await until(async () => (await committed(groupId, topic)) === 10, 'not committed to the end within 30 s')
    await second.tail.stop(async () => undefined)
  })

  it('pauses while its work is full and reads on once resumed', async () => {
    const topic = `tail-${randomUUID()}`
    await createTopics(admin, [{ topic, numPartitions: 1 }])
    const groupId = `g-${randomUUID()}`
    let held = 0
    const { tail, got } = await follow(groupId, topic, () => got.length - held >= 3)
    await until(async () => (await committed(groupId, topic)) === 0, 'not committed at the start within 30 s')
    await produce(topic, 0, 3)
    await until(() => got.length === 3, 'not given three records within 30 s')
    // Full: what comes next waits in the topic.
    await produce(topic, 3, 4)
    await new Promise((r) => setTimeout(r, 2_500))
    expect(got).toHaveLength(3)
    held = 3
    tail.resume()
    await until(() => got.length === 7, 'not given the rest after resume within 30 s')
    expect(got.map((g) => g.value)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6'])
    await tail.stop(async () => undefined)
  })
})
