// Follows a topic in a consumer group of its own, handing each record to work that finishes later; commits below the oldest unfinished record; pauses while the work is full.
import type { Kafka } from 'kafkajs'
import { memberConsumerConfig } from './client.ts'
import { retrying } from './retry.ts'

export interface TailRecord {
  readonly partition: number
  readonly offset: string
  readonly value: Buffer | null
}

export interface TailOptions {
  readonly kafka: Kafka
  readonly groupId: string
  readonly topic: string
  readonly sessionTimeoutMs: number
  /**
   * Takes a record; `done` is called once it is finished with (its offset may then be committed).
   * `live()` turns false when its partition goes to another member, which reads it again.
   */
  readonly onRecord: (record: TailRecord, done: () => void, live: () => boolean) => void
  /** When true after a batch, the partition is paused until `resume()`. */
  readonly full: () => boolean
  readonly commitIntervalMs?: number
  /** The consumer stopped on an error it does not retry (kafkajs' CRASH without restart). */
  readonly onCrash?: (error: Error) => void
}

export interface Tail {
  /** Resumes the partitions paused because the work was full. */
  resume(): void
  /** Stops fetching, waits for `drain` (the work in hand), commits what is finished, leaves the group. */
  stop(drain: () => Promise<void>): Promise<void>
}

/** Offsets handed out and not yet finished, per partition, and the next offset to hand out. */
interface PartitionProgress {
  readonly open: Set<bigint>
  next: bigint
  committed: bigint
}

/**
 * A partition's committable offset is its oldest unfinished record, or the next one when all are
 * finished: a record is read again after a crash unless it was finished (at-least-once).
 *
 * A group that has no offset on a partition starts at the partition's end when the tail starts, so
 * a new target is not sent the topic's history (a partition that gets its first records later, or
 * one created later, is read from its beginning).
 */
/** How long a target waits for its group's coordinator at start before it gives up (and run exits non-zero). */
const COORDINATOR_WAIT_MS = 60_000

export const startTail = async (opts: TailOptions): Promise<Tail> => {
  const { kafka, groupId, topic } = opts
  // A partition the group has no offset for is set to its end before this member joins: a new
  // target is not sent the topic's history. Only while the group is empty (another member has set
  // them, or committed, otherwise); kafkajs' setOffsets takes a few seconds, once per new group.
  // A fresh broker's coordinator for the group may still be loading: such answers are tried again.
  const admin = kafka.admin()
  await admin.connect()
  try {
    const [committed] = await retrying(() => admin.fetchOffsets({ groupId, topics: [topic] }), { withinMs: COORDINATOR_WAIT_MS })
    const none = new Set((committed?.partitions ?? []).filter((p) => Number(p.offset) < 0).map((p) => p.partition))
    if (none.size > 0) {
      const ends = (await admin.fetchTopicOffsets(topic)).filter((e) => none.has(e.partition)).map((e) => ({ partition: e.partition, offset: e.high }))
      // Refused once the group has a member (another started meanwhile): its offsets stand.
      await retrying(() => admin.setOffsets({ groupId, topic, partitions: ends }), { withinMs: COORDINATOR_WAIT_MS }).catch(() => undefined)
    }
  } finally {
    await admin.disconnect()
  }

  const progress = new Map<number, PartitionProgress>()
  const paused = new Set<number>()
  const consumer = kafka.consumer(memberConsumerConfig(groupId, opts.sessionTimeoutMs))

  const commit = async (): Promise<void> => {
    const offsets: { topic: string; partition: number; offset: string }[] = []
    for (const [partition, p] of progress) {
      let low = p.next
      for (const o of p.open) if (o < low) low = o
      if (low > p.committed) offsets.push({ topic, partition, offset: String(low) })
    }
    if (offsets.length === 0) return
    await consumer.commitOffsets(offsets)
    for (const o of offsets) progress.get(o.partition)!.committed = BigInt(o.offset)
  }

  let stopped = false
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    // Partitions kept go on where they were; the others are the new owner's (unfinished ones are read again there).
    const owned = new Set(e.payload.memberAssignment[topic] ?? [])
    for (const partition of progress.keys()) if (!owned.has(partition)) progress.delete(partition)
    const lost = [...paused].filter((partition) => !owned.has(partition))
    // kafkajs keeps a partition paused across assignments: one that comes back must not stay paused.
    if (lost.length > 0) consumer.resume([{ topic, partitions: lost }])
    for (const partition of lost) paused.delete(partition)
  })
  consumer.on(consumer.events.CRASH, (e) => {
    if (!e.payload.restart) opts.onCrash?.(e.payload.error)
  })
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
  } catch (err) {
    await consumer.disconnect().catch(() => undefined)
    throw err
  }
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      if (stopped || !isRunning() || isStale()) return
      let p = progress.get(batch.partition)
      if (p === undefined) {
        const first = BigInt(batch.firstOffset() ?? batch.lastOffset())
        p = { open: new Set(), next: first, committed: first }
        progress.set(batch.partition, p)
      }
      const part = p
      for (const message of batch.messages) {
        const offset = BigInt(message.offset)
        // After a rebalance the consumer reads again from the committed offset: skip what is handed out.
        if (offset < part.next) {
          resolveOffset(message.offset)
          continue
        }
        part.open.add(offset)
        part.next = offset + 1n
        opts.onRecord(
          { partition: batch.partition, offset: message.offset, value: message.value },
          () => void part.open.delete(offset),
          () => progress.get(batch.partition) === part,
        )
        resolveOffset(message.offset)
      }
      // A batch may end in transaction markers: past them too.
      const last = BigInt(batch.lastOffset())
      if (last + 1n > part.next) part.next = last + 1n
      if (opts.full()) {
        paused.add(batch.partition)
        consumer.pause([{ topic, partitions: [batch.partition] }])
      }
      await heartbeat()
    },
  })

  const interval = opts.commitIntervalMs ?? 1_000
  let committing: Promise<void> = Promise.resolve()
  const timer = setInterval(() => {
    committing = committing.then(commit).catch(() => undefined)
  }, interval)

  return {
    resume: () => {
      if (stopped || paused.size === 0) return
      try {
        consumer.resume([{ topic, partitions: [...paused] }])
        paused.clear()
      } catch {
        // the consumer is down (restarting after a crash): it resumes with a fresh assignment
      }
    },
    stop: async (drain) => {
      stopped = true
      clearInterval(timer)
      consumer.pause([{ topic }])
      await drain()
      await committing
      await commit().catch(() => undefined)
      await consumer.disconnect()
    },
  }
}
