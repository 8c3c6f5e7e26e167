// kafkajs as patched (patches/kafkajs+2.2.4.patch): the record batches' CRC-32C, eight bytes a step, is the checksum the byte-at-a-time definition gives.
import { createRequire } from 'node:module'
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'

const require = createRequire(import.meta.url)
const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js') as (b: Buffer) => number

/** CRC-32C by its definition: the reflected Castagnoli polynomial, a bit at a time. */
const reference = (b: Buffer): number => {
  let crc = 0xffffffff
  for (const byte of b) {
    crc ^= byte
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1
  }
  return (crc ^ 0xffffffff) >>> 0
}

describe('CRC-32C of kafkajs record batches', () => {
  it('gives the check value of "123456789" (0xE3069283) and of nothing (0)', () => {
    expect(crc32C(Buffer.from('123456789'))).toBe(0xe3069283)
    expect(crc32C(Buffer.alloc(0))).toBe(0)
  })

  it('matches the definition on every length up to 70 bytes and on a large buffer, at any start within a larger one', () => {
    const data = randomBytes(70_000)
    for (let length = 0; length <= 70; length++) {
      for (const start of [0, 1, 3, 7]) {
        const b = data.subarray(start, start + length)
        expect(crc32C(b), `length ${length} from ${start}`).toBe(reference(b))
      }
    }
    expect(crc32C(data.subarray(5))).toBe(reference(data.subarray(5)))
  })
})
