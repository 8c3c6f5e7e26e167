// Specification of the input group's assignor: partition p of every input topic goes to one member, partition numbers in turn.
import kafkajs from 'kafkajs'
import type { Cluster } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { COPARTITIONED, copartitionedAssigner } from '../../../src/kafka/assigner.ts'

const cluster = (partitions: Record<string, number>) =>
  ({ findTopicPartitionMetadata: (topic: string) => Array.from({ length: partitions[topic]! }, (_, partitionId) => ({ partitionId })) }) as unknown as Cluster

const assign = async (members: string[], partitions: Record<string, number>) => {
  const assigner = copartitionedAssigner({ cluster: cluster(partitions), groupId: 'g', logger: null as never })
  const out = await assigner.assign({ members: members.map((memberId) => ({ memberId, memberMetadata: Buffer.alloc(0) })), topics: Object.keys(partitions) })
  return Object.fromEntries(out.map((a) => [a.memberId, kafkajs.AssignerProtocol.MemberAssignment.decode(a.memberAssignment)!.assignment]))
}

describe('co-partitioned assignor', () => {
  it('gives partition p of the events and the telemetry topic to the same member, partition numbers spread over the members in id order', async () => {
    expect(await assign(['m-b', 'm-a'], { events: 6, telemetry: 6 })).toEqual({
      'm-a': { events: [0, 2, 4], telemetry: [0, 2, 4] },
      'm-b': { events: [1, 3, 5], telemetry: [1, 3, 5] },
    })
  })

  it('leaves a member with nothing when there are more members than partitions, and names its protocol', async () => {
    expect(await assign(['a', 'b', 'c'], { events: 2 })).toEqual({ a: { events: [0] }, b: { events: [1] }, c: {} })
    const assigner = copartitionedAssigner({ cluster: cluster({}), groupId: 'g', logger: null as never })
    expect(assigner.protocol({ topics: ['events'] }).name).toBe(COPARTITIONED)
  })
})
