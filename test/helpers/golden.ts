// Golden alert files (as Zeek's btest baselines): what each detector gave for a fixture, and whether a change in it came with a version bump.

/** A record's detector and version, read from its line. */
const detectorOf = (line: string): { detector: string; version: number } => {
  const r = JSON.parse(line) as { detector?: unknown; detectorVersion?: unknown }
  return { detector: String(r.detector), version: Number(r.detectorVersion) }
}

const byDetector = (lines: readonly string[]): Map<string, string[]> => {
  const out = new Map<string, string[]>()
  for (const line of lines) {
    const { detector } = detectorOf(line)
    out.set(detector, [...(out.get(detector) ?? []), line])
  }
  return out
}

/**
 * What is wrong with `actual` against the golden records of a fixture, per detector: records that
 * changed while the detector's version stayed (bump it), or a version the golden file does not
 * have yet (update the file). Empty when the golden file holds.
 */
export const goldenProblems = (fixture: string, golden: readonly string[], actual: readonly string[], versions: ReadonlyMap<string, number>): string[] => {
  const want = byDetector(golden)
  const got = byDetector(actual)
  const problems: string[] = []
  for (const detector of [...new Set([...want.keys(), ...got.keys()])].sort()) {
    const before = want.get(detector) ?? []
    const after = got.get(detector) ?? []
    const version = versions.get(detector)
    const goldenVersion = before.length > 0 ? detectorOf(before[0]!).version : version
    if (goldenVersion !== version) {
      problems.push(`${fixture}: ${detector} is at version ${version}, its golden records at ${goldenVersion}: update the golden files (npm run golden)`)
      continue
    }
    if (before.length === after.length && before.every((l, i) => l === after[i])) continue
    const gone = before.filter((l) => !after.includes(l)).length
    const added = after.filter((l) => !before.includes(l)).length
    problems.push(
      `${fixture}: ${detector} gives other records for the same input at version ${version} (${gone} golden records gone, ${added} new): ` +
        `if the change is meant, bump its version (detectors/${detector}.ts) and update the golden files (npm run golden)`,
    )
  }
  return problems
}
