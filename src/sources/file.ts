// NDJSON / log file source for replay: expands directories, reads plain or gzipped files in big chunks, yields lines.
import { createReadStream, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { createGunzip } from 'node:zlib'
import { AppError } from '../errors.ts'

/** File endings replay reads when given a directory. */
const INPUT_ENDINGS = ['.ndjson', '.jsonl', '.log', '.labeled', '.csv', '.tsv', '.gz']

export interface InputFile {
  readonly path: string
  readonly size: number
}

/** Expands files and directories (one level of sorted entries, recursively) into input files. */
export const expandInputs = (paths: readonly string[]): InputFile[] => {
  const out: InputFile[] = []
  const visit = (path: string, explicit: boolean): void => {
    let st
    try {
      st = statSync(path)
    } catch (err) {
      // A path that does not exist is a usage error (exit 2), like a bad option.
      const code = (err as NodeJS.ErrnoException).code ?? 'error'
      throw new AppError(code === 'ENOENT' ? 'EGD_USAGE' : 'EGD_INPUT', `cannot read input ${path}: ${code}`, { cause: err })
    }
    if (st.isDirectory()) {
      for (const name of readdirSync(path).sort()) visit(join(path, name), false)
    } else if (explicit || INPUT_ENDINGS.some((e) => path.endsWith(e))) {
      out.push({ path, size: st.size })
    }
  }
  for (const p of paths) visit(p, true)
  return out
}

/**
 * Calls `onLine` for each line (LF or CRLF) of a file, read in 1 MiB chunks; `.gz` files are
 * gunzipped. A callback, not an async iterator: one promise per chunk instead of one per line.
 * `onBytes` reports file bytes consumed, for progress; `afterChunk`, when given, is awaited after
 * each chunk's lines (back-pressure for a consumer that does I/O with them).
 */
export const forEachLine = async (
  path: string,
  onLine: (line: string) => void,
  onBytes?: (n: number) => void,
  afterChunk?: () => Promise<void>,
): Promise<void> => {
  const raw = createReadStream(path, { highWaterMark: 1 << 20 })
  if (onBytes) raw.on('data', (chunk) => onBytes(chunk.length))
  let stream: NodeJS.ReadableStream = raw
  if (path.endsWith('.gz')) {
    const gunzip = createGunzip()
    // pipe() does not pass read errors on: hand them to the gunzip stream the loop reads.
    raw.on('error', (err) => gunzip.destroy(err))
    stream = raw.pipe(gunzip)
  }
  let carry: Buffer | null = null
  let inCallback = false
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const buf: Buffer = carry === null ? chunk : Buffer.concat([carry, chunk])
      let start = 0
      let nl = buf.indexOf(10, start)
      while (nl >= 0) {
        const end = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl
        onLine(buf.toString('utf8', start, end))
        start = nl + 1
        nl = buf.indexOf(10, start)
      }
      carry = start < buf.length ? buf.subarray(start) : null
      if (afterChunk) {
        inCallback = true
        await afterChunk()
        inCallback = false
      }
    }
  } catch (err) {
    if (inCallback) throw err // the consumer's own failure, not the file's
    throw new AppError('EGD_INPUT', `cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
  if (carry !== null && carry.length > 0) onLine(carry.toString('utf8'))
}
