// The broker's end offsets of the input partitions, read at most every so often for all of them at once: whether a shard has read to the end of its partitions.
import type { Admin, Kafka } from 'kafkajs'

/** End offsets read this recently are used as they are. */
const MAX_AGE_MS = 100

export class EndOffsets {
  private admin: Admin | null = null
  private readAt = 0
  private reading: Promise<void> | null = null
  private readonly highs = new Map<string, bigint>()

  constructor(
    private readonly kafka: Kafka,
    private readonly topics: readonly string[],
  ) {}

  /** Each input partition's end (`<topic>/<partition>` → high watermark), read at most MAX_AGE_MS ago. */
  async fresh(): Promise<ReadonlyMap<string, bigint>> {
    if (Date.now() - this.readAt >= MAX_AGE_MS) {
      this.reading ??= this.read().finally(() => (this.reading = null))
      await this.reading
    }
    return this.highs
  }

  private async read(): Promise<void> {
    try {
      if (this.admin === null) {
        const admin = this.kafka.admin()
        await admin.connect()
        this.admin = admin
      }
      for (const topic of this.topics) {
        for (const p of await this.admin.fetchTopicOffsets(topic)) this.highs.set(`${topic}/${p.partition}`, BigInt(p.high))
      }
      this.readAt = Date.now()
    } catch (err) {
      // A new client next time (the broker may have gone and come back).
      await this.close()
      throw err
    }
  }

  async close(): Promise<void> {
    const admin = this.admin
    this.admin = null
    await admin?.disconnect().catch(() => undefined)
  }
}
