// Kafka source: a consumer-group member that hands each fetched partition batch to the service and commits only after it returns.
import type { Kafka, KafkaMessage } from 'kafkajs'

export interface PartitionBatch {
  readonly topic: string
  readonly partition: number
  readonly messages: readonly KafkaMessage[]
}

export interface KafkaSourceOptions {
  readonly kafka: Kafka
  readonly groupId: string
  readonly topics: readonly string[]
  /**
   * Processes one batch (decode, detect, send the alerts and dead letters and wait for their
   * acknowledgement). Offsets are committed after it resolves: at-least-once, never at-most-once.
   * `heartbeat` keeps the group membership alive during a long batch.
   */
  readonly onBatch: (batch: PartitionBatch, heartbeat: () => Promise<void>) => Promise<void>
  readonly onGroupJoin?: (assigned: Readonly<Record<string, number[]>>) => void
  /** The batch was processed but its offsets were not committed (a rebalance): it will be read again. */
  readonly onUncommitted?: (topic: string, partition: number) => void
}

export interface KafkaSource {
  /** Finishes the batch in hand, commits, leaves the group. */
  stop(): Promise<void>
}

export const startKafkaSource = async (opts: KafkaSourceOptions): Promise<KafkaSource> => {
  const consumer = opts.kafka.consumer({
    groupId: opts.groupId,
    allowAutoTopicCreation: false,
    sessionTimeout: 30_000,
    heartbeatInterval: 3_000,
    maxBytesPerPartition: 4 << 20,
  })
  if (opts.onGroupJoin) {
    consumer.on(consumer.events.GROUP_JOIN, (e) => opts.onGroupJoin?.(e.payload.memberAssignment))
  }
  await consumer.connect()
  await consumer.subscribe({ topics: [...opts.topics], fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    // Partitions interleave at their awaits (sends, commits): one partition's network waits overlap another's
    // processing. Batches of one partition stay in order, one at a time.
    partitionsConsumedConcurrently: 4,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      if (!isRunning() || isStale() || batch.messages.length === 0) return
      await opts.onBatch({ topic: batch.topic, partition: batch.partition, messages: batch.messages }, heartbeat)
      const last = batch.lastOffset()
      resolveOffset(last)
      try {
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }])
      } catch (err) {
        opts.onUncommitted?.(batch.topic, batch.partition)
        throw err
      }
      await heartbeat()
    },
  })
  return { stop: () => consumer.disconnect() }
}
