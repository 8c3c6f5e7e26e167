import { describe, expect, it } from 'vitest'
import { canonicalJson, configHash } from '../../../src/config/hash.ts'
import { createPipeline } from '../../../src/pipeline.ts'
import { loadConfig } from '../../../src/config/load.ts'
import { DETECTORS } from '../../../detectors/index.ts'

describe('configHash', () => {
  it('does not depend on key order, at any depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null } })).toBe('{"a":{"c":null,"d":[2,1]},"b":1}')
    expect(configHash({ b: 1, a: { d: [2, 1] } })).toBe(configHash({ a: { d: [2, 1] }, b: 1 }))
  })

  it('changes with any value, array order included', () => {
    expect(configHash({ a: [1, 2] })).not.toBe(configHash({ a: [2, 1] }))
    expect(configHash({ a: 1 })).not.toBe(configHash({ a: 2 }))
    expect(configHash({ a: 1 })).toMatch(/^[0-9a-f]{16}$/)
  })
})

describe('alert provenance', () => {
  // A detector's alerts name its version and a hash of what shaped them: another detector's settings do not change it.
  const hashes = (config: ReturnType<typeof loadConfig>) => {
    const pipeline = createPipeline(config, DETECTORS, () => undefined)
    return pipeline.provenance
  }

  it("changes a detector's hash with its own settings and the engine's, not with another detector's", () => {
    const base = hashes(loadConfig(undefined, DETECTORS))
    const cfg = loadConfig(undefined, DETECTORS)
    const fanoutTuned = { ...cfg, detectors: { ...cfg.detectors, fanout: { ...cfg.detectors.fanout!, factor: 9 } } }
    const tuned = hashes(fanoutTuned)
    expect(tuned.get('fanout')!.configHash).not.toBe(base.get('fanout')!.configHash)
    expect(tuned.get('smtp-burst')!.configHash).toBe(base.get('smtp-burst')!.configHash)
    const engineTuned = hashes({ ...cfg, engine: { ...cfg.engine, idleFlushSeconds: 600 } })
    expect(engineTuned.get('smtp-burst')!.configHash).not.toBe(base.get('smtp-burst')!.configHash)
    expect(base.get('smtp-burst')!.detectorVersion).toBe(DETECTORS.find((d) => d.id === 'smtp-burst')!.version)
  })
})
