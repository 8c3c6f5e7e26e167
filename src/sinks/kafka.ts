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
export const recordBytes = (r: OutRecord): number => (r.value?.length ?? 0) + (r.key?.length ?? 0) + 64

/**
 * Sends every record of `lists`, in order within each topic, in as few `sendBatch` requests as
 * MAX_BATCH_BYTES allows (several topics share a request), all acknowledged by every in-sync replica.
 */
export const sendRecords = async (sender: RecordSender, lists: readonly TopicRecords[]): Promise<void> => {
  let request: TopicMessages[] = []
  let current: Message[] | null = null
  let bytes = 0
  const flush = async (): Promise<void> => {
    if (request.length > 0) await sender.sendBatch({ acks: -1, topicMessages: request })
    request = []
    current = null
    bytes = 0
  }
  for (const { topic, records } of lists) {
    current = null
    for (const r of records) {
      const size = recordBytes(r)
      if (bytes > 0 && bytes + size > MAX_BATCH_BYTES) await flush()
      if (current === null) {
        current = []
        request.push({ topic, messages: current })
      }
      current.push(r as Message)
      bytes += size
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
  /** Sends `lists` and commits `consumed`, all or nothing. */
  commit(lists: readonly TopicRecords[], consumed: ConsumedOffset): Promise<void>
  close(): Promise<void>
}

export const shardWriter = (kafka: Kafka, transactionalId: string): ShardWriter => {
  const producer = createTransactionalProducer(kafka, transactionalId)
  return {
    async fence() {
      await producer.connect()
      // The first transaction initialises the id with the coordinator: that is the fencing.
      await (await producer.transaction()).abort()
    },
    async commit(lists, consumed) {
      const tx = await producer.transaction()
      try {
        await sendRecords(tx, lists)
        await tx.sendOffsets({
          consumerGroupId: consumed.groupId,
          topics: [{ topic: consumed.topic, partitions: [{ partition: consumed.partition, offset: consumed.offset }] }],
        })
        await tx.commit()
      } catch (err) {
        await tx.abort().catch(() => undefined)
        throw err
      }
    },
    close: () => producer.disconnect(),
  }
}
