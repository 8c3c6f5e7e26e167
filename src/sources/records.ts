// Input files' records, decoded: one file in its order, several merged by event time (as `run` merges its topics).
import { splitObjects } from '../decode/formats.ts'
import type { LineDecoder } from '../decode/formats.ts'
import type { DecodeResult } from '../decode/result.ts'
import { forEachLine } from './file.ts'
import type { InputFile, LineReadOptions } from './file.ts'
import type { CutBytes } from '../sinks/dead-letter.ts'

/** One record of an input file: what it decoded to, its text (or what was kept of an over-long line), where it was. */
export interface FileRecord {
  readonly result: DecodeResult | null
  readonly raw: string | CutBytes
  readonly file: string
  readonly line: number
}

export interface RecordReadOptions extends Omit<LineReadOptions, 'afterChunk' | 'onOversize'> {
  /** A decoder for each file (its own: Zeek's TSV header is a file's). */
  readonly decoder: () => LineDecoder
}

/**
 * Each record of a file in its order: a line decoded, a line holding records back to back (goflow2's
 * two workers) one record at a time, an over-long line as a record of no result (`result` null).
 * Returns the lines read.
 */
const readFile = async (file: InputFile, options: RecordReadOptions, take: (r: FileRecord) => void, afterChunk?: () => Promise<void>): Promise<number> => {
  const decoder = options.decoder()
  let line = 0
  await forEachLine(
    file.path,
    (text) => {
      line++
      const result = decoder.decode(text)
      const parts = result.ok === false && result.reason === 'invalid_json' ? splitObjects(text) : null
      if (parts === null) take({ result, raw: text, file: file.path, line })
      else for (const part of parts) take({ result: decoder.decode(part), raw: part, file: file.path, line })
    },
    {
      ...options,
      ...(afterChunk === undefined ? {} : { afterChunk }),
      onOversize: (cut) => {
        line++
        take({ result: null, raw: cut, file: file.path, line })
      },
    },
  )
  return line
}

/** Where a record goes in the merge: its event's time; records with no event (skips, dead letters) at once. */
const timeOf = (r: FileRecord): number => (r.result?.ok === true ? r.result.event.ts : -Infinity)

/** One file being read in a merge: the records of its last chunk not taken yet. */
interface Cursor {
  readonly queue: FileRecord[]
  head: number
  done: boolean
  failed: unknown
  /** Resolves the file's reader, waiting after a chunk until the merge took it. */
  resume: (() => void) | null
  /** Resolves the merge, waiting for the file's next chunk. */
  filled: (() => void) | null
}

/**
 * The records of `files`, to `take`: one file's in its order; several files' merged by event time,
 * the earliest first (ties in the files' order; records without an event as soon as they are read),
 * as `run` merges its inputs. Each file is read a chunk at a time and waits until the merge has
 * taken that chunk, so memory holds one chunk per file. Returns the lines read.
 */
export const readRecords = async (files: readonly InputFile[], options: RecordReadOptions, take: (r: FileRecord) => void): Promise<number> => {
  if (files.length <= 1) {
    let lines = 0
    for (const f of files) lines += await readFile(f, options, take)
    return lines
  }
  const cursors: Cursor[] = files.map(() => ({ queue: [], head: 0, done: false, failed: undefined, resume: null, filled: null }))
  const readers = files.map((f, i) => {
    const c = cursors[i]!
    const wake = (): void => {
      c.filled?.()
      c.filled = null
    }
    return readFile(f, options, (r) => void c.queue.push(r), () => {
      wake()
      return c.head < c.queue.length ? new Promise<void>((resolve) => (c.resume = resolve)) : Promise.resolve()
    }).then(
      (lines) => {
        c.done = true
        wake()
        return lines
      },
      (err: unknown) => {
        c.done = true
        c.failed = err
        wake()
        return 0
      },
    )
  })
  for (;;) {
    // Every file still being read has a record in hand, or is asked for its next chunk.
    for (const c of cursors) {
      while (c.head >= c.queue.length && !c.done) {
        c.queue.length = 0
        c.head = 0
        const filled = new Promise<void>((resolve) => (c.filled = resolve))
        c.resume?.()
        c.resume = null
        await filled
      }
      if (c.failed !== undefined) {
        for (const other of cursors) other.resume?.()
        throw c.failed
      }
    }
    let next = -1
    let at = Infinity
    for (let i = 0; i < cursors.length; i++) {
      const c = cursors[i]!
      if (c.head >= c.queue.length) continue
      const t = timeOf(c.queue[c.head]!)
      if (next < 0 || t < at) {
        next = i
        at = t
      }
    }
    if (next < 0) break
    const c = cursors[next]!
    take(c.queue[c.head]!)
    c.queue[c.head++] = undefined as never
  }
  return (await Promise.all(readers)).reduce((a, b) => a + b, 0)
}
