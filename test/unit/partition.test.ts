// Replay shards devices as Kafka does: our murmur2 partitioner agrees with kafkajs' DefaultPartitioner, the one produce uses.
import { Partitioners } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { partitionOf } from '../../src/partition.ts'

describe('partitionOf', () => {
  it('gives the partition kafkajs\' DefaultPartitioner gives, for every key length and multi-byte text', () => {
    const kafkajs = Partitioners.DefaultPartitioner()
    const keys = ['', 'a', 'ab', 'abc', 'abcd', 'frostbyte-fridge-a5e501', 'iot23-malware-8/192.168.100.113', 'kühlschrank-ü', '冷蔵庫-7', ...Array.from({ length: 500 }, (_, i) => `dev-${i}`)]
    for (const partitions of [1, 3, 6, 7, 64]) {
      const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({ partitionId: i, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }))
      for (const key of keys) {
        expect(partitionOf(key, partitions), `${key} / ${partitions}`).toBe(kafkajs({ topic: 't', partitionMetadata, message: { key, value: '' } }))
      }
    }
  })
})
