// Alert records for a terminal: one line each (time, status, severity, device or campaign, model, detector, summary), coloured on a TTY.
import type { AlertRecord, Severity } from '../types.ts'
import { kindOf } from '../types.ts'

/** How replay and alerts print records: NDJSON, or one line each for a person. */
export type OutputFormat = 'json' | 'text'

/** `-o json|text`; absent, text for a terminal and NDJSON for anything else (a pipe, a file). */
export const outputFormat = (flag: string | undefined, stdoutIsTty: boolean): OutputFormat | null => {
  if (flag === undefined) return stdoutIsTty ? 'text' : 'json'
  return flag === 'json' || flag === 'text' ? flag : null
}

const SGR: Readonly<Record<Severity, string>> = { critical: '1;31', high: '31', medium: '33', low: '36' }
const paint = (on: boolean, code: string, text: string): string => (on ? `\x1b[${code}m${text}\x1b[0m` : text)
const pad = (text: string, width: number): string => (text.length >= width ? text : text + ' '.repeat(width - text.length))
/**
 * Text from the input (device ids, host names in summaries) as it may reach a terminal: control
 * characters (C0, DEL, C1: escape sequences that would recolour, retitle or rewrite the screen) as `\xNN`.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g
const inert = (text: string): string => text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)

/**
 * One line: `2026-11-02 18:21:00  firing    high      frostbyte-fridge-a5e501  frostbyte-fridge  port-novelty  first use of …`.
 * The time is the record's (event time, UTC); a campaign shows its device count where a device
 * alert shows the device; a notice says so; an escalation shows the severity it came from.
 */
export const alertLine = (r: AlertRecord, colour: boolean): string => {
  const time = r.updatedAt.replace('T', ' ').replace(/\.\d+Z$|Z$/, '')
  const status = r.status === 'firing' && r.revision > 1 && r.previousSeverity !== null && r.previousSeverity !== r.severity ? 'escalated' : r.status
  const who = r.scope === 'fleet' ? `${r.kind} of ${r.deviceCount} devices` : r.deviceId
  const model = (r.scope === 'fleet' ? r.model ?? r.models.join(',') : r.model) ?? '-'
  const notice = kindOf(r) === 'notice' ? 'notice: ' : ''
  const line = [
    inert(time),
    pad(inert(status), 9),
    paint(colour && r.status === 'firing', SGR[r.severity] ?? '0', pad(inert(r.severity), 8)),
    pad(inert(who), 24),
    pad(inert(model), 18),
    pad(inert(r.detector), 15),
    notice + inert(r.summary.replaceAll('\n', ' ')),
  ].join('  ')
  return colour && r.status === 'resolved' ? paint(true, '2', line) : line
}
