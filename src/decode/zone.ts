// Wall-clock times written without a zone (pmacct without timestamps_utc) → epoch ms, in an IANA time zone.

/** A local wall-clock time in one zone → epoch ms. */
export type LocalClock = (year: number, month: number, day: number, hour: number, minute: number, second: number) => number

const utc: LocalClock = (y, mo, d, h, mi, s) => Date.UTC(y, mo - 1, d, h, mi, s)

/** Whether `zone` is a time zone this runtime knows (an IANA name such as Europe/Prague, or UTC). */
export const isTimeZone = (zone: string): boolean => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone })
    return true
  } catch {
    return false
  }
}

/** Offsets remembered per quarter hour of UTC at most: zones change offsets on quarter hours. */
const MAX_REMEMBERED = 4096
const QUARTER_HOUR = 900_000

/**
 * The clock of `zone`: a wall-clock time there → epoch ms. Outside the hour a daylight-saving change
 * repeats or skips, every wall time names one instant; within it, one of the two readings is taken.
 */
export const localClock = (zone: string): LocalClock => {
  if (zone === 'UTC' || zone === 'Etc/UTC') return utc
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
  })
  const offsets = new Map<number, number>()
  /** The zone's offset from UTC (ms) at instant `t` (offsets change on quarter hours at most). */
  const offsetAt = (t: number): number => {
    const key = Math.floor(t / QUARTER_HOUR)
    let off = offsets.get(key)
    if (off === undefined) {
      const at = key * QUARTER_HOUR
      const p: Record<string, number> = {}
      for (const part of format.formatToParts(at)) if (part.type !== 'literal') p[part.type] = Number(part.value)
      off = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!) - at
      if (offsets.size >= MAX_REMEMBERED) offsets.clear()
      offsets.set(key, off)
    }
    return off
  }
  return (y, mo, d, h, mi, s) => {
    const wall = Date.UTC(y, mo - 1, d, h, mi, s)
    // The offset at the wall time read as UTC is right but near a change; then the offset at that guess is.
    const guess = wall - offsetAt(wall)
    const off = offsetAt(guess)
    return wall - off
  }
}
