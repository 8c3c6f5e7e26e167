// Input files' records: several files merged by event time, as `run` merges its topics.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { createLineDecoder } from '../../../src/decode/formats.ts'
import { readRecords } from '../../../src/sources/records.ts'
import type { FileRecord } from '../../../src/sources/records.ts'

const flow = (ts: number, deviceId: string) => JSON.stringify({ type: 'egress', ts, deviceId, dstIp: '198.51.100.7', dstPort: 443, proto: 'tcp', bytesOut: 100 })

/** The records of `files` as `file:line ts` (or `file:line outcome`), in the order they come. */
const read = async (dir: string, files: string[], maxLineBytes = 1 << 20) => {
  const seen: string[] = []
  const lines = await readRecords(
    files.map((f) => ({ path: join(dir, f), size: 0 })),
    { decoder: () => createLineDecoder('auto'), maxLineBytes },
    (r: FileRecord) => {
      const where = `${r.file.slice(dir.length + 1)}:${r.line}`
      seen.push(r.result === null ? `${where} too long` : r.result.ok === true ? `${where} ${r.result.event.ts}` : `${where} ${r.result.reason}`)
    },
  )
  return { seen, lines }
}

describe('readRecords', () => {
  it('merges several files by event time, records without an event as they are read, ties in the files\' order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egress-records-'))
    writeFileSync(join(dir, 'a.ndjson'), [flow(10, 'a'), flow(30, 'a'), 'not json', flow(50, 'a')].join('\n') + '\n')
    writeFileSync(join(dir, 'b.ndjson.gz'), gzipSync([flow(20, 'b'), flow(30, 'b'), '', flow(60, 'b')].join('\n') + '\n'))
    const { seen, lines } = await read(dir, ['a.ndjson', 'b.ndjson.gz'])
    // a's bad line comes up once a's 30 is taken, before b's 30: a record without an event does not wait.
    expect(seen).toEqual(['a.ndjson:1 10', 'b.ndjson.gz:1 20', 'a.ndjson:2 30', 'a.ndjson:3 invalid_json', 'b.ndjson.gz:2 30', 'b.ndjson.gz:3 blank', 'a.ndjson:4 50', 'b.ndjson.gz:4 60'])
    expect(lines).toBe(8)
  })

  it('holds a chunk per file: files of many thousand records each merge in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egress-records-'))
    const n = 40_000
    for (const [name, offset] of [['even.ndjson', 0], ['odd.ndjson', 1]] as const) {
      writeFileSync(join(dir, name), Array.from({ length: n }, (_, i) => flow(2 * i + offset, name)).join('\n') + '\n')
    }
    const { seen } = await read(dir, ['even.ndjson', 'odd.ndjson'])
    const times = seen.map((s) => Number(s.split(' ')[1]))
    expect(times).toEqual(Array.from({ length: 2 * n }, (_, i) => i))
  })

  it('gives an over-long line as a record of no result, in its file\'s place', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egress-records-'))
    writeFileSync(join(dir, 'a.ndjson'), [flow(10, 'a'), 'x'.repeat(5000), flow(30, 'a')].join('\n') + '\n')
    writeFileSync(join(dir, 'b.ndjson'), flow(20, 'b') + '\n')
    expect((await read(dir, ['a.ndjson', 'b.ndjson'], 1024)).seen).toEqual(['a.ndjson:1 10', 'a.ndjson:2 too long', 'b.ndjson:1 20', 'a.ndjson:3 30'])
  })

  it('fails as the file that cannot be read fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egress-records-'))
    writeFileSync(join(dir, 'a.ndjson'), flow(10, 'a') + '\n')
    await expect(read(dir, ['a.ndjson', 'missing.ndjson'])).rejects.toThrow('missing.ndjson')
  })
})
