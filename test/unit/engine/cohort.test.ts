// Model-level priors: exact recent quantiles per model, peer counts, and a bound on the models held.
import { describe, expect, it } from 'vitest'
import { MAX_MODELS, ModelCounts, ModelLevel, ratioScore } from '../../../src/engine/cohort.ts'

describe('ModelLevel', () => {
  it("gives the quantile of a model's recent observations, the initial level for a model never seen", () => {
    const level = new ModelLevel(0.5, 7, 4)
    for (const v of [1, 9, 3]) level.observe('cam', v)
    expect(level.get('cam')).toBe(3)
    for (const v of [20, 20, 20]) level.observe('cam', v) // the ring of 4 now holds 3, 20, 20, 20
    expect(level.get('cam')).toBe(20)
    expect(level.get('tv')).toBe(7)
    expect(level.observations('cam')).toBe(6)
  })

  it('holds at most MAX_MODELS models: made-up model names cannot grow memory', () => {
    const level = new ModelLevel(0.5, 0)
    const counts = new ModelCounts<number>(8)
    for (let i = 0; i <= MAX_MODELS; i++) {
      level.observe(`m${i}`, 5)
      counts.increment(`m${i}`, 25)
    }
    expect(level.get(`m${MAX_MODELS - 1}`)).toBe(5)
    expect(level.get(`m${MAX_MODELS}`)).toBe(0)
    expect(level.observations(`m${MAX_MODELS}`)).toBe(0)
    expect(counts.get(`m${MAX_MODELS - 1}`, 25)).toBe(1)
    expect(counts.get(`m${MAX_MODELS}`, 25)).toBe(0)
  })
})

describe('ratioScore', () => {
  it('is 0.5 at the threshold and 1 from eight times it', () => {
    expect(ratioScore(10, 10)).toBe(0.5)
    expect(ratioScore(20, 10)).toBeCloseTo(0.5 + 1 / 6, 12)
    expect(ratioScore(80, 10)).toBe(1)
    expect(ratioScore(5, 0)).toBe(1)
  })
})
