// NDJSON / log file source for replay and produce: expands directories, reads plain or gzipped files in big chunks, yields lines of bounded length.
import { createHash } from 'node:crypto'
import type { Hash } from 'node:crypto'
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

/** The default bound on one record, in bytes: far above any real event, far below what hurts the heap. */
export const DEFAULT_MAX_LINE_BYTES = 256 * 1024
const DEFAULT_PREFIX_BYTES = 64 * 1024
const DEFAULT_MAX_GZIP_RATIO = 200
/** Decompressed bytes always allowed on top of the ratio, so that a small, highly compressible file still reads. */
const GZIP_ALLOWANCE_BYTES = 64 << 20

export interface LineReadOptions {
  /** File bytes consumed (compressed bytes for .gz), for progress. */
  readonly onBytes?: (n: number) => void
  /** Awaited after each chunk's lines (back-pressure for a consumer that does I/O with them). */
  readonly afterChunk?: () => Promise<void>
  /** Lines longer than this (bytes, without the line end) are not passed to onLine but to onOversize. */
  readonly maxLineBytes: number
  /** In place of onLine for an over-long line, in file order: its whole length, the first `prefixBytes` of it, and the SHA-256 (hex) of the whole line. */
  readonly onOversize: (line: OversizeLine) => void
  /** How many bytes of an over-long line to keep (default 64 KiB, at most maxLineBytes). */
  readonly prefixBytes?: number
  /** .gz only: fail (AppError EGD_INPUT naming the file) once decompressed bytes exceed ratio × compressed bytes read + 64 MiB. Default 200. */
  readonly maxGzipRatio?: number
}

export interface OversizeLine {
  /** The whole line's length in bytes, without its line end. */
  readonly bytes: number
  /** Its first `prefixBytes` bytes, a copy the caller may keep. */
  readonly prefix: Buffer
  /** SHA-256 (hex) of the whole line: identifies it without keeping it. */
  readonly sha256: string
}

const LF = 10
const CR = 13
const CR_BYTE = Buffer.from([CR])

/**
 * The part of a line that runs on past the end of a chunk. While it may still fit the bound it is
 * kept as a list of pieces, joined once at its end (joining a growing carry on every chunk is
 * quadratic); past the bound it is only hashed and counted, chunk by chunk, keeping its prefix.
 */
class LineCarry {
  private pieces: Buffer[] = []
  /** Bytes of the line so far: kept in pieces (a trailing CR included), or hashed. */
  private bytes = 0
  private hash: Hash | null = null
  private prefix: Buffer | null = null
  private kept = 0
  /** While hashing: a CR at the end of what was fed, not yet hashed since it may be the CR of a CRLF. */
  private heldCR = false

  constructor(
    private readonly maxLineBytes: number,
    private readonly prefixBytes: number,
    private readonly onLine: (line: string) => void,
    private readonly onOversize: (line: OversizeLine) => void,
  ) {}

  get empty(): boolean {
    return this.bytes === 0 && this.hash === null
  }

  /** Adds `buf[start, end)`, part of a line that goes on past this chunk. */
  add(buf: Buffer, start: number, end: number): void {
    if (start === end) return
    // Up to maxLineBytes + 1 bytes may still be a line within the bound followed by the CR of a CRLF.
    if (this.hash === null && this.bytes + (end - start) <= this.maxLineBytes + 1) {
      this.pieces.push(buf.subarray(start, end))
      this.bytes += end - start
      return
    }
    if (this.hash === null) this.startHash()
    this.feed(buf, start, end)
  }

  /** Ends the carried line at the LF at `nl` in `buf`. */
  endAt(buf: Buffer, nl: number): void {
    if (this.hash === null) {
      const total = this.bytes + nl
      const last = this.pieces[this.pieces.length - 1]
      const length = (nl > 0 ? buf[nl - 1] === CR : last !== undefined && last[last.length - 1] === CR) ? total - 1 : total
      if (length <= this.maxLineBytes) {
        this.pieces.push(buf.subarray(0, nl))
        const line = Buffer.concat(this.pieces, total)
        this.pieces = []
        this.bytes = 0
        this.onLine(line.toString('utf8', 0, length))
        return
      }
      this.startHash()
    }
    this.feed(buf, 0, nl)
    this.heldCR = false // the CR of a CRLF is the line end, not the line
    this.report()
  }

  /** At the end of the file: the carried bytes are a last line without a line end, a trailing CR included. */
  finish(): void {
    if (this.empty) return
    if (this.hash === null && this.bytes <= this.maxLineBytes) {
      const line = Buffer.concat(this.pieces, this.bytes)
      this.pieces = []
      this.bytes = 0
      this.onLine(line.toString('utf8'))
      return
    }
    if (this.hash === null) this.startHash()
    if (this.heldCR) this.take(CR_BYTE, 0, 1)
    this.heldCR = false
    this.report()
  }

  /** Reports `buf[start, end)`, a whole over-long line within one chunk, line end excluded. */
  oversize(buf: Buffer, start: number, end: number): void {
    this.startHash()
    this.take(buf, start, end)
    this.report()
  }

  private startHash(): void {
    this.hash = createHash('sha256')
    this.prefix = Buffer.allocUnsafe(this.prefixBytes)
    const pieces = this.pieces
    this.pieces = []
    this.bytes = 0
    for (const piece of pieces) this.feed(piece, 0, piece.length)
  }

  /** Hashes `buf[start, end)` but for a trailing CR, held back until it is known not to end the line. */
  private feed(buf: Buffer, start: number, end: number): void {
    if (start === end) return
    if (this.heldCR) this.take(CR_BYTE, 0, 1)
    this.heldCR = buf[end - 1] === CR
    this.take(buf, start, this.heldCR ? end - 1 : end)
  }

  private take(buf: Buffer, start: number, end: number): void {
    this.hash!.update(buf.subarray(start, end))
    if (this.kept < this.prefixBytes) this.kept += buf.copy(this.prefix!, this.kept, start, Math.min(end, start + this.prefixBytes - this.kept))
    this.bytes += end - start
  }

  private report(): void {
    const line: OversizeLine = { bytes: this.bytes, prefix: this.prefix!.subarray(0, this.kept), sha256: this.hash!.digest('hex') }
    this.hash = null
    this.prefix = null
    this.kept = 0
    this.bytes = 0
    this.onOversize(line)
  }
}

const checkOptions = (options: LineReadOptions): { prefixBytes: number; maxGzipRatio: number } => {
  const { maxLineBytes, prefixBytes = DEFAULT_PREFIX_BYTES, maxGzipRatio = DEFAULT_MAX_GZIP_RATIO } = options
  if (!Number.isSafeInteger(maxLineBytes) || maxLineBytes < 1) throw new AppError('EGD_USAGE', `maxLineBytes: expected a whole number of bytes >= 1, got ${maxLineBytes}`)
  if (!Number.isSafeInteger(prefixBytes) || prefixBytes < 0) throw new AppError('EGD_USAGE', `prefixBytes: expected a whole number of bytes >= 0, got ${prefixBytes}`)
  if (!(maxGzipRatio > 0)) throw new AppError('EGD_USAGE', `maxGzipRatio: expected a number > 0, got ${maxGzipRatio}`)
  return { prefixBytes: Math.min(prefixBytes, maxLineBytes), maxGzipRatio }
}

/**
 * Calls `onLine` for each line (LF or CRLF) of a file, read in 1 MiB chunks; `.gz` files are
 * gunzipped. A callback, not an async iterator: one promise per chunk instead of one per line.
 * Time is linear in the file and memory bounded by `maxLineBytes` plus a chunk or two: a line
 * over the bound goes to `onOversize` instead, hashed as it streams by, never assembled.
 */
export const forEachLine = async (path: string, onLine: (line: string) => void, options: LineReadOptions): Promise<void> => {
  const { onBytes, afterChunk, maxLineBytes } = options
  const { prefixBytes, maxGzipRatio } = checkOptions(options)
  const gzip = path.endsWith('.gz')
  const raw = createReadStream(path, { highWaterMark: 1 << 20 })
  let read = 0
  if (onBytes || gzip) {
    raw.on('data', (chunk) => {
      read += chunk.length
      onBytes?.(chunk.length)
    })
  }
  let stream: NodeJS.ReadableStream = raw
  if (gzip) {
    const gunzip = createGunzip()
    // pipe() does not pass read errors on: hand them to the gunzip stream the loop reads.
    raw.on('error', (err) => gunzip.destroy(err))
    stream = raw.pipe(gunzip)
  }
  const carry = new LineCarry(maxLineBytes, prefixBytes, onLine, options.onOversize)
  let inflated = 0
  let refused: AppError | null = null
  let inCallback = false
  try {
    for await (const buf of stream as AsyncIterable<Buffer>) {
      // A gzip bomb: stop before the output, not the file, decides how long this takes.
      if (gzip && (inflated += buf.length) > maxGzipRatio * read + GZIP_ALLOWANCE_BYTES) {
        throw (refused = new AppError('EGD_INPUT', `cannot read ${path}: it inflates to more than maxGzipRatio ${maxGzipRatio} × ${read} compressed bytes + 64 MiB`))
      }
      let start = 0
      let nl = buf.indexOf(LF)
      if (!carry.empty) {
        if (nl < 0) {
          carry.add(buf, 0, buf.length)
          start = buf.length
        } else {
          carry.endAt(buf, nl)
          start = nl + 1
          nl = buf.indexOf(LF, start)
        }
      }
      while (nl >= 0) {
        const end = nl > start && buf[nl - 1] === CR ? nl - 1 : nl
        if (end - start <= maxLineBytes) onLine(buf.toString('utf8', start, end))
        else carry.oversize(buf, start, end)
        start = nl + 1
        nl = buf.indexOf(LF, start)
      }
      carry.add(buf, start, buf.length)
      if (afterChunk) {
        inCallback = true
        await afterChunk()
        inCallback = false
      }
    }
  } catch (err) {
    if (inCallback || err === refused) throw err // the consumer's own failure, or ours: not the file's
    throw new AppError('EGD_INPUT', `cannot read ${path}: ${(err as Error).message}`, { cause: err })
  } finally {
    // A gunzip stream ended early leaves the file stream paused and open.
    raw.destroy()
  }
  carry.finish()
}
