// When a shard commits at the end of a batch: what a live stream, which catches up after nearly every batch, costs.
import { describe, expect, it } from 'vitest'
import { afterBatch } from '../../../src/kafka/shards.ts'
import type { BatchEnd } from '../../../src/kafka/shards.ts'

const at = (b: Partial<BatchEnd>): ReturnType<typeof afterBatch> =>
  afterBatch({ stopping: false, due: false, full: false, idle: false, waited: false, alone: true, ...b })

describe('a shard at the end of a batch', () => {
  it('commits its alerts and dead letters at once when caught up with its partitions', () => {
    expect(at({ idle: true, waited: true })).toBe('commit')
    expect(at({ idle: true, waited: true, alone: false })).toBe('commit')
  })

  it('holds state and offsets alone until its commit interval passes, caught up or not', () => {
    expect(at({ idle: true })).toBe('hold')
    expect(at({})).toBe('hold')
    expect(at({ waited: true })).toBe('hold')
    expect(at({ idle: true, due: true })).toBe('commit')
    expect(at({ due: true })).toBe('commit')
  })

  it('publishes the epochs it closed alone, when caught up, where another member may wait for them', () => {
    expect(at({ idle: true, alone: false })).toBe('publish')
    expect(at({ alone: false })).toBe('hold')
  })

  it('commits whatever it holds when its output is full or the service stops', () => {
    expect(at({ full: true })).toBe('commit')
    expect(at({ stopping: true })).toBe('commit')
  })
})
