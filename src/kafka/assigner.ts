// The input group's partition assignor: partition p of every input topic goes to one member (a shard is a partition number), partition numbers spread evenly over the members.
import kafkajs from 'kafkajs'
import type { PartitionAssigner } from 'kafkajs'

/** The assignor's protocol name: every member of the group must offer it (members of versions before it cannot share a group with it). */
export const COPARTITIONED = 'egress-sentinel-copartitioned'

/**
 * Co-partitioned assignment, as Kafka Streams assigns a join's partitions: a device's events and
 * telemetry, keyed by its id, land in the same partition number of each input topic, and that
 * number's partitions go to one member, whose shard sees both. Members in id order take partition
 * numbers in turn.
 */
export const copartitionedAssigner: PartitionAssigner = ({ cluster }) => ({
  name: COPARTITIONED,
  version: 0,
  async assign({ members, topics }) {
    const ids = members.map((m) => m.memberId).sort()
    const assignment = new Map<string, Record<string, number[]>>(ids.map((id) => [id, {}]))
    for (const topic of topics) {
      for (const { partitionId } of cluster.findTopicPartitionMetadata(topic)) {
        const member = assignment.get(ids[partitionId % ids.length]!)!
        ;(member[topic] ??= []).push(partitionId)
      }
    }
    return ids.map((memberId) => ({
      memberId,
      memberAssignment: kafkajs.AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: assignment.get(memberId)!, userData: Buffer.alloc(0) }),
    }))
  },
  protocol({ topics }) {
    return { name: COPARTITIONED, metadata: kafkajs.AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }) }
  },
})
