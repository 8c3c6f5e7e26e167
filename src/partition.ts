// Kafka's default partitioner (murmur2 of the key's UTF-8 bytes, as the Java client and kafkajs compute it): replay shards devices like the service.

const M = 0x5bd1e995

/** Java's `Utils.murmur2` over a byte array (its first `length` bytes), as a signed 32-bit integer. */
export const murmur2 = (data: Uint8Array, length = data.length): number => {
  let h = 0x9747b28c ^ length
  const length4 = length >> 2
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4
    let k = data[i4]! | (data[i4 + 1]! << 8) | (data[i4 + 2]! << 16) | (data[i4 + 3]! << 24)
    k = Math.imul(k, M)
    k ^= k >>> 24
    k = Math.imul(k, M)
    h = Math.imul(h, M)
    h ^= k
  }
  const tail = length & ~3
  const rest = length & 3
  if (rest === 3) h ^= data[tail + 2]! << 16
  if (rest >= 2) h ^= data[tail + 1]! << 8
  if (rest >= 1) {
    h ^= data[tail]!
    h = Math.imul(h, M)
  }
  h ^= h >>> 13
  h = Math.imul(h, M)
  h ^= h >>> 15
  return h | 0
}

const encoder = new TextEncoder()
/** An ASCII key's bytes, written in place: replay partitions every event, and a TextEncoder call per event cost a twentieth of it. */
let scratch = new Uint8Array(256)

/** The partition Kafka's default partitioner gives a record keyed `key` in a topic of `partitions`. */
export const partitionOf = (key: string, partitions: number): number => {
  const length = key.length
  if (length > scratch.length) scratch = new Uint8Array(length * 2)
  for (let i = 0; i < length; i++) {
    const c = key.charCodeAt(i)
    // Beyond ASCII a character is several UTF-8 bytes: the encoder knows them.
    if (c >= 0x80) return (murmur2(encoder.encode(key)) & 0x7fffffff) % partitions
    scratch[i] = c
  }
  return (murmur2(scratch, length) & 0x7fffffff) % partitions
}
