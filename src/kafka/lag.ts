// The consumer lag of the partitions this member owns: set after each commit, and read from the broker on a timer (the partition's end minus what the group committed).
import type { Kafka } from 'kafkajs'
import type { Gauge } from 'prom-client'
import { shardKey } from './changelog.ts'
import type { ShardId } from './changelog.ts'

/** A refresh that has not ended by then is abandoned: the next one starts afresh. */
const REFRESH_TIMEOUT_MS = 10_000

const ignore = (): void => undefined

export class LagReporter {
  /** Series exported, by shard key; exactly the partitions of the last assignment. */
  readonly #series = new Map<string, { readonly id: ShardId; readonly labels: { topic: string; partition: string } }>()
  #refreshing: Promise<void> | null = null

  constructor(
    private readonly kafka: Kafka,
    private readonly groupId: string,
    private readonly gauge: Gauge<'topic' | 'partition'>,
    /** The offset a live shard has committed up to, when known (the group's committed offsets are read otherwise). */
    private readonly position: (key: string) => bigint | null,
  ) {}

  /** The partitions this member owns now: series of the others go (their lag is their new owner's to report). */
  assigned(ids: readonly ShardId[]): void {
    const keep = new Set(ids.map(shardKey))
    for (const [key, s] of this.#series) {
      if (!keep.has(key)) {
        this.gauge.remove(s.labels)
        this.#series.delete(key)
      }
    }
    for (const id of ids) {
      const key = shardKey(id)
      if (!this.#series.has(key)) this.#series.set(key, { id, labels: { topic: id.topic, partition: String(id.partition) } })
    }
  }

  /** After a commit: the partition's end as fetched minus the offset committed. */
  set(id: ShardId, lag: bigint): void {
    const s = this.#series.get(shardKey(id))
    if (s !== undefined) this.gauge.set(s.labels, Number(lag > 0n ? lag : 0n))
  }

  /**
   * Reads every owned partition's end and the group's committed offsets from the broker. A partition
   * whose shard is not live (being restored, dropped after a failure) counts from the committed
   * offset: its lag grows while nothing consumes it, never sits at a stale 0.
   */
  refresh(stopping: () => boolean): void {
    if (this.#refreshing !== null || this.#series.size === 0) return
    let timer: NodeJS.Timeout | undefined
    const run = this.#read(stopping)
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, REFRESH_TIMEOUT_MS)))
    this.#refreshing = Promise.race([run.catch(ignore), timeout]).finally(() => {
      clearTimeout(timer)
      this.#refreshing = null
    })
  }

  /** Waits for a refresh under way (at most `ms`). */
  async settle(ms: number): Promise<void> {
    if (this.#refreshing !== null) await Promise.race([this.#refreshing, new Promise((r) => setTimeout(r, ms).unref())])
  }

  async #read(stopping: () => boolean): Promise<void> {
    const admin = this.kafka.admin()
    try {
      await admin.connect()
      const topics = [...new Set([...this.#series.values()].map((s) => s.id.topic))]
      const committed = new Map<string, bigint>()
      for (const t of await admin.fetchOffsets({ groupId: this.groupId, topics })) {
        for (const p of t.partitions) if (BigInt(p.offset) >= 0n) committed.set(`${t.topic}/${p.partition}`, BigInt(p.offset))
      }
      for (const topic of topics) {
        if (stopping()) return
        for (const o of await admin.fetchTopicOffsets(topic)) {
          const key = shardKey({ topic, partition: o.partition })
          const s = this.#series.get(key)
          if (s === undefined) continue
          const from = this.position(key) ?? committed.get(`${topic}/${o.partition}`) ?? BigInt(o.low)
          const lag = BigInt(o.high) - from
          this.gauge.set(s.labels, Number(lag > 0n ? lag : 0n))
        }
      }
    } finally {
      await admin.disconnect().catch(ignore)
    }
  }
}
