// Kafka sink: sends keyed records to a topic in batches under the broker's size limit and resolves when all are acknowledged.
import type { Producer } from 'kafkajs'

export interface OutRecord {
  readonly key: string | null
  readonly value: string
}

/** Bytes per send at most: under the broker's default 1 MB message batch limit. */
export const MAX_BATCH_BYTES = 900_000

/** A record's size as a send counts it: value, key and a per-record overhead. */
export const recordBytes = (r: OutRecord): number => r.value.length + (r.key?.length ?? 0) + 64

/** Sends `records` to `topic` in order, in as few requests as the size limit allows. */
export const sendRecords = async (producer: Producer, topic: string, records: readonly OutRecord[]): Promise<void> => {
  let batch: OutRecord[] = []
  let bytes = 0
  for (const r of records) {
    const size = recordBytes(r)
    if (batch.length > 0 && bytes + size > MAX_BATCH_BYTES) {
      await producer.send({ topic, acks: -1, messages: batch })
      batch = []
      bytes = 0
    }
    batch.push(r)
    bytes += size
  }
  if (batch.length > 0) await producer.send({ topic, acks: -1, messages: batch })
}
