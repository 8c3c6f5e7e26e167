// The one shape of a dead-letter record (Kafka's DLQ topic and replay's --dlq file), bounded: the original bytes are cut to fit, their size and hash kept.
import { createHash } from 'node:crypto'

/** Where a rejected record came from: a Kafka record, or a line of an input file. */
export type DeadLetterOrigin =
  | { readonly topic: string; readonly partition: number; readonly offset: string }
  | { readonly file: string; readonly line: number }

/** Bytes already cut by their reader (an over-long input line): what was kept, and what the whole was. */
export interface CutBytes {
  readonly prefix: Buffer
  readonly bytes: number
  readonly sha256: string
}

export interface DeadLetterLimits {
  /** Original bytes kept in `raw` at most (before any escaping or base64). */
  readonly maxRawBytes: number
  /** The whole serialised record (UTF-8 bytes) at most: under the dead-letter topic's max.message.bytes. */
  readonly maxRecordBytes: number
}

/** Characters of `error` kept: decode errors name fields, and a field name comes from the input. */
const MAX_ERROR_CHARS = 1024

/** Bytes a dead letter always needs besides `raw` and `error`: field names, origin, hash, sizes. */
const FRAME_BYTES = 1024

/** The smallest record size a dead-letter limit may be set to. */
export const MIN_DEAD_LETTER_BYTES = FRAME_BYTES + MAX_ERROR_CHARS * 6 + 1024

/** Whether `bytes` are valid UTF-8 that round-trips through a string (U+FFFD is taken as a sign of bytes that do not). */
const isText = (bytes: Buffer, text: string): boolean => Buffer.byteLength(text, 'utf8') === bytes.length && !text.includes('\uFFFD')

/** The longest prefix of at most `n` bytes that does not end inside a UTF-8 sequence. */
const utf8Prefix = (bytes: Buffer, n: number): Buffer => {
  if (n >= bytes.length) return bytes
  let end = n
  // Back off continuation bytes (10xxxxxx) so the cut falls before a sequence's first byte.
  while (end > 0 && end > n - 4 && (bytes[end]! & 0xc0) === 0x80) end--
  return bytes.subarray(0, end)
}

const cut = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`)

/**
 * A dead-letter record as JSON: reason, error, origin, then the original bytes as `raw` (text when
 * they are valid UTF-8, else base64 with `rawEncoding: "base64"`), `rawBytes` (their whole size),
 * `rawSha256` (hex, of all of them) and `rawTruncated`. `raw` is cut until the record fits
 * `maxRecordBytes` however its text escapes in JSON (a `"` takes two bytes, a control character six).
 */
export const deadLetterValue = (
  reason: string,
  error: string,
  origin: DeadLetterOrigin,
  bytes: Buffer | CutBytes,
  limits: DeadLetterLimits,
): string => {
  const whole = Buffer.isBuffer(bytes)
  const original = whole ? bytes : bytes.prefix
  const size = whole ? bytes.length : bytes.bytes
  const sha = whole ? createHash('sha256').update(bytes).digest('hex') : bytes.sha256
  const err = cut(error, MAX_ERROR_CHARS)
  let keep = Math.min(original.length, limits.maxRawBytes)
  for (;;) {
    const prefix = utf8Prefix(original, keep)
    const text = prefix.toString('utf8')
    const textual = isText(prefix, text)
    const value = JSON.stringify({
      reason,
      error: err,
      ...origin,
      raw: textual ? text : prefix.toString('base64'),
      ...(textual ? {} : { rawEncoding: 'base64' }),
      rawBytes: size,
      rawSha256: sha,
      rawTruncated: prefix.length < size,
    })
    const length = Buffer.byteLength(value, 'utf8')
    if (length <= limits.maxRecordBytes || prefix.length === 0) return value
    // Shrink in proportion to the overshoot, and by at least an eighth: a few rounds at most.
    keep = Math.min(Math.floor((prefix.length * (limits.maxRecordBytes - FRAME_BYTES)) / length), prefix.length - Math.ceil(prefix.length / 8))
    if (keep < 0) keep = 0
  }
}

/** A Kafka record key for a dead letter: the original key, cut (it is only informative there). */
export const deadLetterKey = (key: Buffer | null | undefined): string | null => {
  if (key === null || key === undefined) return null
  const text = utf8Prefix(key, 256).toString('utf8')
  return text
}
