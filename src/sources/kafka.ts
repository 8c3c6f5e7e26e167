// Kafka source: a consumer-group member that hands each fetched partition batch to the service, which commits its offsets itself.
import type { Kafka, KafkaMessage } from 'kafkajs'
import { memberConsumerConfig } from '../kafka/client.ts'
import { copartitionedAssigner } from '../kafka/assigner.ts'

export interface PartitionBatch {
  readonly topic: string
  readonly partition: number
  readonly messages: readonly KafkaMessage[]
  /** Offset of the batch's last record (a filtered transaction marker included): commit this + 1. */
  readonly lastOffset: string
  /** The partition's end when the batch was fetched (for the lag). */
  readonly highWatermark: string
}

export interface KafkaSourceOptions {
  readonly kafka: Kafka
  readonly groupId: string
  readonly topics: readonly string[]
  readonly sessionTimeoutMs: number
  /**
   * Processes one batch and commits its offsets (in the transaction that carries its output).
   * If it throws, nothing of the batch counts: the consumer restarts from the committed offsets.
   * `heartbeat` keeps the group membership alive during a long batch. It may instead `pause` the
   * partition and return false: the batch is not taken, and is fetched again, from the same offset,
   * once the function `pause` returned is called.
   */
  readonly onBatch: (batch: PartitionBatch, heartbeat: () => Promise<void>, pause: () => () => void) => Promise<boolean>
  /**
   * A fetch of a partition that held nothing to hand over (only transaction markers or aborted
   * records): whether the partition is read to its end now (`caughtUp`).
   */
  readonly onEmptyBatch?: (topic: string, partition: number, caughtUp: boolean, next: bigint) => void
  /** The partitions this member owns after a rebalance, by topic; called before their first batch. */
  readonly onGroupJoin?: (assigned: Readonly<Record<string, number[]>>) => void
  /** Signs of the consumer's life and trouble, for readiness (see ConsumerHealth). */
  readonly health?: ConsumerSignals
}

/** What the consumer reports besides batches: each completed fetch and heartbeat, rebalances, a crash. */
export interface ConsumerSignals {
  fetched(): void
  rebalancing(): void
  joined(): void
  /**
   * The consumer failed. `restarting`: kafkajs restarts it by itself; otherwise it is stopped for
   * good (a non-retriable error), and only a new consumer reads again.
   */
  crashed(error: Error, restarting: boolean): void
}

export interface KafkaSource {
  /** Finishes the batches in hand, leaves the group. */
  stop(): Promise<void>
  /** The partition's next fetch starts at `offset` (after a failed batch: back to its last committed state). */
  seek(topic: string, partition: number, offset: string): void
}

/**
 * Fetch sizes: kafkajs fetches again only once the batches in hand are processed, so the broker's
 * time to serve a fetch is time the service waits; large fetches make those waits few (16 MB per
 * partition, at most 64 MB per fetch request, ~55 MB by the broker's default fetch.max.bytes). And
 * short long-polls: a partition resumed after its shard waited for the fleet is fetched within
 * this, and with every partition paused kafkajs sleeps this long before it looks again.
 */
export const FETCH = { maxBytesPerPartition: 16 << 20, maxBytes: 64 << 20, maxWaitTimeInMs: 100 } as const

export const startKafkaSource = async (opts: KafkaSourceOptions): Promise<KafkaSource> => {
  // Partition p of every input to one member: a shard reads a device's events and telemetry together.
  const consumer = opts.kafka.consumer({ ...memberConsumerConfig(opts.groupId, opts.sessionTimeoutMs), ...FETCH, partitionAssigners: [copartitionedAssigner] })
  const health = opts.health
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    health?.joined()
    opts.onGroupJoin?.(e.payload.memberAssignment)
  })
  if (health !== undefined) {
    consumer.on(consumer.events.FETCH, () => health.fetched())
    consumer.on(consumer.events.HEARTBEAT, () => health.fetched())
    consumer.on(consumer.events.REBALANCING, () => health.rebalancing())
    consumer.on(consumer.events.CRASH, (e) => health.crashed(e.payload.error, e.payload.restart))
  }
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [...opts.topics], fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Partitions interleave at their awaits (restores, transactions): one partition's network waits
      // overlap another's processing. Batches of one partition stay in order, one at a time.
      partitionsConsumedConcurrently: 4,
      eachBatch: async ({ batch, resolveOffset, heartbeat, pause, isRunning, isStale }) => {
        if (!isRunning() || isStale()) return
        if (batch.messages.length === 0) {
          const next = BigInt(batch.lastOffset()) + 1n
          opts.onEmptyBatch?.(batch.topic, batch.partition, next >= BigInt(batch.highWatermark), next)
          return
        }
        const lastOffset = batch.lastOffset()
        const taken = await opts.onBatch({ topic: batch.topic, partition: batch.partition, messages: batch.messages, lastOffset, highWatermark: batch.highWatermark }, heartbeat, pause)
        if (!taken) return
        // The consumer's own position moves on; the committed offset moved with the batch's transaction.
        resolveOffset(lastOffset)
        await heartbeat()
      },
    })
  } catch (err) {
    // A consumer that connected but could not subscribe or run is not left connected.
    await consumer.disconnect().catch(() => undefined)
    throw err
  }
  return {
    stop: () => consumer.disconnect(),
    seek: (topic, partition, offset) => consumer.seek({ topic, partition, offset }),
  }
}
