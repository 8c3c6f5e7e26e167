import { describe, expect, it } from 'vitest'
import { gammaObserve, surprise } from '../../../src/engine/rate.ts'

/**
 * P(X ≥ k) for a Poisson count over `t` units whose rate has a Gamma(shape, exposure) density, by
 * integrating the Poisson tail over the density numerically (midpoints on a log scale): an
 * independent check of the closed form the module sums.
 */
const integrated = (k: number, shape: number, exposure: number, t: number): number => {
  let total = 0
  let mass = 0
  const lo = Math.log(1e-12)
  const hi = Math.log(1e4)
  const steps = 200_000
  const lnNorm = shape * Math.log(exposure) - lnGamma(shape)
  for (let i = 0; i < steps; i++) {
    const u = lo + ((i + 0.5) * (hi - lo)) / steps
    const rate = Math.exp(u)
    // The density in u = ln(rate): f(rate) * rate.
    const density = Math.exp(lnNorm + shape * u - exposure * rate) * ((hi - lo) / steps)
    mass += density
    total += density * poissonTail(k, rate * t)
  }
  return total / mass
}

const poissonTail = (k: number, mean: number): number => {
  let term = Math.exp(-mean)
  let head = 0
  for (let x = 0; x < k; x++) {
    head += term
    term *= mean / (x + 1)
  }
  return Math.max(0, 1 - head)
}

/** Lanczos' approximation, for the check alone. */
const lnGamma = (z: number): number => {
  const g = 7
  const c = [0.9999999999998099, 676.5203681218851, -1259.1392167224028, 771.3234287776531, -176.6150391699918, 12.507343278686905, -0.13857109526572012, 9.984369578019572e-6, 1.5056327351493116e-7]
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - lnGamma(1 - z)
  const x = z - 1
  let a = c[0]!
  const t = x + g + 0.5
  for (let i = 1; i < g + 2; i++) a += c[i]! / (x + i)
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a)
}

describe('surprise of a count under a Gamma belief over a Poisson rate', () => {
  it.each([
    [1, 0.5, 10, 1],
    [3, 0.5, 10, 1],
    [2, 2, 1, 1],
    [8, 2, 2, 1],
    [5, 20, 4, 1],
    [30, 20, 4, 1],
  ])('P(X ≥ %d) for shape %d, exposure %d, over %d unit agrees with the integral', (k, shape, exposure, t) => {
    const p = integrated(k, shape, exposure, t)
    expect(surprise(k, { shape, exposure }, t)).toBeCloseTo(-Math.log10(p), 3)
  })

  it('keeps its precision far in the tail, where 1 minus the head would be 0', () => {
    // 60 events where 0.5 an hour is expected: about 1e-40, far below double precision next to 1.
    const s = surprise(60, { shape: 5, exposure: 10 }, 1)
    expect(s).toBeGreaterThan(30)
    expect(Number.isFinite(s)).toBe(true)
    expect(surprise(61, { shape: 5, exposure: 10 }, 1)).toBeGreaterThan(s)
  })

  it('sums in logarithms where P(X = 0) underflows (values from mpmath), and bounds the edge cases', () => {
    // A belief of shape 2e4 and exposure 10: P(X = 0) = (10/11)^20000, far below a double.
    expect(surprise(5000, { shape: 2e4, exposure: 10 }, 1)).toBeCloseTo(603.8008, 3)
    expect(surprise(1000, { shape: 1e4, exposure: 10 }, 1)).toBeCloseTo(0.2979, 3)
    expect(surprise(Infinity, { shape: 1, exposure: 1 }, 1)).toBe(Infinity)
    // No exposure judged: no event is expected; a belief of no exposure expects anything.
    expect(surprise(3, { shape: 1, exposure: 1 }, 0)).toBe(Infinity)
    expect(surprise(3, { shape: 1, exposure: 0 }, 1)).toBe(0)
  })

  it('is 0 for no events, and grows with the count and with the quiet hours behind the belief', () => {
    const quiet = { shape: 0.01, exposure: 10 }
    expect(surprise(0, quiet, 1)).toBe(0)
    expect(surprise(2, quiet, 1)).toBeGreaterThan(surprise(1, quiet, 1))
    // Ten times the hours with nothing: the first event is ten times less likely.
    expect(surprise(1, { shape: 0.01, exposure: 100 }, 1)).toBeCloseTo(surprise(1, quiet, 1) + 1, 1)
  })

  it('takes a device busy by its own counts to need far more than a quiet one', () => {
    // Both start from a prior of 0.01 an hour weighing as 4 hours.
    const busy = { shape: 0.04, exposure: 4 }
    const quiet = { shape: 0.04, exposure: 4 }
    for (let h = 0; h < 24; h++) {
      gammaObserve(busy, 6, 1, 47 / 48)
      gammaObserve(quiet, 0, 1, 47 / 48)
    }
    expect(surprise(1, quiet, 1)).toBeGreaterThan(2)
    expect(surprise(6, busy, 1)).toBeLessThan(1)
    expect(surprise(20, busy, 1)).toBeGreaterThan(3)
  })
})
