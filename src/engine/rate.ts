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

/** At most this many terms are summed (a belief far weaker than the exposure judged: the result is then a lower bound of the chance). */
const MAX_TERMS = 1_000_000

/**
 * -log10 P(X ≥ k) for the count X over `units` of exposure predicted by the belief (a negative
 * binomial: the Poisson mixed over the Gamma). 0 for k ≤ 0 or a belief with no exposure (it knows
 * nothing); larger is more surprising (3: one in a thousand), Infinity for k = Infinity or no units.
 * Summed in logarithms where the terms would underflow: exact in doubles far into the tail.
 */
export const surprise = (k: number, g: GammaRate, units: number): number => {
  if (!(k > 0) || !(g.exposure > 0)) return 0
  if (!Number.isFinite(k) || !(units > 0)) return Infinity
  const r = Math.max(MIN_SHAPE, g.shape)
  // X ~ NB(r, p): P(X = x) = C(x + r - 1, x) p^r q^x with p = b / (b + t), q = t / (b + t).
  const lnP = Math.log(g.exposure / (g.exposure + units))
  const lnQ = Math.log(units / (g.exposure + units))
  const q = Math.exp(lnQ)
  /** Past this count the terms only fall. */
  const mode = (r * q - 1) / (1 - q)
  // The head P(X < k), summed from P(X = 0) by the ratio P(x + 1) / P(x) = (r + x) q / (x + 1),
  // while P(X = 0) is a double at all; it stops once the rest of the head is below precision.
  const lnP0 = r * lnP
  if (lnP0 > -700) {
    let term = Math.exp(lnP0)
    let head = 0
    let x = 0
    for (; x < k && x < MAX_TERMS; x++) {
      head += term
      term *= ((r + x) * q) / (x + 1)
      if (x > mode && term < 1e-17 * head) break
    }
    if (x >= k && head < 0.5) return -Math.log10(1 - head)
  }
  // The tail from P(X = k) itself, as a log-sum, so that neither a tiny tail nor a huge term is lost.
  let lnTerm = gammaln(r + k) - gammaln(r) - gammaln(k + 1) + r * lnP + k * lnQ
  let lnSum = lnTerm
  for (let x = k; x < k + MAX_TERMS; x++) {
    lnTerm += Math.log(((r + x) * q) / (x + 1))
    if (x > mode && lnTerm < lnSum - 40) break
    lnSum = lnSum > lnTerm ? lnSum + Math.log1p(Math.exp(lnTerm - lnSum)) : lnTerm + Math.log1p(Math.exp(lnSum - lnTerm))
  }
  return Math.max(0, -lnSum / Math.LN10)
}
