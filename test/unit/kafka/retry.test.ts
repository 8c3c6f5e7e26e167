// Kafka requests tried again on the errors a broker means as passing (a coordinator loading), and only on those.
import { describe, expect, it } from 'vitest'
import { isRetriable, retrying } from '../../../src/kafka/retry.ts'

/** The error kafkajs gives for code 14, COORDINATOR_LOAD_IN_PROGRESS (its GROUP_LOAD_IN_PROGRESS, retriable: true). */
const loading = Object.assign(new Error("The coordinator is loading and hence can't process requests for this group"), { name: 'KafkaJSProtocolError', type: 'GROUP_LOAD_IN_PROGRESS', code: 14, retriable: true })
const denied = Object.assign(new Error('Not authorized to access group'), { name: 'KafkaJSProtocolError', type: 'GROUP_AUTHORIZATION_FAILED', code: 30, retriable: false })

/** A clock that the waits move on, and the waits taken. */
const fakeTime = () => {
  let t = 0
  const waits: number[] = []
  return { now: () => t, sleep: async (ms: number) => void (waits.push(ms), (t += ms)), waits }
}

describe('retrying', () => {
  it('tries a request again while the coordinator is loading, waiting longer each time, and gives its answer', async () => {
    const time = fakeTime()
    let calls = 0
    const answer = await retrying(async () => {
      if (++calls < 4) throw loading
      return 'offsets'
    }, { withinMs: 60_000, ...time })
    expect([answer, calls, time.waits]).toEqual(['offsets', 4, [100, 200, 400]])
  })

  it('throws another error at once, and the retriable one when the time is up', async () => {
    const time = fakeTime()
    await expect(retrying(async () => Promise.reject(denied), { withinMs: 60_000, ...time })).rejects.toBe(denied)
    expect(time.waits).toEqual([])
    const late = fakeTime()
    await expect(retrying(async () => Promise.reject(loading), { withinMs: 5_000, ...late })).rejects.toBe(loading)
    // 100 + 200 + 400 + 800 + 1600 = 3100 ms waited; the next wait (2 s) would pass the 5 s.
    expect(late.waits).toEqual([100, 200, 400, 800, 1600])
  })

  it('tells the errors kafkajs marks retriable', () => {
    expect([isRetriable(loading), isRetriable(denied), isRetriable(new Error('x')), isRetriable(null)]).toEqual([true, false, false, false])
  })
})
