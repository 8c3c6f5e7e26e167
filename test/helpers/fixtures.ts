// Loads committed fixtures as decoded canonical events, for tests that drive detectors or the engine directly.
import { readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { decodeCanonicalValue } from '../../src/decode/canonical.ts'
import type { DeviceEvent } from '../../src/types.ts'

/** Absolute path of a file under fixtures/. */
export const fixturePath = (relative: string): string => fileURLToPath(new URL(`../../fixtures/${relative}`, import.meta.url))

/** Every event of a canonical NDJSON fixture (gzipped when it ends in .gz), in file order; throws on a line that does not decode. */
export const loadFixture = (relative: string): DeviceEvent[] => {
  const events: DeviceEvent[] = []
  const bytes = readFileSync(fixturePath(relative))
  const lines = (relative.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8').split('\n')
  lines.forEach((line, i) => {
    if (line.trim() === '') return
    const r = decodeCanonicalValue(JSON.parse(line))
    if (!r.ok) throw new Error(`${relative}:${i + 1}: ${r.ok === null ? 'no event' : r.error}`)
    events.push(r.event)
  })
  return events
}
