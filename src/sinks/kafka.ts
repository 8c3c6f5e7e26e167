// Kafka sink: sends keyed records to topics in as few requests as the size limit allows and resolves when all are acknowledged.
import type { Kafka, Message, ProducerBatch, RecordMetadata, TopicMessages } from 'kafkajs'
import { createTransactionalProducer } from '../kafka/client.ts'

export interface OutRecord {
  readonly key: string | null
  /** null is a tombstone (a compacted topic forgets the key). */
  readonly value: string | null
  /** Unset: the producer's partitioner picks it from the key. */
  readonly partition?: number
}

/** What records can be sent through: a producer, or a transaction of one. */
export interface RecordSender {
  sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]>
}

/** Records for one topic. */
export interface TopicRecords {
  readonly topic: string
  readonly records: readonly OutRecord[]
}

/** Bytes per send at most: under the broker's default 1 MB message batch limit. */
export const MAX_BATCH_BYTES = 900_000

/** A record's size as a send counts it: value, key and a per-record overhead. */
export const recordBytes = (r: OutRecord): number => byteLength(r.value) + byteLength(r.key) + 64

/** UTF-8 bytes of a string, counted without encoding it (natively: ~15 times a loop over its characters in JavaScript). */
const byteLength = (s: string | null): number => (s === null ? 0 : Buffer.byteLength(s, 'utf8'))

/** Room left in a record batch besides its records: the batch header and slack for our own estimate. */
const BATCH_OVERHEAD = 1024

/** A record batch of one record besides its key and value: the batch header (61 bytes) and the record's framing (at most ~30), with room to spare. */
const ONE_RECORD_BATCH_OVERHEAD = 128

/** A record that no request can carry: alone in its record batch it is over its topic's limit. */
export interface Oversized {
  readonly topic: string
  readonly key: string | null
  /** Its record batch's size, alone in it (key, value and ONE_RECORD_BATCH_OVERHEAD). */
  readonly bytes: number
  readonly limit: number
}

/**
 * The first record of `lists` over its topic's limit (`limits`: max.message.bytes by topic; a topic
 * without one is not checked), or null: the broker would refuse it however often it is sent. The
 * size is close to the broker's count (its batch header and the record's framing, with ~45 bytes of
 * room), not the sends' rounder one.
 */
export const oversized = (lists: readonly TopicRecords[], limits: ReadonlyMap<string, number>): Oversized | null => {
  for (const { topic, records } of lists) {
    const limit = limits.get(topic)
    if (limit === undefined) continue
    // A UTF-8 character is at most 3 bytes per UTF-16 unit: a record that fits at that is not measured.
    const room = limit - ONE_RECORD_BATCH_OVERHEAD
    for (const r of records) {
      if (3 * ((r.value?.length ?? 0) + (r.key?.length ?? 0)) <= room) continue
      const bytes = byteLength(r.value) + byteLength(r.key) + ONE_RECORD_BATCH_OVERHEAD
      if (bytes > limit) return { topic, key: r.key, bytes, limit }
    }
  }
  return null
}

/**
 * Sends every record of `lists`, in order within each topic, in as few `sendBatch` requests as
 * MAX_BATCH_BYTES allows (several topics share a request), all acknowledged by every in-sync replica.
 * `limits` (topic → max.message.bytes) keeps each topic's part of a request, one record batch per
 * partition, under what that topic accepts.
 */
export const sendRecords = async (sender: RecordSender, lists: readonly TopicRecords[], limits?: ReadonlyMap<string, number>): Promise<void> => {
  let request: TopicMessages[] = []
  let current: Message[] | null = null
  let bytes = 0
  let topicBytes = 0
  const flush = async (): Promise<void> => {
    if (request.length > 0) await sender.sendBatch({ acks: -1, topicMessages: request })
    request = []
    current = null
    bytes = 0
    topicBytes = 0
  }
  for (const { topic, records } of lists) {
    current = null
    topicBytes = 0
    const topicMax = Math.min(MAX_BATCH_BYTES, (limits?.get(topic) ?? Infinity) - BATCH_OVERHEAD)
    for (const r of records) {
      const size = recordBytes(r)
      if ((bytes > 0 && bytes + size > MAX_BATCH_BYTES) || (topicBytes > 0 && topicBytes + size > topicMax)) await flush()
      if (current === null) {
        current = []
        request.push({ topic, messages: current })
      }
      current.push(r as Message)
      bytes += size
      topicBytes += size
    }
  }
  await flush()
}

/** Where a batch of input was consumed up to: committed with the output it produced. */
export interface ConsumedOffset {
  readonly groupId: string
  readonly topic: string
  readonly partition: number
  /** The next offset to read. */
  readonly offset: string
}

/** The writer of one detection shard: everything a batch produces, and its input offset, in one transaction. */
export interface ShardWriter {
  /** Takes over the shard's transactional id: the previous owner is fenced and its open transaction aborted. */
  fence(): Promise<void>
  /** Sends `lists` and commits `consumed` (one group), all or nothing; `limits`: max.message.bytes by topic. */
  commit(lists: readonly TopicRecords[], consumed: readonly ConsumedOffset[], limits?: ReadonlyMap<string, number>): Promise<void>
  /** Sends `lists` in a transaction of their own, with no input offset (what others wait for, ahead of the state it comes from). */
  publish(lists: readonly TopicRecords[], limits?: ReadonlyMap<string, number>): Promise<void>
  close(): Promise<void>
}

/** Times a transaction's offsets are asked for again while its coordinator still ends the previous one (20 ms doubling: 1.2 s in all). */
const OFFSETS_RETRIES = 6

/** The coordinator still ends the producer's previous transaction (CONCURRENT_TRANSACTIONS), whatever kafkajs wrapped it in. */
const concurrentTransactions = (err: unknown): boolean => {
  for (let e = err as { type?: unknown; cause?: unknown } | undefined; e !== undefined && e !== null; e = e.cause as typeof e) {
    if (e.type === 'CONCURRENT_TRANSACTIONS') return true
  }
  return false
}

export const shardWriter = (kafka: Kafka, transactionalId: string): ShardWriter => {
  const producer = createTransactionalProducer(kafka, transactionalId)
  return {
    async fence() {
      await producer.connect()
      // The first transaction initialises the id with the coordinator: that is the fencing.
      await (await producer.transaction()).abort()
    },
    async commit(lists, consumed, limits) {
      const tx = await producer.transaction()
      try {
        // The offsets first: the transaction is open on the coordinator before any record is sent, so
        // a coordinator still completing the previous transaction (CONCURRENT_TRANSACTIONS) fails this
        // one before anything is written, rather than in a send kafkajs retries.
        const offsets = {
          consumerGroupId: consumed[0]!.groupId,
          topics: consumed.map((c) => ({ topic: c.topic, partitions: [{ partition: c.partition, offset: c.offset }] })),
        }
        // kafkajs does not retry that refusal here (nothing is written yet): asked again shortly, a
        // few times, rather than drop the shard (a transaction right after one of its publications alone).
        for (let attempt = 0; ; attempt++) {
          try {
            await tx.sendOffsets(offsets)
            break
          } catch (err) {
            if (!concurrentTransactions(err) || attempt >= OFFSETS_RETRIES) throw err
            await new Promise((r) => setTimeout(r, 20 * 2 ** attempt))
          }
        }
        await sendRecords(tx, lists, limits)
        await tx.commit()
      } catch (err) {
        await tx.abort().catch(() => undefined)
        throw err
      }
    },
    async publish(lists, limits) {
      const tx = await producer.transaction()
      try {
        await sendRecords(tx, lists, limits)
        await tx.commit()
      } catch (err) {
        await tx.abort().catch(() => undefined)
        throw err
      }
    },
    close: () => producer.disconnect(),
  }
}
