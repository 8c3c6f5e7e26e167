// Field helpers the collector adapters share: lenient unsigned integers, issue lists, and errors in the source's field names.
import { canonicalEvent } from './canonical.ts'
import { fail } from './result.ts'
import type { DecodeResult } from './result.ts'

/** A non-negative integer from a JSON number or a decimal string; -1 when it is neither. */
export const toUint = (v: unknown): number => {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 ? v : -1
  if (typeof v !== 'string' || v.length === 0 || v.length > 15) return -1
  let n = 0
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i) - 48
    if (c < 0 || c > 9) return -1
    n = n * 10 + c
  }
  return n
}

/** Appends one `field: message` issue to a `; `-separated list. */
/**
 * The longest a collector's flow record may span, start to end: softflowd's default maximum flow
 * lifetime (a week), the longest of the exporters'. An end further out is an artefact (pmacct's
 * `timestamp_max` when a capture is replayed is the replay's wall clock).
 */
export const MAX_FLOW_MS = 7 * 86_400_000

/**
 * Where a collector's flow record is placed in event time: at its end, the order collectors write
 * records in (when a flow ends or at an active timeout, each report covering its own stretch); at
 * its start when the end is missing or implausible.
 */
export const placeFlow = (start: number, end: number): number => (end >= start && end - start <= MAX_FLOW_MS ? end : start)

export const addIssue = (issues: string, issue: string): string => (issues === '' ? issue : `${issues}; ${issue}`)

/**
 * Validates an adapter's canonical object; on failure reports the adapter's own issues first, then
 * the schema's, with canonical field names turned back into the source's (`names`: canonical → source).
 */
export const canonicalWithSourceNames = (
  issues: string,
  value: Record<string, unknown>,
  names: Readonly<Record<string, string>>,
): DecodeResult => {
  const result = canonicalEvent(value)
  if (result.ok !== false) return issues === '' ? result : fail('schema', issues)
  let renamed = ''
  for (const part of result.error.split('; ')) {
    const colon = part.indexOf(':')
    const field = colon < 0 ? undefined : names[part.slice(0, colon)]
    renamed = addIssue(renamed, field === undefined ? part : field + part.slice(colon))
  }
  return fail('schema', addIssue(issues, renamed))
}
