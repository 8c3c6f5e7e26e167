// The input formats, the per-file line decoder (Zeek TSV headers are per file) and the per-record decoder of the Kafka path (a function of the record alone).
import { decodeCanonicalValue } from './canonical.ts'
import { decodeGoflow2Value, isGoflow2Record } from './goflow2.ts'
import { decodePmacctValue, isPmacctRecord } from './pmacct.ts'
import { SKIPPED, fail } from './result.ts'
import type { DecodeResult } from './result.ts'
import { createZeekTsvReader, decodeZeekValue, isZeekRecord } from './zeek.ts'
import { createNfdumpCsvReader, decodeNfdumpValue, isNfdumpRecord } from './nfdump.ts'
import { localClock } from './zone.ts'
import type { LocalClock } from './zone.ts'

export const INPUT_FORMATS = ['auto', 'canonical', 'pmacct', 'goflow2', 'zeek', 'nfdump'] as const
export type InputFormat = (typeof INPUT_FORMATS)[number]

/** Decodes the lines of one input file, in order; create one per file (Zeek TSV headers are per file). */
export interface LineDecoder {
  /** A skip for a blank line or a header/comment; never throws. */
  decode(line: string): DecodeResult
}

type ValueDecoder = (value: unknown) => DecodeResult

const HASH = 35
const BRACE = 123
const BOM = 0xfeff

const UNKNOWN_FORMAT =
  'record matches no input format: looked for deviceId or type (canonical), event_type or ip_src+ip_dst+bytes (pmacct), ' +
  'time_flow_start_ns or src_addr+dst_addr (goflow2), id.orig_h (zeek), type FLOW with src4_addr or src6_addr (nfdump)'

/** Picks the format of one parsed record by its field names (wall times without a zone read in `clock`'s). */
const autoValue = (clock: LocalClock): ValueDecoder => (value) => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('schema', '(root): expected a JSON object')
  const o = value as Readonly<Record<string, unknown>>
  // goflow2 records have a `type` too ("IPFIX", "NETFLOW_V9"), so only the contract's own types mean canonical here.
  if (o.deviceId !== undefined || o.type === 'egress' || o.type === 'telemetry') return decodeCanonicalValue(o)
  if (isPmacctRecord(o)) return decodePmacctValue(o, clock)
  if (isGoflow2Record(o)) return decodeGoflow2Value(o)
  if (isZeekRecord(o)) return decodeZeekValue(o)
  if (isNfdumpRecord(o)) return decodeNfdumpValue(o, clock)
  if (o.type !== undefined) return decodeCanonicalValue(o)
  return fail('unknown_format', UNKNOWN_FORMAT)
}

/** Picks the format of one parsed record by its field names (wall times without a zone in UTC). */
export const decodeAutoValue = autoValue(localClock('UTC'))

/** Index of the first character that is not whitespace (or a byte-order mark), or -1 for a blank line. */
const firstContent = (line: string): number => {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i)
    if (c !== 32 && c !== 9 && c !== 13 && c !== 10 && c !== 11 && c !== 12 && c !== BOM && c !== 0xa0) return i
  }
  return -1
}

/** A JSON.parse message without the excerpt of the line that V8 quotes in it (the payload stays out of errors). */
const describeJsonError = (err: unknown): string => {
  let phrase = err instanceof Error ? err.message : ''
  const at = / at position (\d+)/.exec(phrase)
  if (at !== null) phrase = phrase.slice(0, at.index)
  const inJson = phrase.indexOf(' in JSON')
  if (inJson >= 0) phrase = phrase.slice(0, inJson)
  if (phrase.startsWith('Unexpected token')) phrase = 'unexpected token'
  else if (phrase.includes('"') || phrase.length === 0 || phrase.length > 80) phrase = 'syntax error'
  return phrase.charAt(0).toLowerCase() + phrase.slice(1) + (at === null ? '' : ` at position ${at[1]}`)
}

/**
 * The JSON objects of a line that holds two or more back to back (`{…}{…}`, optional whitespace
 * between), each as its own text; null for any other line. goflow2 2.2.6's file transport with two
 * workers writes such lines now and then (fixtures/collectors/repro/03). Only a line that failed to
 * parse is looked at: the common path pays nothing.
 */
export const splitObjects = (line: string): string[] | null => {
  const parts: string[] = []
  let depth = 0
  let inString = false
  let start = -1
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // a backslash escapes the next character
      else if (c === 0x22) inString = false
      continue
    }
    if (depth === 0) {
      if (c === 0x20 || c === 0x09 || c === 0x0d || (c === BOM && i === 0)) continue
      if (c !== 0x7b) return null // top level: objects only
      start = i
    }
    if (c === 0x22) inString = true
    else if (c === 0x7b || c === 0x5b) depth++
    else if (c === 0x7d || c === 0x5d) {
      depth--
      if (depth < 0) return null
      if (depth === 0) parts.push(line.slice(start, i + 1))
    }
  }
  return depth === 0 && !inString && parts.length >= 2 ? parts : null
}

/** Parses the line from `from` (past a byte-order mark) as JSON and decodes the value. */
const decodeJson = (line: string, from: number, decodeValue: ValueDecoder): DecodeResult => {
  let value: unknown
  try {
    value = JSON.parse(from > 0 && line.charCodeAt(0) === BOM ? line.slice(1) : line)
  } catch (err) {
    return fail('invalid_json', `line is not valid JSON: ${describeJsonError(err)}`)
  }
  return decodeValue(value)
}

/** JSON-only formats: one record per line. */
const jsonDecoder = (decodeValue: ValueDecoder): LineDecoder => ({
  decode(line) {
    const i = firstContent(line)
    return i < 0 ? SKIPPED.blank : decodeJson(line, i, decodeValue)
  },
})

/**
 * Zeek (`zeek`) or any format (`auto`): `#` lines are Zeek TSV headers, rows after `#fields` are TSV
 * records, `{` lines are JSON. In `auto`, a tab-separated line before any `#fields` is a headerless TSV
 * row (`unknown_format`); any other line is parsed as JSON.
 */
const zeekAwareDecoder = (decodeValue: ValueDecoder, tsvOnly: boolean): LineDecoder => {
  const tsv = createZeekTsvReader()
  return {
    decode(line) {
      const i = firstContent(line)
      if (i < 0) return SKIPPED.blank
      const c = line.charCodeAt(i)
      if (c === HASH) return tsv.header(i === 0 ? line : line.slice(i))
      if (c !== BRACE && (tsvOnly || tsv.ready || line.includes('\t', i))) return tsv.record(line)
      return decodeJson(line, i, decodeValue)
    },
  }
}

/** The value decoders of each format for time stamps written without a zone in `timeZone` (input.timeZone). */
const valueDecoders = (timeZone: string): Readonly<Record<InputFormat, ValueDecoder>> => {
  let table = DECODERS_BY_ZONE.get(timeZone)
  if (table === undefined) {
    const clock = localClock(timeZone)
    table = {
      auto: autoValue(clock), canonical: decodeCanonicalValue, pmacct: (v) => decodePmacctValue(v, clock), goflow2: decodeGoflow2Value,
      zeek: decodeZeekValue, nfdump: (v) => decodeNfdumpValue(v, clock),
    }
    DECODERS_BY_ZONE.set(timeZone, table)
  }
  return table
}
const DECODERS_BY_ZONE = new Map<string, Readonly<Record<InputFormat, ValueDecoder>>>()

const TSV_IN_A_RECORD =
  'a tab-separated row: records are decoded one by one, without the #fields header of a Zeek file; send Zeek\'s JSON logs (LogAscii::use_json) or canonical events'

/**
 * Decodes one record of the Kafka path (one line of a message) in `format`: a function of the record
 * alone, never of earlier ones, so that any member decodes any record the same way after any restart.
 * Blank records and `#` lines are skipped; a Zeek TSV row is `unknown_format` (its header is not there).
 */
export const decodeRecord = (text: string, format: InputFormat, timeZone = 'UTC'): DecodeResult => {
  const i = firstContent(text)
  if (i < 0) return SKIPPED.blank
  const c = text.charCodeAt(i)
  if (c === HASH) return SKIPPED.header
  if (c !== BRACE && text.includes('\t', i)) return fail('unknown_format', TSV_IN_A_RECORD)
  return decodeJson(text, i, valueDecoders(timeZone)[format])
}

/** Bytes one record of a pretty-printed array may take, as a line may (input.maxRecordBytes' default). */
const MAX_PRETTY_RECORD_BYTES = 256 * 1024

/**
 * A file that opens with a line `[`: one JSON array with one pretty-printed object per record, as
 * `nfdump -o json` writes it (each object from a line `{` to a line `}`, `},` or `}]`; a comma may
 * follow the last one, as in fixtures/collectors/repro/05, so the file as a whole need not be valid JSON). Each object is decoded at its last
 * line; its other lines, and the brackets, are skipped (`continuation`, `marker`). Any other file
 * goes to `lines` as it is.
 */
const prettyArrayAware = (lines: LineDecoder, decodeValue: ValueDecoder): LineDecoder => {
  let mode: 'unknown' | 'array' | 'lines' = 'unknown'
  let record: string[] | null = null
  let bytes = 0
  return {
    decode(line) {
      if (mode === 'lines') return lines.decode(line)
      if (mode === 'unknown') {
        if (firstContent(line) < 0) return lines.decode(line)
        mode = line.trim() === '[' ? 'array' : 'lines'
        if (mode === 'lines') return lines.decode(line)
      }
      const t = line.trim()
      if (t === '') return SKIPPED.blank
      if (record === null) {
        if (t === '[' || t === ']') return SKIPPED.marker
        if (t !== '{') return fail('unknown_format', 'a line between the records of a pretty-printed JSON array: expected "{", "]" or a record')
        record = ['{']
        bytes = 1
        return SKIPPED.continuation
      }
      if (t === '}' || t === '},' || t === '}]') {
        const text = `${record.join('')}}`
        record = null
        return decodeJson(text, 0, decodeValue)
      }
      bytes += line.length
      if (bytes > MAX_PRETTY_RECORD_BYTES) {
        record = null
        return fail('too_large', `a pretty-printed record of over ${MAX_PRETTY_RECORD_BYTES} bytes without its closing "}"`)
      }
      record.push(line)
      return SKIPPED.continuation
    },
  }
}

/** The header `nfdump -o csv` writes first. */
const NFDUMP_CSV_HEADER = 'ts,te,td,sa,da,'

/**
 * A file whose first line is `nfdump -o csv`'s header: its rows are read by its columns
 * (`createNfdumpCsvReader`). Any other file goes to `lines` as it is.
 */
const nfdumpCsvAware = (lines: LineDecoder, timeZone: string): LineDecoder => {
  let mode: 'unknown' | 'csv' | 'lines' = 'unknown'
  let csv: ReturnType<typeof createNfdumpCsvReader> | null = null
  return {
    decode(line) {
      if (mode === 'lines') return lines.decode(line)
      const i = firstContent(line)
      if (i < 0) return SKIPPED.blank
      if (mode === 'unknown') {
        if (!line.startsWith(NFDUMP_CSV_HEADER, i)) {
          mode = 'lines'
          return lines.decode(line)
        }
        mode = 'csv'
        csv = createNfdumpCsvReader(localClock(timeZone))
        return csv.header(line) ? SKIPPED.header : fail('unknown_format', 'an nfdump CSV header without the columns ts, te, sa, da, sp, dp, pr, flg, ipkt, ibyt, opkt, obyt')
      }
      return csv!.record(line)
    },
  }
}

/** A decoder for one input file in `format`; time stamps written without a zone are read in `timeZone` (input.timeZone). */
export const createLineDecoder = (format: InputFormat, timeZone = 'UTC'): LineDecoder => {
  const decoders = valueDecoders(timeZone)
  switch (format) {
    case 'auto':
      return nfdumpCsvAware(prettyArrayAware(zeekAwareDecoder(decoders.auto, false), decoders.auto), timeZone)
    case 'zeek':
      return zeekAwareDecoder(decodeZeekValue, true)
    case 'nfdump':
      return nfdumpCsvAware(prettyArrayAware(jsonDecoder(decoders.nfdump), decoders.nfdump), timeZone)
    case 'canonical':
    case 'pmacct':
    case 'goflow2':
      return jsonDecoder(decoders[format])
  }
}
