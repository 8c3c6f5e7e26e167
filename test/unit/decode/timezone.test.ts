// Wall-clock times a collector writes without a zone (pmacct without timestamps_utc) are read in input.timeZone.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createLineDecoder, decodeRecord } from '../../../src/decode/formats.ts'
import { localClock } from '../../../src/decode/zone.ts'

const PMACCT = fileURLToPath(new URL('../../../fixtures/collectors/pmacct/', import.meta.url))

/** Every line's event time, decoded as `run` and replay decode them. */
const times = (file: string, timeZone?: string): number[] => {
  const decoder = createLineDecoder('auto', timeZone)
  return readFileSync(`${PMACCT}${file}`, 'utf8').trimEnd().split('\n').map((line) => {
    const r = decoder.decode(line)
    if (r.ok !== true) throw new Error(`${file}: ${JSON.stringify(r)}`)
    return r.event.ts
  })
}

describe('pmacct time stamps without a zone (one pmacctd run over test7, written three ways)', () => {
  const truth = times('test7-print-json-stitching-epoch.json')

  it('are the instants of its epoch-seconds output when read in the zone pmacctd ran in', () => {
    expect(truth).toHaveLength(349)
    expect(times('test7-print-json-stitching.json')).toEqual(truth)
    expect(times('test7-print-json-stitching-TZprague.json', 'Europe/Prague')).toEqual(truth)
  })

  it('are an hour late when Prague\'s winter wall time is read as UTC', () => {
    expect(times('test7-print-json-stitching-TZprague.json').map((t, i) => t - truth[i]!)).toEqual(truth.map(() => 3_600_000))
  })

  it('are read the same by the Kafka path\'s record decoder', () => {
    const line = readFileSync(`${PMACCT}test7-print-json-stitching-TZprague.json`, 'utf8').split('\n')[0]!
    const r = decodeRecord(line, 'pmacct', 'Europe/Prague')
    expect(r.ok === true && r.event.ts).toBe(truth[0])
  })
})

describe('localClock', () => {
  const iso = (zone: string, ...wall: [number, number, number, number, number, number]) => new Date(localClock(zone)(...wall)).toISOString()

  it('reads wall times in summer and winter time, either side of a change, and in zones off the hour', () => {
    expect(iso('Europe/Prague', 2026, 7, 1, 12, 0, 0)).toBe('2026-07-01T10:00:00.000Z')
    expect(iso('Europe/Prague', 2026, 3, 29, 1, 30, 0)).toBe('2026-03-29T00:30:00.000Z')
    expect(iso('Europe/Prague', 2026, 3, 29, 3, 30, 0)).toBe('2026-03-29T01:30:00.000Z')
    expect(iso('Europe/Prague', 2026, 10, 25, 3, 30, 0)).toBe('2026-10-25T02:30:00.000Z')
    expect(iso('America/New_York', 2026, 1, 15, 8, 0, 0)).toBe('2026-01-15T13:00:00.000Z')
    expect(iso('Asia/Kathmandu', 2026, 1, 15, 8, 0, 0)).toBe('2026-01-15T02:15:00.000Z')
    expect(iso('UTC', 2026, 1, 15, 8, 0, 0)).toBe('2026-01-15T08:00:00.000Z')
  })
})
