// A record over its topic's max.message.bytes is found before it is sent: the broker would refuse it at every try.
import { describe, expect, it } from 'vitest'
import { oversized } from '../../../src/sinks/kafka.ts'

describe('oversized', () => {
  it('names the first record that, alone in a record batch (its key, its value and 128 bytes), is over its topic\'s limit', () => {
    const small = { key: 'events/0/dev-1', value: 'x'.repeat(100) }
    const big = { key: 'events/0', value: 'y'.repeat(5_000) }
    const limits = new Map([['state', 4_096], ['alerts', 1_048_588]])
    expect(oversized([{ topic: 'alerts', records: [big] }, { topic: 'state', records: [small, big, big] }], limits))
      .toEqual({ topic: 'state', key: 'events/0', bytes: 5_000 + 8 + 128, limit: 4_096 })
  })

  it('lets through a record at the limit, counts UTF-8 bytes (not characters) and skips topics without a limit', () => {
    const limits = new Map([['state', 4_096]])
    // 4,096 bytes with the batch's 128: a value of 3,968 bytes; one more is over.
    expect(oversized([{ topic: 'state', records: [{ key: null, value: 'a'.repeat(3_968) }] }], limits)).toBeNull()
    expect(oversized([{ topic: 'state', records: [{ key: null, value: 'a'.repeat(3_969) }] }], limits)?.bytes).toBe(4_097)
    // 1,400 three-byte characters: 4,200 bytes.
    expect(oversized([{ topic: 'state', records: [{ key: null, value: '€'.repeat(1_400) }] }], limits)?.bytes).toBe(4_200 + 128)
    expect(oversized([{ topic: 'state', records: [{ key: null, value: '€'.repeat(1_300) }] }], limits)).toBeNull()
    expect(oversized([{ topic: 'other', records: [{ key: null, value: 'z'.repeat(10_000) }] }], limits)).toBeNull()
  })
})
