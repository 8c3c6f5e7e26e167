// The outcome of decoding one record: an event, a failure with a closed reason, or a skip with a closed reason (a header, a blank line, a collector's marker).
import type { DeviceEvent } from '../types.ts'

/**
 * Closed set of reasons a record is rejected; the `reason` of its dead letter and label of DLQ metrics.
 * `too_large`: the record is above the configured size bound; `ts_future` / `ts_past`: its event
 * time lies outside the configured bounds of the clock (see the engine settings); `too_many_errors`:
 * a Kafka record of many lines whose failures past the first 64 are told in one dead letter of it.
 */
export type DecodeFailureReason = 'invalid_json' | 'schema' | 'unknown_format' | 'too_large' | 'ts_future' | 'ts_past' | 'too_many_errors'

/**
 * Closed set of reasons a record carries no event and is counted as skipped (never dead-lettered).
 * `outside`: a flow whose source is not one of the fleet's devices (devices.networks, or Zeek's
 * `local_orig` F): not a device's egress. `continuation`: a line of a record that spans several
 * (a pretty-printed JSON array, nfdump -o json), decoded at its last line.
 */
export const SKIP_REASONS = ['blank', 'header', 'marker', 'outside', 'continuation'] as const
export type SkipReason = (typeof SKIP_REASONS)[number]

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

/** The record carries no event: a blank line, a Zeek `#` header or comment, a collector's start/end marker. */
export interface DecodeSkip {
  readonly ok: null
  readonly reason: SkipReason
}

export type DecodeResult = DecodeSuccess | DecodeFailure | DecodeSkip

export const fail = (reason: DecodeFailureReason, error: string): DecodeFailure => ({ ok: false, reason, error })
export const success = (event: DeviceEvent): DecodeSuccess => ({ ok: true, event })

/** One frozen object per reason: a skip allocates nothing. */
export const SKIPPED: Readonly<Record<SkipReason, DecodeSkip>> = Object.freeze({
  blank: Object.freeze({ ok: null, reason: 'blank' }),
  header: Object.freeze({ ok: null, reason: 'header' }),
  marker: Object.freeze({ ok: null, reason: 'marker' }),
  outside: Object.freeze({ ok: null, reason: 'outside' }),
  continuation: Object.freeze({ ok: null, reason: 'continuation' }),
})
