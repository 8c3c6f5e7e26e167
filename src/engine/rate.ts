// A device's rate of rare events (new destinations an hour) as a Gamma posterior over a Poisson rate,
// seeded by its model, and the surprise of a count under it.
import { gammaln } from 'simple-statistics'

/**
 * A Gamma(shape, exposure) belief about a Poisson rate per unit of exposure (an hour): `shape` is
 * the events counted (plus the prior's), `exposure` the units watched (plus the prior's). Its mean
 * is shape / exposure; the more exposure, the firmer it is.
 */
export interface GammaRate {
  shape: number
  exposure: number
}

/** The prior of a device from its model's rate (events per unit) held as `weight` units of exposure. */
export const gammaPrior = (rate: number, weight: number): GammaRate => ({ shape: rate * weight, exposure: weight })

/**
 * Adds `units` of exposure with `events` counted, after forgetting: what was learned before counts
 * `keep` (0..1) as much, so a device that changes is learned again within about 1 / (1 - keep) units.
 */
export const gammaObserve = (g: GammaRate, events: number, units: number, keep: number): void => {
  g.shape = g.shape * keep + events
  g.exposure = g.exposure * keep + units
}

/** The smallest shape a belief keeps: a model with no events at all still leaves a count possible. */
const MIN_SHAPE = 1e-3

/**
 * -log10 P(X ≥ k) for the count X over `units` of exposure predicted by the belief (a negative
 * binomial: the Poisson mixed over the Gamma). 0 for k ≤ 0; larger is more surprising (3: one in a
 * thousand). Exact in doubles down to about 1e-300.
 */
export const surprise = (k: number, g: GammaRate, units: number): number => {
  if (k <= 0) return 0
  const r = Math.max(MIN_SHAPE, g.shape)
  // X ~ NB(r, p): P(X = x) = C(x + r - 1, x) p^r q^x with p = b / (b + t), q = t / (b + t).
  const lnP = Math.log(g.exposure / (g.exposure + units))
  const lnQ = Math.log(units / (g.exposure + units))
  // The head P(X < k), summed from P(X = 0) by the ratio P(x + 1) / P(x) = (r + x) q / (x + 1).
  let term = Math.exp(r * lnP)
  let head = 0
  const q = Math.exp(lnQ)
  for (let x = 0; x < k && term > 0; x++) {
    head += term
    term *= ((r + x) * q) / (x + 1)
  }
  if (head < 0.5) return -Math.log10(1 - head)
  // The tail is small: summed from P(X = k) itself, so that it keeps its precision.
  let lnTerm = gammaln(r + k) - gammaln(r) - gammaln(k + 1) + r * lnP + k * lnQ
  let tail = 0
  const scale = lnTerm
  for (let x = k; x < k + 100_000; x++) {
    const t = Math.exp(lnTerm - scale)
    tail += t
    if (t < 1e-16 * tail) break
    lnTerm += Math.log(((r + x) * q) / (x + 1))
  }
  return -(scale + Math.log(tail)) / Math.LN10
}
