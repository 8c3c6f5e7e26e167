// Topic creation for the tests and benchmarks (egress-sentinel itself never creates topics).
import type { Admin, ITopicConfig } from 'kafkajs'

/** The topics `run` writes besides its dead letters: alerts (one partition), its state (compacted, one partition per input partition) and the models topic (compacted, one partition). */
export const runOutputTopics = (t: { readonly alerts: string; readonly state: string; readonly models: string }, partitions: number): ITopicConfig[] => [
  { topic: t.alerts, numPartitions: 1 },
  { topic: t.state, numPartitions: partitions, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
  { topic: t.models, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
]

/**
 * Creates topics and waits until every partition has a leader. kafkajs' own `waitForLeaders` gives
 * up on "This server does not host this topic-partition", which a broker under load answers for a
 * while after the creation; this asks again.
 */
export const createTopics = async (admin: Admin, topics: ITopicConfig[], timeoutMs = 30_000): Promise<void> => {
  await admin.createTopics({ topics, waitForLeaders: false })
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ready = await admin
      .fetchTopicMetadata({ topics: topics.map((t) => t.topic) })
      .then((m) => m.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0)))
      .catch(() => false)
    if (ready) return
    if (Date.now() > deadline) throw new Error(`topics ${topics.map((t) => t.topic).join(', ')} have no leaders after ${timeoutMs / 1000} s`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
