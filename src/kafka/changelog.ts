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

/** Where a state key's device id starts, less one (the slash after `<topic>/<partition>`), or -1 for a shard record's key. */
export const deviceSlash = (key: string): number => key.indexOf('/', key.indexOf('/') + 1)

/** The shard record's value: the engine's own state and the input offsets it has consumed up to. */
interface ShardRecord {
  readonly v: 1
  /** The shard's own topic's next offset to process: every record before it is in this state (as written before `inputs`). */
  readonly nextOffset: string
  /**
   * Each input topic's next offset, and the lines of the record there already in this state (its
   * shard stopped in it, for the fleet view or its other input).
   */
  readonly inputs?: Readonly<Record<string, readonly [string, number]>>
  readonly shard: ShardSnapshot
}

/** A shard as the changelog holds it. */
export interface StoredShard {
  /** Null when only an older layout's keys are there. */
  readonly snapshot: EngineSnapshot | null
  /** Each input topic's next offset and the lines of that record already in the state. */
  readonly inputs: ReadonlyMap<string, readonly [string, number]>
  /**
   * Keys to delete: a shard of another input topic on the same partition (an older layout, before
   * shards were co-partitioned), and the shard's records that could not be read.
   */
  readonly orphans: readonly string[]
  /** The shard's records that are not JSON, with why: a device's is left out (it starts afresh), a shard record's leaves the whole state out. */
  readonly unreadable: readonly string[]
}

/** Where a shard's inputs are committed up to: topic, next offset, lines of that record done. */
export type InputPositions = readonly (readonly [string, string, number])[]

/**
 * The records that carry a shard's changes: each changed device, a tombstone for each evicted one,
 * and the shard record last. Written in the same transaction as the offsets they account for.
 */
export const changelogRecords = (shard: ShardId, changes: EngineChanges, positions: InputPositions): OutRecord[] => {
  const prefix = `${shardKey(shard)}/`
  const { partition } = shard
  const records: OutRecord[] = []
  for (const d of changes.devices) records.push({ key: prefix + d.id, value: JSON.stringify(d), partition })
  for (const id of changes.evicted) records.push({ key: prefix + id, value: null, partition })
  const own = positions.find(([topic]) => topic === shard.topic) ?? positions[0]!
  const inputs: Record<string, readonly [string, number]> = {}
  for (const [topic, offset, line] of positions) inputs[topic] = [offset, line]
  const value: ShardRecord = { v: 1, nextOffset: own[1], inputs, shard: changes.shard }
  records.push({ key: shardKey(shard), value: JSON.stringify(value), partition })
  return records
}

/** A state record's value, or null with the key and why in `unreadable`. */
const parseValue = <T>(key: string, value: string, unreadable: string[]): T | null => {
  try {
    return JSON.parse(value) as T
  } catch (err) {
    unreadable.push(`${key}: ${(err as Error).message}`)
    return null
  }
}

export interface ReadOptions {
  readonly kafka: Kafka
  readonly stateTopic: string
  /** Prefix of the short-lived consumer group that reads. */
  readonly groupPrefix: string
  readonly shards: readonly ShardId[]
  /** The other input topics: their shards' keys on the same partitions are an older layout, to delete. */
  readonly others?: readonly string[]
}

/** A shard's keys as read so far: the latest value of each, parsed once the end is reached (a changelog not yet compacted holds many values a key). */
interface Collected {
  shard: string | null
  readonly devices: Map<string, string>
  readonly orphans: Set<string>
}

/**
 * Reads the state partitions of `shards` from the beginning to their current end (committed
 * transactions only) and returns each shard's last state, or null for a shard with none. Call it
 * after the shards' transactional producers are initialised: that fences any previous owner, so the
 * end read here is final.
 */
export const readChangelog = async (opts: ReadOptions): Promise<Map<string, StoredShard | null>> => {
  const byKey = new Map<string, Collected>()
  for (const s of opts.shards) byKey.set(shardKey(s), { shard: null, devices: new Map(), orphans: new Set() })
  // An older layout's shard of another input on the same partition: its keys are collected to be deleted.
  const orphanOf = new Map<string, Collected>()
  for (const s of opts.shards) for (const topic of opts.others ?? []) orphanOf.set(shardKey({ topic, partition: s.partition }), byKey.get(shardKey(s))!)
  await readToEnd({
    kafka: opts.kafka,
    topic: opts.stateTopic,
    groupPrefix: `${opts.groupPrefix}.restore`,
    partitions: new Set(opts.shards.map((s) => s.partition)),
    onMessage: (m) => {
      const key = m.key?.toString()
      if (key === undefined) return
      const slash = deviceSlash(key)
      const prefix = slash === -1 ? key : key.slice(0, slash)
      const shard = byKey.get(prefix)
      const value = m.value === null || m.value.length === 0 ? null : m.value.toString('utf8')
      if (shard === undefined) {
        const owner = orphanOf.get(prefix)
        if (owner === undefined) return
        if (value === null) owner.orphans.delete(key)
        else owner.orphans.add(key)
        return
      }
      if (slash === -1) {
        shard.shard = value
      } else if (value === null) {
        shard.devices.delete(key.slice(slash + 1))
      } else {
        shard.devices.set(key.slice(slash + 1), value)
      }
    },
  })
  const out = new Map<string, StoredShard | null>()
  for (const [key, c] of byKey) {
    if (c.shard === null) {
      out.set(key, c.orphans.size === 0 ? null : { inputs: new Map(), orphans: [...c.orphans], snapshot: null, unreadable: [] })
      continue
    }
    const unreadable: string[] = []
    const record = parseValue<ShardRecord>(key, c.shard, unreadable)
    if (record === null) {
      // Without its offsets its devices cannot be placed: the shard starts afresh where the group committed, its records deleted.
      out.set(key, { inputs: new Map(), orphans: [...c.orphans, key, ...[...c.devices.keys()].map((id) => `${key}/${id}`)], snapshot: null, unreadable })
      continue
    }
    const inputs = new Map<string, readonly [string, number]>(Object.entries(record.inputs ?? { [key.slice(0, key.lastIndexOf('/'))]: [record.nextOffset, 0] }))
    // Parsed and let go one by one: the strings and the states are not all held at once.
    const devices: DeviceSnapshot[] = []
    const orphans = [...c.orphans]
    for (const [id, value] of c.devices) {
      const device = parseValue<DeviceSnapshot>(`${key}/${id}`, value, unreadable)
      if (device === null) orphans.push(`${key}/${id}`)
      else devices.push(device)
      c.devices.delete(id)
    }
    out.set(key, { inputs, orphans, snapshot: { ...record.shard, devices }, unreadable })
  }
  return out
}
