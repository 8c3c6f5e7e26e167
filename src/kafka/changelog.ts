// The state changelog: a shard's changes as records of the compacted state topic, and a set of shards read back from it.
import type { Kafka } from 'kafkajs'
import type { DeviceSnapshot, EngineChanges, EngineSnapshot, ShardSnapshot } from '../engine/engine.ts'
import type { OutRecord } from '../sinks/kafka.ts'
import { readToEnd } from './read.ts'

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
  /** Lines of the record at nextOffset already in this state (its shard stopped in it, waiting for the fleet view); absent for 0. */
  readonly nextLine?: number
  readonly shard: ShardSnapshot
}

/** A shard as the changelog holds it. */
export interface StoredShard {
  readonly snapshot: EngineSnapshot
  readonly nextOffset: string
  readonly nextLine: number
}

/**
 * The records that carry a shard's changes: each changed device, a tombstone for each evicted one,
 * and the shard record last. Written in the same transaction as the offsets they account for.
 */
export const changelogRecords = (shard: ShardId, changes: EngineChanges, nextOffset: string, nextLine = 0): OutRecord[] => {
  const prefix = `${shardKey(shard)}/`
  const { partition } = shard
  const records: OutRecord[] = []
  for (const d of changes.devices) records.push({ key: prefix + d.id, value: JSON.stringify(d), partition })
  for (const id of changes.evicted) records.push({ key: prefix + id, value: null, partition })
  const value: ShardRecord = { v: 1, nextOffset, ...(nextLine > 0 ? { nextLine } : {}), shard: changes.shard }
  records.push({ key: shardKey(shard), value: JSON.stringify(value), partition })
  return records
}

export interface ReadOptions {
  readonly kafka: Kafka
  readonly stateTopic: string
  /** Prefix of the short-lived consumer group that reads. */
  readonly groupPrefix: string
  readonly shards: readonly ShardId[]
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
  const byKey = new Map<string, Collected>()
  for (const s of opts.shards) byKey.set(shardKey(s), { shard: null, devices: new Map() })
  await readToEnd({
    kafka: opts.kafka,
    topic: opts.stateTopic,
    groupPrefix: `${opts.groupPrefix}.restore`,
    partitions: new Set(opts.shards.map((s) => s.partition)),
    onMessage: (m) => {
      const key = m.key?.toString()
      if (key === undefined) return
      const slash = key.indexOf('/', key.indexOf('/') + 1)
      const shard = byKey.get(slash === -1 ? key : key.slice(0, slash))
      if (shard === undefined) return
      const value = m.value === null || m.value.length === 0 ? null : m.value.toString('utf8')
      if (slash === -1) {
        shard.shard = value === null ? null : (JSON.parse(value) as ShardRecord)
      } else if (value === null) {
        shard.devices.delete(key.slice(slash + 1))
      } else {
        shard.devices.set(key.slice(slash + 1), JSON.parse(value) as DeviceSnapshot)
      }
    },
  })
  const out = new Map<string, StoredShard | null>()
  for (const [key, c] of byKey) {
    out.set(key, c.shard === null ? null : { nextOffset: c.shard.nextOffset, nextLine: c.shard.nextLine ?? 0, snapshot: { ...c.shard.shard, devices: [...c.devices.values()] } })
  }
  return out
}
