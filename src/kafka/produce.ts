// Writes fixture files into a topic, one record per line keyed by deviceId (JSON as it is, Zeek TSV rows as canonical events), in batches, optionally paced by event time.
import type { Producer } from 'kafkajs'
import { createLineDecoder, splitObjects } from '../decode/formats.ts'
import type { DecodeResult } from '../decode/result.ts'
import type { DeviceEvent } from '../types.ts'
import type { InputFormat } from '../decode/formats.ts'
import { DEFAULT_MAX_LINE_BYTES, expandInputs, forEachLine } from '../sources/file.ts'
import { MAX_BATCH_BYTES, recordBytes } from '../sinks/kafka.ts'
import type { OutRecord } from '../sinks/kafka.ts'

export interface ProduceOptions {
  readonly producer: Producer
  readonly topic: string
  readonly inputs: readonly string[]
  readonly format: InputFormat
  /** Event time runs this many times faster than the wall clock; 0 for as fast as possible. */
  readonly speed: number
  /** Records per send at most (kafkajs has no linger of its own: batching is ours). */
  readonly batchRecords?: number
  /** Bytes per send at most, below the broker's default 1 MB message batch limit. */
  readonly batchBytes?: number
  /** Lines longer than this (bytes, without the line end) are not sent but counted as `oversize`; default DEFAULT_MAX_LINE_BYTES. */
  readonly maxLineBytes?: number
  readonly onProgress?: (summary: Readonly<ProduceSummary>) => void
}

export interface ProduceSummary {
  records: number
  /** Lines that did not decode: sent with a null key (the service sends them to the DLQ). */
  undecodable: number
  /** Lines over `maxLineBytes`: not sent (no broker takes a record of any size), not in `records`. */
  oversize: number
  batches: number
}

interface Pending {
  readonly key: string | null
  readonly value: string
  /** Event time of a decoded record, NaN otherwise. */
  readonly ts: number
}

/** Whether a line is a JSON record (its first non-blank character is `{`). */
const isJson = (line: string): boolean => line.trimStart().startsWith('{')

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * JSON lines are sent as they are (the service decodes them, as it would a collector's records); the key
 * is the decoded deviceId so that a device's records share a partition, in file order. Blank lines
 * and format headers are skipped; a line over `maxLineBytes` is counted as `oversize`, not sent. With `speed` > 0 a record is sent no sooner than its event time,
 * relative to the first record's, divided by `speed`.
 */
export const produceFiles = async (opts: ProduceOptions): Promise<ProduceSummary> => {
  const { producer, topic, speed } = opts
  const maxRecords = opts.batchRecords ?? 2000
  const maxBytes = opts.batchBytes ?? MAX_BATCH_BYTES
  const maxLineBytes = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES
  const summary: ProduceSummary = { records: 0, undecodable: 0, oversize: 0, batches: 0 }
  let batch: OutRecord[] = []
  let bytes = 0
  const send = async (): Promise<void> => {
    if (batch.length === 0) return
    const messages = batch
    batch = []
    bytes = 0
    await producer.send({ topic, acks: -1, messages })
    summary.batches++
    opts.onProgress?.(summary)
  }
  const started = performance.now()
  let firstTs = Number.NaN
  let chunk: Pending[] = []
  // Called after each chunk of lines is read: paces, batches and sends them, in order.
  const drain = async (): Promise<void> => {
    const records = chunk
    chunk = []
    for (const r of records) {
      if (speed > 0 && !Number.isNaN(r.ts)) {
        if (Number.isNaN(firstTs)) firstTs = r.ts
        const wait = (r.ts - firstTs) / speed - (performance.now() - started)
        if (wait > 1) {
          await send()
          await sleep(wait)
        }
      }
      const record = { key: r.key, value: r.value }
      batch.push(record)
      bytes += recordBytes(record)
      if (batch.length >= maxRecords || bytes >= maxBytes) await send()
    }
  }
  /** One record to send: JSON records go as they are; a Zeek TSV row means nothing without its header, so it goes as the canonical event it decoded to. */
  const take = (line: string, result: DecodeResult): void => {
    if (result.ok === null) return // a blank line or a header
    summary.records++
    if (result.ok) chunk.push({ key: result.event.deviceId, value: isJson(line) ? line : canonicalRecord(result.event), ts: result.event.ts })
    else {
      summary.undecodable++
      chunk.push({ key: null, value: line, ts: Number.NaN })
    }
  }
  for (const file of expandInputs(opts.inputs)) {
    const decoder = createLineDecoder(opts.format)
    await forEachLine(
      file.path,
      (line) => {
        const result = decoder.decode(line)
        // Records a collector wrote back to back on one line go as one Kafka record each.
        const parts = result.ok === false && result.reason === 'invalid_json' ? splitObjects(line) : null
        if (parts === null) take(line, result)
        else for (const part of parts) take(part, decoder.decode(part))
      },
      { afterChunk: drain, maxLineBytes, onOversize: () => void summary.oversize++ },
    )
    await drain()
  }
  await send()
  return summary
}

/** An event as a canonical record: a DNS answer's TTL as `ttl`, a flow's `continued` only when it is (its default is false). */
const canonicalRecord = (event: DeviceEvent): string => {
  if (event.type === 'dns') {
    const { ttlSeconds, ...rest } = event
    return JSON.stringify({ ...rest, ttl: ttlSeconds })
  }
  return JSON.stringify(event, (key, value: unknown) => (key === 'continued' && value === false ? undefined : value))
}
