// A record over its topic's max.message.bytes is found before it is sent: the broker would refuse it at every try.
import { describe, expect, it } from 'vitest'
import { oversized, recordBytes } from '../../../src/sinks/kafka.ts'

describe('oversized', () => {
  it('names the first record that, alone in a record batch, is over its topic\'s limit', () => {
    const small = { key: 'events/0/dev-1', value: 'x'.repeat(100) }
    const big = { key: 'events/0', value: 'y'.repeat(5_000) }
    const limits = new Map([['state', 4_096], ['alerts', 1_048_588]])
    expect(oversized([{ topic: 'alerts', records: [big] }, { topic: 'state', records: [small, big, big] }], limits))
      .toEqual({ topic: 'state', key: 'events/0', bytes: recordBytes(big) + 1024, limit: 4_096 })
  })

  it('lets through a record at the limit, counts UTF-8 bytes (not characters) and skips topics without a limit', () => {
    const limits = new Map([['state', 4_096]])
    // 4,096 bytes with the record batch's overhead (1,024) and a record's (64): a value of 3,008 bytes; one more is over.
    const at = { key: null, value: 'a'.repeat(3_008) }
    expect(recordBytes(at) + 1024).toBe(4_096)
    expect(oversized([{ topic: 'state', records: [at] }], limits)).toBeNull()
    expect(oversized([{ topic: 'state', records: [{ key: null, value: 'a'.repeat(3_009) }] }], limits)?.bytes).toBe(4_097)
    // 1,100 three-byte characters: 3,300 bytes, over the limit with the overheads.
    const wide = { key: null, value: '€'.repeat(1_100) }
    expect(oversized([{ topic: 'state', records: [wide] }], limits)?.bytes).toBe(3_300 + 64 + 1024)
    expect(oversized([{ topic: 'other', records: [{ key: null, value: 'z'.repeat(10_000) }] }], limits)).toBeNull()
  })
})
