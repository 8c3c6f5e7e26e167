// Date-times as collectors write them (`YYYY-MM-DD HH:MM:SS[.fff][zone]`), and wall times without a zone read in an IANA time zone.

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

/** `n` decimal digits of `s` from `at` as a number, or -1. */
export const digits = (s: string, at: number, n: number): number => {
  let v = 0
  for (let i = at; i < at + n; i++) {
    const c = s.charCodeAt(i) - 48
    if (!(c >= 0 && c <= 9)) return -1
    v = v * 10 + c
  }
  return v
}

const daysInMonth = (y: number, m: number): number =>
  m === 2 ? (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28) : m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31

/** Index just past the decimal digits of `s` starting at `at`. */
export const digitsEnd = (s: string, at: number): number => {
  let i = at
  while (i < s.length) {
    const c = s.charCodeAt(i)
    if (c < 48 || c > 57) break
    i++
  }
  return i
}

/** Milliseconds of the fraction digits `s[at..end)` (at least one), truncated. */
export const fractionMs = (s: string, at: number, end: number): number => {
  const n = end - at
  const v = digits(s, at, n < 3 ? n : 3)
  return n === 1 ? v * 100 : n === 2 ? v * 10 : v
}

/** `YYYY-MM-DD HH:MM:SS[.fff…][Z|±HH:MM]` (a `T` may replace the space; no zone: the wall time of `clock`'s zone) → epoch ms, or NaN. */
export const parseDateTime = (s: string, clock: LocalClock): number => {
  if (s.length < 19 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return NaN
  const sep = s.charCodeAt(10)
  if (sep !== 32 && sep !== 84) return NaN
  const y = digits(s, 0, 4)
  const mo = digits(s, 5, 2)
  const d = digits(s, 8, 2)
  const h = digits(s, 11, 2)
  const mi = digits(s, 14, 2)
  const sec = digits(s, 17, 2)
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59) {
    return NaN
  }
  let i = 19
  let ms = 0
  if (s.charCodeAt(i) === 46) {
    const end = digitsEnd(s, i + 1)
    if (end === i + 1) return NaN
    ms = fractionMs(s, i + 1, end)
    i = end
  }
  if (i === s.length) return clock(y, mo, d, h, mi, sec) + ms
  const z = s.charCodeAt(i)
  let offsetMs = 0
  if (z === 43 || z === 45) {
    const colon = s.charCodeAt(i + 3) === 58 ? 1 : 0
    const oh = digits(s, i + 1, 2)
    const om = digits(s, i + 3 + colon, 2)
    if (oh < 0 || oh > 23 || om < 0 || om > 59 || i + 5 + colon !== s.length) return NaN
    offsetMs = (z === 43 ? 1 : -1) * (oh * 60 + om) * 60_000
  } else if (z !== 90 || i + 1 !== s.length) {
    return NaN
  }
  return Date.UTC(y, mo - 1, d, h, mi, sec) + ms - offsetMs
}
