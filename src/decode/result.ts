// The outcome of decoding one record: an event, a failure with a closed reason, or nothing (a header or blank line).
import type { DeviceEvent } from '../types.ts'

/** Closed set of reasons a record is rejected; used as the `reason` label of DLQ metrics. */
export type DecodeFailureReason = 'invalid_json' | 'schema' | 'unknown_format'

export interface DecodeFailure {
  readonly ok: false
  readonly reason: DecodeFailureReason
  /** Human message naming the field, e.g. `dstPort: expected integer 0-65535`. Never the payload. */
  readonly error: string
}

export interface DecodeSuccess {
  readonly ok: true
  readonly event: DeviceEvent
}

/** `null`: the record carries no event (blank line, comment, format header). */
export type DecodeResult = DecodeSuccess | DecodeFailure | null

export const fail = (reason: DecodeFailureReason, error: string): DecodeFailure => ({ ok: false, reason, error })
export const success = (event: DeviceEvent): DecodeSuccess => ({ ok: true, event })
