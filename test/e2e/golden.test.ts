// Golden alert files per fixture (test/golden/, as Zeek's btest baselines): a detector whose records change for the same input fails here until its version is bumped and the file updated (`npm run golden`).
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { DETECTORS } from '../../detectors/index.ts'
import { loadConfig } from '../../src/config/load.ts'
import { replay } from '../../src/replay.ts'
import { goldenProblems } from '../helpers/golden.ts'
import type { Alert } from '../../src/types.ts'

const path = (p: string): string => fileURLToPath(new URL(`../../${p}`, import.meta.url))
const UPDATE = process.env.UPDATE_GOLDEN === '1'
const VERSIONS = new Map(DETECTORS.map((d) => [d.id, d.version]))

/** Each fixture: its inputs (merged by event time, as `replay` merges files) and its golden file. */
const FIXTURES = [
  { name: 'demo', inputs: ['fixtures/demo/demo.ndjson'] },
  { name: 'fleet', inputs: ['fixtures/synthetic/fleet.ndjson.gz', 'fixtures/synthetic/fleet.dns.ndjson.gz'] },
  { name: 'real', inputs: ['fixtures/real'] },
  { name: 'samples', inputs: ['fixtures/samples'] },
] as const

/**
 * The device alert records `replay` gives for the inputs with the defaults, as NDJSON lines: the
 * detectors' findings, without the peer evidence the engine adds (`peer*`: the model's hourly
 * statistics, which no detector version says anything about).
 */
const alertLines = async (inputs: readonly string[]): Promise<string[]> => {
  const lines: string[] = []
  const findingOnly = (a: Alert): Alert => ({ ...a, evidence: Object.fromEntries(Object.entries(a.evidence).filter(([k]) => !k.startsWith('peer'))) })
  await replay({ inputs: inputs.map(path), format: 'auto', config: loadConfig(undefined, DETECTORS), detectors: DETECTORS, onAlert: (a) => lines.push(JSON.stringify(findingOnly(a))) })
  return lines
}

describe('golden alert files', () => {
  it.each(FIXTURES)('$name: every detector gives its golden records, or its version moved on with the file', async ({ name, inputs }) => {
    const file = path(`test/golden/${name}.alerts.ndjson`)
    const actual = await alertLines(inputs)
    expect(actual.length).toBeGreaterThan(0)
    if (UPDATE) writeFileSync(file, actual.map((l) => `${l}\n`).join(''))
    expect(existsSync(file), `${file}: no golden file yet (npm run golden writes it)`).toBe(true)
    const golden = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '')
    expect(goldenProblems(name, golden, actual, VERSIONS)).toEqual([])
  }, 120_000)
})

describe('goldenProblems', () => {
  const rec = (detector: string, version: number, severity: string): string => JSON.stringify({ id: 'a', detector, status: 'firing', severity, detectorVersion: version })
  const versions = new Map([['smtp-burst', 3], ['fanout', 2]])

  it('passes what the golden file holds', () => {
    expect(goldenProblems('demo', [rec('smtp-burst', 3, 'high'), rec('fanout', 2, 'medium')], [rec('smtp-burst', 3, 'high'), rec('fanout', 2, 'medium')], versions)).toEqual([])
  })

  it('fails a changed record at the same version, naming the detector to bump', () => {
    expect(goldenProblems('demo', [rec('smtp-burst', 3, 'high'), rec('fanout', 2, 'medium')], [rec('smtp-burst', 3, 'critical'), rec('fanout', 2, 'medium')], versions)).toEqual([
      'demo: smtp-burst gives other records for the same input at version 3 (1 golden records gone, 1 new): if the change is meant, bump its version (detectors/smtp-burst.ts) and update the golden files (npm run golden)',
    ])
    // A detector that alerts where its golden file has nothing, or no longer alerts, is a change too.
    expect(goldenProblems('demo', [], [rec('fanout', 2, 'medium')], versions)).toHaveLength(1)
    expect(goldenProblems('demo', [rec('fanout', 2, 'medium')], [], versions)).toHaveLength(1)
  })

  it('fails a bumped version until the golden file is updated, whether its records changed or not', () => {
    const bumped = new Map([['smtp-burst', 4], ['fanout', 2]])
    expect(goldenProblems('demo', [rec('smtp-burst', 3, 'high')], [rec('smtp-burst', 4, 'high')], bumped)).toEqual([
      'demo: smtp-burst is at version 4, its golden records at 3: update the golden files (npm run golden)',
    ])
  })
})
