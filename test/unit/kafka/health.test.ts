// Specification of the consumer's health: fetches and heartbeats keep it consuming; a stall, a lasting rebalance or a crash make it not ready; a crash kafkajs will not recover from asks for a new consumer.
import { describe, expect, it } from 'vitest'
import { ConsumerHealth } from '../../../src/kafka/health.ts'

const clock = () => {
  let now = 1_000_000
  return { now: () => now, advance: (ms: number) => void (now += ms) }
}

const tracked = () => {
  const c = clock()
  const dead: Error[] = []
  const crashes: boolean[] = []
  const health = new ConsumerHealth(5_000, { now: c.now, onDead: (e) => void dead.push(e), onCrash: (r) => void crashes.push(r) })
  return { c, health, dead, crashes }
}

describe('the consumer health', () => {
  it('is consuming while fetches or heartbeats come within the stall time, and stalled after it', () => {
    const { c, health } = tracked()
    c.advance(4_000)
    health.fetched()
    c.advance(5_000)
    expect(health.problem()).toBeNull()
    c.advance(1_001)
    expect(health.problem()).toBe('no fetch or heartbeat for 6 s')
    health.fetched()
    expect(health.problem()).toBeNull()
  })

  it('is not consuming once the group has been rebalancing for longer than the stall time, and is again when it joins', () => {
    const { c, health } = tracked()
    health.rebalancing()
    c.advance(3_000)
    health.fetched()
    health.rebalancing() // the same rebalance, still under way
    c.advance(2_500)
    health.fetched()
    expect(health.problem()).toBe('the group has been rebalancing for 6 s')
    health.joined()
    expect(health.problem()).toBeNull()
  })

  it('is not consuming after a crash until it joins the group again; one kafkajs restarts by itself asks for nothing more', () => {
    const { health, dead, crashes } = tracked()
    const error = Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9092'), { name: 'KafkaJSNonRetriableError' })
    health.crashed(error, true)
    expect(health.problem()).toBe('the consumer crashed (KafkaJSNonRetriableError: Connection error: connect ECONNREFUSED 127.0.0.1:9092)')
    expect([dead, crashes]).toEqual([[], [true]])
    health.joined()
    expect(health.problem()).toBeNull()
  })

  it('asks for a new consumer after a crash kafkajs will not restart from (a group coordinator not found)', () => {
    const { health, dead, crashes } = tracked()
    const error = Object.assign(new Error('Failed to find group coordinator'), { name: 'KafkaJSNonRetriableError' })
    health.crashed(error, false)
    expect(dead).toEqual([error])
    expect(crashes).toEqual([false])
    expect(health.problem()).toMatch(/^the consumer crashed/)
  })

  it('gives a new consumer the stall time to join', () => {
    const { c, health } = tracked()
    c.advance(60_000)
    expect(health.problem()).toMatch(/^no fetch/)
    health.reset()
    c.advance(4_000)
    expect(health.problem()).toBeNull()
  })
})
