// The state changelog: a shard's changes as records of the compacted state topic, and a set of shards read back from it.
import { randomUUID } from 'node:crypto'
import type { Kafka } from 'kafkajs'
import type { DeviceSnapshot, EngineChanges, EngineSnapshot, ShardSnapshot } from '../engine/engine.ts'
import type { OutRecord } from '../sinks/kafka.ts'

/**
 * One detection shard: an input topic's partition. Its state lives in the state topic's partition of
 * the same number, under keys `<topic>/<partition>` (the shard record) and `<topic>/<partition>/<deviceId>`
 * (one per device). Topic names cannot hold "/", so the two kinds of key never meet.
 */
export interface ShardId {
  readonly topic: string
  readonly partition: number
}

export const shardKey = (s: ShardId): string => `${s.topic}/${s.partition}`

/** The shard record's value: the engine's own state and the input offset it has consumed up to. */
interface ShardRecord {
  readonly v: 1
  /** The next input offset to process: every record before it is in this state. */
  readonly nextOffset: string
  readonly shard: ShardSnapshot
}

/** A shard as the changelog holds it. */
export interface StoredShard {
  readonly snapshot: EngineSnapshot
  readonly nextOffset: string
}

/**
 * The records that carry a shard's changes: each changed device, a tombstone for each evicted one,
 * and the shard record last. Written in the same transaction as the offsets they account for.
 */
export const changelogRecords = (shard: ShardId, changes: EngineChanges, nextOffset: string): OutRecord[] => {
  const prefix = `${shardKey(shard)}/`
  const { partition } = shard
  const records: OutRecord[] = []
  for (const d of changes.devices) records.push({ key: prefix + d.id, value: JSON.stringify(d), partition })
  for (const id of changes.evicted) records.push({ key: prefix + id, value: null, partition })
  const value: ShardRecord = { v: 1, nextOffset, shard: changes.shard }
  records.push({ key: shardKey(shard), value: JSON.stringify(value), partition })
  return records
}

export interface ReadOptions {
  readonly kafka: Kafka
  readonly stateTopic: string
  /** Prefix of the short-lived consumer group that reads; a unique suffix is added and the group deleted after. */
  readonly groupPrefix: string
  readonly shards: readonly ShardId[]
  /** Gives up after this long (a state partition that cannot be read to its end). */
  readonly timeoutMs?: number
}

interface Collected {
  shard: ShardRecord | null
  readonly devices: Map<string, DeviceSnapshot>
}

/**
 * Reads the state partitions of `shards` from the beginning to their current end (committed
 * transactions only) and returns each shard's last state, or null for a shard with none. Call it
 * after the shards' transactional producers are initialised: that fences any previous owner, so the
 * end read here is final.
 */
export const readChangelog = async (opts: ReadOptions): Promise<Map<string, StoredShard | null>> => {
  const { kafka, stateTopic } = opts
  const byKey = new Map<string, Collected>()
  for (const s of opts.shards) byKey.set(shardKey(s), { shard: null, devices: new Map() })
  const partitions = new Set(opts.shards.map((s) => s.partition))

  const admin = kafka.admin()
  await admin.connect()
  const groupId = `${opts.groupPrefix}.restore.${randomUUID()}`
  try {
    // The end of each wanted state partition now; an empty one is read already.
    const pending = new Map<number, bigint>()
    for (const p of await admin.fetchTopicOffsets(stateTopic)) {
      if (partitions.has(p.partition) && BigInt(p.high) > BigInt(p.low)) pending.set(p.partition, BigInt(p.high) - 1n)
    }
    if (pending.size > 0) await readTo(kafka, stateTopic, groupId, pending, byKey, opts.timeoutMs ?? 300_000)
  } finally {
    await admin.deleteGroups([groupId]).catch(() => undefined)
    await admin.disconnect()
  }

  const out = new Map<string, StoredShard | null>()
  for (const [key, p] of byKey) {
    out.set(key, p.shard === null ? null : { nextOffset: p.shard.nextOffset, snapshot: { ...p.shard.shard, devices: [...p.devices.values()] } })
  }
  return out
}

/** Consumes `topic` in a group of its own until every partition in `pending` is read up to its offset. */
const readTo = async (
  kafka: Kafka,
  topic: string,
  groupId: string,
  pending: Map<number, bigint>,
  byKey: Map<string, Collected>,
  timeoutMs: number,
): Promise<void> => {
  const consumer = kafka.consumer({ groupId, readUncommitted: false, allowAutoTopicCreation: false, maxBytesPerPartition: 4 << 20 })
  let finish: (err?: Error) => void = () => undefined
  const done = new Promise<void>((resolve, reject) => (finish = (err) => (err ? reject(err) : resolve())))
  const timer = setTimeout(() => finish(new Error(`state topic "${topic}": partitions ${[...pending.keys()].join(', ')} not read to their end within ${timeoutMs / 1000} s`)), timeoutMs)
  // Every batch reports how far it reached, the ones holding only transaction markers too.
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
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const key = m.key?.toString()
          if (key === undefined) continue
          const slash = key.indexOf('/', key.indexOf('/') + 1)
          const shard = byKey.get(slash === -1 ? key : key.slice(0, slash))
          if (shard === undefined) continue
          const value = m.value === null || m.value.length === 0 ? null : m.value.toString('utf8')
          if (slash === -1) {
            shard.shard = value === null ? null : (JSON.parse(value) as ShardRecord)
          } else if (value === null) {
            shard.devices.delete(key.slice(slash + 1))
          } else {
            shard.devices.set(key.slice(slash + 1), JSON.parse(value) as DeviceSnapshot)
          }
        }
      },
    })
    await done
  } finally {
    clearTimeout(timer)
    await consumer.disconnect()
  }
}
