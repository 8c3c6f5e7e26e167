// The line reader of replay and produce: exact lines across chunk boundaries, over-long lines reported (length, prefix, hash) and skipped, gzip bombs refused.
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { isAppError } from '../../../src/errors.ts'
import { DEFAULT_MAX_LINE_BYTES, forEachLine } from '../../../src/sources/file.ts'
import type { LineReadOptions } from '../../../src/sources/file.ts'

/** The reader's chunk: the file stream's highWaterMark. */
const CHUNK = 1 << 20
const MiB = 1 << 20

const dir = mkdtempSync(join(tmpdir(), 'egress-file-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

let files = 0
const fileOf = (content: Buffer | string, ending = '.ndjson'): string => {
  const path = join(dir, `f${files++}${ending}`)
  writeFileSync(path, content)
  return path
}

/** What the reader saw, in file order: a line as a string, an over-long line as its report. */
type Seen = string | { bytes: number; prefix: string; sha256: string }

const read = async (path: string, options: Partial<LineReadOptions> = {}): Promise<Seen[]> => {
  const seen: Seen[] = []
  await forEachLine(path, (line) => seen.push(line), {
    maxLineBytes: DEFAULT_MAX_LINE_BYTES,
    ...options,
    onOversize: (o) => seen.push({ bytes: o.bytes, prefix: o.prefix.toString('latin1'), sha256: o.sha256 }),
  })
  return seen
}

/** The report expected for a line of exactly these bytes (line end excluded). */
const over = (line: Buffer, prefixBytes: number): Seen => ({
  bytes: line.length,
  prefix: line.subarray(0, prefixBytes).toString('latin1'),
  sha256: createHash('sha256').update(line).digest('hex'),
})

/** `n` bytes of printable ASCII, varied so that a misplaced byte shows. */
const text = (n: number, seed = 0): Buffer => {
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) b[i] = 33 + ((i * 7 + seed) % 90)
  return b
}

const errorOf = async (p: Promise<unknown>): Promise<{ code: string; message: string }> => {
  try {
    await p
  } catch (err) {
    if (isAppError(err)) return { code: err.code, message: err.message }
    throw err
  }
  throw new Error('expected an error')
}

describe('forEachLine', () => {
  it('passes lines that cross chunk boundaries exactly: one spanning three chunks, a CRLF split between chunks, a UTF-8 character split in two', async () => {
    const long = text(CHUNK * 2 + 1000, 1) // starts in chunk 0, ends in chunk 2
    const head = Buffer.from('first\n')
    const toCR = text(CHUNK * 3 - 1 - (head.length + long.length + 1), 2) // its CR is the last byte of chunk 2
    const euro = Buffer.from('€') // 3 bytes, the first two at the end of chunk 3
    const beforeEuro = text(CHUNK * 4 - (CHUNK * 3 + 1) - 2, 3)
    const content = Buffer.concat([
      head, long, Buffer.from('\n'), toCR, Buffer.from('\r\n'), beforeEuro, euro, Buffer.from('tail\r\nlast'),
    ])
    expect(content.indexOf('\r\n', CHUNK * 3 - 1)).toBe(CHUNK * 3 - 1)
    expect(content.indexOf(euro)).toBe(CHUNK * 4 - 2)
    const lines = await read(fileOf(content), { maxLineBytes: 4 * MiB })
    expect(lines).toEqual(['first', long.toString(), toCR.toString(), `${beforeEuro.toString()}€tail`, 'last'])
  })

  it('reports an over-long line in the middle once, with its exact length, its prefix and its SHA-256, the lines around it intact and in order', async () => {
    const line = text(3 * MiB + 17, 4)
    line[CHUNK * 2 - 6] = 13 // a CR inside the line, the last byte of a chunk: part of the line, not a line end
    line[100] = 13
    const content = Buffer.concat([Buffer.from('a\nb\r\n'), line, Buffer.from('\r\nc\n\nd\n')])
    expect(content[CHUNK * 2 - 1]).toBe(13)
    expect(await read(fileOf(content), { maxLineBytes: 1000, prefixBytes: 300 })).toEqual(['a', 'b', over(line, 300), 'c', '', 'd'])
  })

  it('reports an over-long line inside one chunk, keeping 64 KiB of it by default, or maxLineBytes if fewer', async () => {
    const line = text(200_000, 5)
    const path = fileOf(Buffer.concat([Buffer.from('x\n'), line, Buffer.from('\ny\n')]))
    expect(await read(path, { maxLineBytes: 100_000 })).toEqual(['x', over(line, 64 * 1024), 'y'])
    expect(await read(path, { maxLineBytes: 1000 })).toEqual(['x', over(line, 1000), 'y'])
  })

  it('reports an over-long last line without a newline, its trailing CR counted as part of it (a last line keeps its CR, as ever)', async () => {
    const line = Buffer.concat([text(2 * MiB + 5, 6), Buffer.from('\r')])
    expect(await read(fileOf(Buffer.concat([Buffer.from('a\n'), line])), { maxLineBytes: 1000, prefixBytes: 10 })).toEqual(['a', over(line, 10)])
    expect(await read(fileOf('a\n0123456789AB'), { maxLineBytes: 10 })).toEqual(['a', over(Buffer.from('0123456789AB'), 10)])
  })

  it('bounds a line by its bytes without the line end: maxLineBytes bytes pass, one more is over-long, also where the line crosses a chunk and its CR ends the chunk', async () => {
    expect(await read(fileOf('0123456789\r\n0123456789A\nok'), { maxLineBytes: 10 })).toEqual(['0123456789', over(Buffer.from('0123456789A'), 10), 'ok'])
    // A line of 200 bytes whose CR is the last byte of chunk 0 and its LF the first of chunk 1.
    const line = text(200, 7)
    const content = Buffer.concat([text(CHUNK - 202, 8), Buffer.from('\n'), line, Buffer.from('\r\nend\n')])
    expect(content[CHUNK - 1]).toBe(13)
    const path = fileOf(content)
    expect((await read(path, { maxLineBytes: 200, prefixBytes: 50 })).slice(1)).toEqual([line.toString(), 'end'])
    expect((await read(path, { maxLineBytes: 199, prefixBytes: 50 })).slice(1)).toEqual([over(line, 50), 'end'])
    expect((await read(path, { maxLineBytes: 100, prefixBytes: 50 })).slice(1)).toEqual([over(line, 50), 'end'])
    // maxLineBytes + 1 bytes ending a chunk, then the LF: not a CR, so one byte over.
    const plus1 = text(201, 9)
    const next = fileOf(Buffer.concat([text(CHUNK - 202, 8), Buffer.from('\n'), plus1, Buffer.from('\nend\n')]))
    expect((await read(next, { maxLineBytes: 200, prefixBytes: 50 })).slice(1)).toEqual([over(plus1, 50), 'end'])
  })

  it('drops the CR of a CRLF only: a lone CR inside a line stays, a last line without a newline keeps its CR', async () => {
    expect(await read(fileOf('a\r\nb\rc\r\n\r\nd\r'))).toEqual(['a', 'b\rc', '', 'd\r'])
  })

  it('gives the normal lines around a 20 MB line and one report for it, with the default bound of 256 KiB', async () => {
    const line = text(20_000_000, 9)
    const content = Buffer.concat([Buffer.from('{"n":1}\n{"n":2}\n'), line, Buffer.from('\n{"n":3}\n')])
    expect(await read(fileOf(content), { prefixBytes: 16 })).toEqual(['{"n":1}', '{"n":2}', over(line, 16), '{"n":3}'])
  })

  it('reads a .gz with normal content as the same lines as the plain file', async () => {
    const content = Buffer.concat([text(CHUNK + 3, 10), Buffer.from('\r\nx\n\n'), text(5000, 11), Buffer.from('\ny')])
    const plain = await read(fileOf(content), { maxLineBytes: 2 * MiB })
    expect(plain).toHaveLength(5)
    expect(await read(fileOf(gzipSync(content), '.ndjson.gz'), { maxLineBytes: 2 * MiB })).toEqual(plain)
  })

  it('reports a 64 MiB single line of a 64 KB gzip as one oversize line of exactly 67108864 bytes, under the default ratio', async () => {
    const line = Buffer.alloc(64 << 20, 'a')
    const gz = gzipSync(line)
    expect(gz.length).toBeLessThan(100_000)
    expect(await read(fileOf(gz, '.gz'))).toEqual([over(line, 64 * 1024)])
  })

  it('fails with EGD_INPUT naming the file and maxGzipRatio once a gzip inflates past ratio × its bytes + 64 MiB', async () => {
    // 64 MiB are allowed whatever the ratio: this one inflates to 1 MiB more.
    const path = fileOf(gzipSync(Buffer.alloc(65 << 20, 'a')), '.gz')
    const seen: unknown[] = []
    const e = await errorOf(forEachLine(path, (l) => seen.push(l), { maxLineBytes: 1000, maxGzipRatio: 1, onOversize: (o) => seen.push(o) }))
    expect(e.code).toBe('EGD_INPUT')
    expect(e.message).toMatch(new RegExp(`^cannot read ${path}: it inflates to more than maxGzipRatio 1 × \\d+ compressed bytes \\+ 64 MiB$`))
    expect(seen).toEqual([])
  })

  it('rejects options out of range, naming each', async () => {
    const path = fileOf('a\n')
    expect(await errorOf(read(path, { maxLineBytes: 0 }))).toEqual({ code: 'EGD_USAGE', message: 'maxLineBytes: expected a whole number of bytes >= 1, got 0' })
    expect(await errorOf(read(path, { prefixBytes: 1.5 }))).toEqual({ code: 'EGD_USAGE', message: 'prefixBytes: expected a whole number of bytes >= 0, got 1.5' })
    expect(await errorOf(read(path, { maxGzipRatio: Number.NaN }))).toEqual({ code: 'EGD_USAGE', message: 'maxGzipRatio: expected a number > 0, got NaN' })
  })

  it('reports every file byte to onBytes (the compressed ones for a .gz) and awaits afterChunk after each chunk', async () => {
    const content = Buffer.concat([text(CHUNK * 2 + 10, 12), Buffer.from('\n')])
    for (const path of [fileOf(content), fileOf(gzipSync(content), '.gz')]) {
      let bytes = 0
      let chunks = 0
      await forEachLine(path, () => {}, { maxLineBytes: 10, onOversize: () => {}, onBytes: (n) => void (bytes += n), afterChunk: async () => void chunks++ })
      expect(bytes).toBe(path.endsWith('.gz') ? gzipSync(content).length : content.length)
      expect(chunks).toBeGreaterThanOrEqual(3)
    }
  })
})
