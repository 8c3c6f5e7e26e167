// One input record of the Kafka path → events into a shard's pipeline, dead letters or skips: a function of the record, its topic's format and the limits.
import { decodeRecord } from '../decode/formats.ts'
import type { InputFormat } from '../decode/formats.ts'
import type { Config } from '../config/schema.ts'
import { ingestDecoded } from '../pipeline.ts'
import type { IngestResult, LineOutcomes } from '../pipeline.ts'
import type { DeviceEvent } from '../types.ts'

/**
 * Where a record's outcomes go; the caller counts them and turns dead letters into records. A dead
 * letter's bytes: the record, or the line of it that failed when the record holds several.
 */
export type RecordOutcomes = LineOutcomes<Buffer>

export interface RecordContext {
  /** Takes each event: the shard's pipeline, or what waits for the fleet view in front of it (it throws to stop the record). */
  readonly target: { ingest(event: DeviceEvent, nowMs: number): IngestResult }
  readonly config: Config
  readonly format: InputFormat
  /** The wall clock event times are bounded by. */
  readonly nowMs: number
  /**
   * `from`: lines of the record already in the shard's state (a record its shard stopped in, waiting
   * for the fleet view), skipped; `line`: the line being ingested, for whoever stops the record.
   */
  readonly position: { from: number; line: number }
}

const EMPTY = Buffer.alloc(0)
const NEWLINE = 10

/**
 * Dead letters one record may give line by line; past them its other failing lines make one dead
 * letter of the whole record (a 256 KiB record of one-byte lines would otherwise make 131,072).
 */
export const MAX_DEAD_LINES = 64

/**
 * Decodes one record and feeds its events to the pipeline; returns how many lines it held (the
 * work done, for heartbeats). A collector may put several newline-separated records in one message
 * (pmacct does): each line is decoded on its own, and a line's dead letter carries that line's own
 * bytes; the newline that ends the last line is no blank line. A record above
 * `input.maxRecordBytes` is a dead letter before anything reads it. Never throws for any bytes.
 */
export const ingestRecord = (value: Buffer | null, ctx: RecordContext, out: RecordOutcomes): number => {
  if (value === null || value.length === 0) {
    out.dead('schema', '(root): empty record', EMPTY)
    return 1
  }
  const max = ctx.config.input.maxRecordBytes
  if (value.length > max) {
    out.dead('too_large', `record of ${value.length} bytes exceeds input.maxRecordBytes (${max})`, value)
    return 1
  }
  let nl = value.indexOf(NEWLINE)
  const position = ctx.position
  position.line = 0
  if (nl < 0) {
    if (position.from === 0) ingestLine(value, ctx, out, true)
    return 1
  }
  let lines = 0
  let failed = 0
  for (let start = 0; start < value.length; nl = value.indexOf(NEWLINE, start)) {
    const end = nl < 0 ? value.length : nl
    if (lines >= position.from) {
      position.line = lines
      // (The dead-letter allowance of a record started again counts from where it went on.)
      const ok = ingestLine(value.subarray(start, end), ctx, out, failed < MAX_DEAD_LINES)
      if (!ok) failed++
    }
    lines++
    start = end + 1
  }
  if (failed > MAX_DEAD_LINES) {
    out.dead('too_many_errors', `${failed} of the record's ${lines} lines failed: the first ${MAX_DEAD_LINES} have dead letters of their own`, value)
  }
  return lines
}

/**
 * One line (`bytes`; the whole record when it holds one line): false when it failed. A failure
 * becomes a dead letter when `report` (a record's first MAX_DEAD_LINES failures), else it is only counted.
 */
const ingestLine = (bytes: Buffer, ctx: RecordContext, out: RecordOutcomes, report: boolean): boolean =>
  ingestDecoded(decodeRecord(bytes.toString('utf8'), ctx.format, ctx.config.input.timeZone), bytes, ctx.target, ctx.nowMs, ctx.config, out, report)
