import { describe, expect, it } from 'vitest'
import { ratioScore } from '../../../src/engine/score.ts'

describe('ratioScore', () => {
  it('is 0.5 at the threshold and 1 from eight times it', () => {
    expect(ratioScore(10, 10)).toBe(0.5)
    expect(ratioScore(20, 10)).toBeCloseTo(0.5 + 1 / 6, 12)
    expect(ratioScore(80, 10)).toBe(1)
    expect(ratioScore(5, 0)).toBe(1)
  })
})
