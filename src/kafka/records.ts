// One input record of the Kafka path → events into a shard's pipeline, dead letters or skips: a function of the record, its topic's format and the limits.
import { decodeRecord } from '../decode/formats.ts'
import type { InputFormat } from '../decode/formats.ts'
import type { DecodeFailureReason, SkipReason } from '../decode/result.ts'
import type { Config } from '../config/schema.ts'
import { clockBoundError } from '../pipeline.ts'
import type { DetectionPipeline } from '../pipeline.ts'
import type { DeviceEvent } from '../types.ts'

/** Where a record's outcomes go; the caller counts them and turns dead letters into records. */
export interface RecordOutcomes {
  accepted(event: DeviceEvent): void
  late(): void
  /** `bytes`: the record, or the line of it that failed when the record holds several. */
  dead(reason: DecodeFailureReason, error: string, bytes: Buffer): void
  skipped(reason: SkipReason): void
}

export interface RecordContext {
  readonly pipeline: DetectionPipeline
  readonly config: Config
  readonly format: InputFormat
  /** The wall clock event times are bounded by. */
  readonly nowMs: number
}

const EMPTY = Buffer.alloc(0)
const NEWLINE = 10

/**
 * Decodes one record and feeds its events to the pipeline. A collector may put several
 * newline-separated records in one message (pmacct does): each line is decoded on its own. A record
 * above `input.maxRecordBytes` is a dead letter before anything reads it. Never throws for any bytes.
 */
export const ingestRecord = (value: Buffer | null, ctx: RecordContext, out: RecordOutcomes): void => {
  if (value === null || value.length === 0) {
    out.dead('schema', '(root): empty record', EMPTY)
    return
  }
  const max = ctx.config.input.maxRecordBytes
  if (value.length > max) {
    out.dead('too_large', `record of ${value.length} bytes exceeds input.maxRecordBytes (${max})`, value)
    return
  }
  const text = value.toString('utf8')
  if (value.indexOf(NEWLINE) < 0) {
    ingestLine(text, value, ctx, out)
    return
  }
  for (const line of text.split('\n')) ingestLine(line, null, ctx, out)
}

/** One line: `bytes` is the whole record when the line is all of it, else null (the line's own bytes go to a dead letter). */
const ingestLine = (line: string, bytes: Buffer | null, ctx: RecordContext, out: RecordOutcomes): void => {
  const r = decodeRecord(line, ctx.format)
  if (r.ok === null) {
    out.skipped(r.reason)
    return
  }
  if (!r.ok) {
    out.dead(r.reason, r.error, bytes ?? Buffer.from(line, 'utf8'))
    return
  }
  const taken = ctx.pipeline.ingest(r.event, ctx.nowMs)
  if (taken === 'accepted') out.accepted(r.event)
  else if (taken === 'late') out.late()
  else out.dead(taken, clockBoundError(taken, r.event.ts, ctx.nowMs, ctx.config), bytes ?? Buffer.from(line, 'utf8'))
}
