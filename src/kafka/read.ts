// Reading a topic in a short-lived group of its own (committed transactions only): from the beginning to where it ends now, or on as records come.
import { randomUUID } from 'node:crypto'
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs'

export interface ReadToEndOptions {
  readonly kafka: Kafka
  readonly topic: string
  /** Prefix of the consumer group that reads; a unique suffix is added and the group deleted after. */
  readonly groupPrefix: string
  /** The partitions to read; all of them when unset. */
  readonly partitions?: ReadonlySet<number>
  /** Each record, in order within its partition. */
  readonly onMessage: (message: KafkaMessage, partition: number) => void
  /** Gives up after this long (a partition that cannot be read to its end). */
  readonly timeoutMs?: number
}

/** A consumer of committed records only, in a group of its own (`groupId`, unique to the call). */
const readerOf = (kafka: Kafka, groupId: string): Consumer =>
  kafka.consumer({ groupId, readUncommitted: false, allowAutoTopicCreation: false, maxBytesPerPartition: 4 << 20 })

/** Starts `consumer` on every partition of `topic` from its beginning, each record to `onMessage`; a group of its own, deleted after: nothing is committed. */
const readFromBeginning = async (consumer: Consumer, topic: string, onMessage: (message: KafkaMessage, partition: number) => void): Promise<void> => {
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      for (const m of batch.messages) onMessage(m, batch.partition)
    },
  })
}

/** Resolves once every wanted partition is read up to the end it had when the call began. */
export const readToEnd = async (opts: ReadToEndOptions): Promise<void> => {
  const { kafka, topic, partitions, onMessage } = opts
  const timeoutMs = opts.timeoutMs ?? 300_000
  const admin = kafka.admin()
  await admin.connect()
  const groupId = `${opts.groupPrefix}.read.${randomUUID()}`
  try {
    // The last offset of each wanted partition now; an empty one is read already.
    const pending = new Map<number, bigint>()
    for (const p of await admin.fetchTopicOffsets(topic)) {
      if ((partitions === undefined || partitions.has(p.partition)) && BigInt(p.high) > BigInt(p.low)) pending.set(p.partition, BigInt(p.high) - 1n)
    }
    if (pending.size === 0) return
    const consumer = readerOf(kafka, groupId)
    let finish: (err?: Error) => void = () => undefined
    const done = new Promise<void>((resolve, reject) => (finish = (err) => (err ? reject(err) : resolve())))
    const timer = setTimeout(() => finish(new Error(`topic "${topic}": partitions ${[...pending.keys()].join(', ')} not read to their end within ${timeoutMs / 1000} s`)), timeoutMs)
    // Every batch reports how far it reached, those holding only transaction markers or aborted records too.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      const target = pending.get(payload.partition)
      if (target !== undefined && BigInt(payload.lastOffset) >= target) pending.delete(payload.partition)
      if (pending.size === 0) finish()
    })
    consumer.on(consumer.events.CRASH, ({ payload }) => finish(payload.error))
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const others = (payload.memberAssignment[topic] ?? []).filter((p) => !pending.has(p))
      if (others.length > 0) consumer.pause([{ topic, partitions: others }])
    })
    try {
      await readFromBeginning(consumer, topic, (m, partition) => {
        if (partitions === undefined || partitions.has(partition)) onMessage(m, partition)
      })
      await done
    } finally {
      clearTimeout(timer)
      await consumer.disconnect()
    }
  } finally {
    await admin.deleteGroups([groupId]).catch(() => undefined)
    await admin.disconnect()
  }
}

export interface FollowOptions {
  readonly kafka: Kafka
  readonly topic: string
  /** Prefix of the consumer group that reads; a unique suffix is added, nothing is committed, and the group is deleted after. */
  readonly groupPrefix: string
  /** Each record, in order within its partition, from the beginning of the retained topic. */
  readonly onMessage: (message: KafkaMessage, partition: number) => void
  /** Resolves when reading should stop (a signal). */
  readonly until: Promise<void>
}

/** Reads every partition of a topic from its beginning and then as records come (committed transactions only), until `until` resolves. */
export const followTopic = async (opts: FollowOptions): Promise<void> => {
  const { kafka, topic, onMessage } = opts
  const groupId = `${opts.groupPrefix}.follow.${randomUUID()}`
  const consumer = readerOf(kafka, groupId)
  let crashed: (err: Error) => void = () => undefined
  const crash = new Promise<never>((_, reject) => (crashed = reject))
  // Handled from now: a crash while connecting is not an unhandled rejection (the race below reports it).
  crash.catch(() => undefined)
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (!payload.restart) crashed(payload.error)
  })
  try {
    await readFromBeginning(consumer, topic, onMessage)
    await Promise.race([opts.until, crash])
  } finally {
    await consumer.disconnect()
    const admin = kafka.admin()
    await admin.connect().then(() => admin.deleteGroups([groupId])).catch(() => undefined)
    await admin.disconnect()
  }
}
