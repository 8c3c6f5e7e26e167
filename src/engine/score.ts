// Scores detectors share: how far a value lies past its threshold, in [0.5, 1].

/** Maps how far `value` exceeds `threshold` to a score in [0.5, 1]: 0.5 at the threshold, 1 at 8x. */
export const ratioScore = (value: number, threshold: number): number =>
  threshold <= 0 ? 1 : Math.min(1, Math.max(0.5, 0.5 + Math.log2(value / threshold) / 6))
