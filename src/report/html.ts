// The evaluation as one self-contained HTML page: scores, per-detector timelines (inline SVG) and a drill-down per device. No script, no external resource.
import { minutesText as minutes } from '../evaluate.ts'
import type { DeviceOutcome, Evaluation } from '../evaluate.ts'
import type { Alert, Severity } from '../types.ts'

export interface ReportMeta {
  readonly title: string
  readonly inputs: readonly string[]
  /** Each enabled detector's version and configuration hash. */
  readonly provenance: ReadonlyMap<string, { readonly detectorVersion: number; readonly configHash: string }>
  readonly version: string
}

const SEVERITY_COLOUR: Readonly<Record<Severity, string>> = { low: '#9e9e9e', medium: '#f0a000', high: '#d9480f', critical: '#8b0000' }
/** Rows (devices) drawn per detector timeline at most; the drill-down lists them all. */
const MAX_ROWS = 80
const WIDTH = 1000
const LABEL = 230
const ROW = 14
const HOUR = 3_600_000
/** Alerts spread over more than this get a time axis per timeline instead of one for all. */
const SHARED_AXIS_MS = 31 * 24 * HOUR
const TICK_STEPS = [15 * 60_000, 30 * 60_000, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, 24 * HOUR, 48 * HOUR, 7 * 24 * HOUR, 30 * 24 * HOUR, 365 * 24 * HOUR]

const esc = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;')


/** An alert's span: its first firing record's start to its resolution's end, or the end of the input while it still fires. */
interface Span {
  readonly alert: Alert
  readonly from: number
  readonly to: number | null
}

const spansOf = (alerts: readonly Alert[]): Span[] => {
  const ended = new Map<string, number>()
  for (const a of alerts) if (a.status === 'resolved' && a.endsAt !== null) ended.set(a.id, Date.parse(a.endsAt))
  return alerts.filter((a) => a.status === 'firing' && (a.revision ?? 1) === 1).map((a) => ({ alert: a, from: Date.parse(a.startsAt), to: ended.get(a.id) ?? null }))
}

const timeline = (detector: string, spans: readonly Span[], devices: ReadonlyMap<string, { index: number; outcome: DeviceOutcome | undefined }>, start: number, end: number): string => {
  const ids = [...new Set(spans.map((s) => s.alert.deviceId))].sort()
  const shown = ids.slice(0, MAX_ROWS)
  const height = shown.length * ROW + 24
  const x = (t: number): number => LABEL + ((WIDTH - LABEL - 10) * (t - start)) / Math.max(1, end - start)
  const parts: string[] = [
    `<svg class="timeline" role="img" aria-label="${esc(detector)} alerts over time" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" xmlns="http://www.w3.org/2000/svg">`,
  ]
  // Ticks along the top (UTC): at most eight, each with its date (MM-DD) unless the steps are whole
  // days (then the date alone); labels centred on their tick, the first and last kept inside.
  const step = TICK_STEPS.find((st) => (end - start) / st <= 8) ?? (end - start) / 8
  for (let t = Math.ceil(start / step) * step; t <= end; t += step) {
    const iso = new Date(t).toISOString()
    const label = step >= 24 * HOUR ? iso.slice(0, 10) : `${iso.slice(5, 10)} ${iso.slice(11, 16)}`
    const at = x(t)
    const anchor = at - LABEL < 40 ? 'start' : WIDTH - at < 40 ? 'end' : 'middle'
    parts.push(`<line x1="${at.toFixed(1)}" y1="10" x2="${at.toFixed(1)}" y2="${height}" class="tick"/><text x="${at.toFixed(1)}" y="9" text-anchor="${anchor}" class="tick-label">${label}</text>`)
  }
  shown.forEach((id, row) => {
    const y = 14 + row * ROW
    const d = devices.get(id)
    const kind = d?.outcome?.kind ?? 'benign'
    parts.push(`<a href="#device-${d?.index ?? 0}"><text x="4" y="${y + 10}" class="row-label ${kind === 'benign' ? 'benign' : 'infected'}">${esc(id.length > 30 ? `${id.slice(0, 29)}…` : id)}</text></a>`)
    const onset = d?.outcome?.onsetAt
    if (onset !== null && onset !== undefined) {
      const ox = x(Date.parse(onset)).toFixed(1)
      parts.push(`<line x1="${ox}" y1="${y}" x2="${ox}" y2="${y + ROW - 2}" class="onset"><title>${esc(`${kind}: infected ${onset}`)}</title></line>`)
    }
    for (const s of spans) {
      if (s.alert.deviceId !== id) continue
      const x0 = x(s.from)
      const x1 = Math.max(x0 + 2, x(s.to ?? end))
      const tip = `${s.alert.severity} ${s.alert.startsAt} to ${s.alert.endsAt ?? (s.to === null ? 'still firing' : new Date(s.to).toISOString())}: ${s.alert.summary}`
      parts.push(
        `<rect x="${x0.toFixed(1)}" y="${y + 2}" width="${(x1 - x0).toFixed(1)}" height="${ROW - 5}" fill="${SEVERITY_COLOUR[s.alert.severity]}" class="span"><title>${esc(tip)}</title></rect>`,
      )
    }
  })
  parts.push('</svg>')
  const more = ids.length > shown.length ? `<p class="note">${ids.length - shown.length} more devices in the drill-down below.</p>` : ''
  return parts.join('') + more
}

/** An evidence value as text: lists joined, objects as JSON. */
const shown = (v: unknown): string | number =>
  typeof v === 'number' ? v : typeof v === 'string' ? v : v === null ? '–' : Array.isArray(v) ? v.map((x) => (typeof x === 'string' || typeof x === 'number' ? String(x) : JSON.stringify(x))).join(', ') : JSON.stringify(v)

const table = (head: readonly string[], rows: readonly (readonly (string | number)[])[]): string =>
  `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${typeof c === 'number' ? c : esc(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td{overflow-wrap:anywhere}td code{font-size:12px;white-space:pre-wrap;word-break:break-all}
details.evidence{margin-left:1.5em}details.evidence table{font-size:12px}
.tick{stroke:#eee}.tick-label{font-size:10px;fill:#888}.row-label{font-size:11px}.row-label.infected{fill:#8b0000}.row-label.benign{fill:#333}
.onset{stroke:#000;stroke-width:2}details{margin:.3em 0}summary{cursor:pointer}.note{color:#666}
.legend span{display:inline-block;padding:0 .6em;margin-right:.5em;color:#fff}`

/** The whole page. `alerts` are the replay's records, firing and resolved. */
export const renderReport = (e: Evaluation, alerts: readonly Alert[], meta: ReportMeta): string => {
  const start = e.start === null ? 0 : Date.parse(e.start)
  const end = e.end === null ? 1 : Date.parse(e.end)
  const byDevice = new Map<string, Alert[]>()
  for (const a of alerts) {
    const list = byDevice.get(a.deviceId)
    if (list) list.push(a)
    else byDevice.set(a.deviceId, [a])
  }
  // The drill-down: infected devices and devices with alerts, in device order.
  const listed = e.perDevice.filter((d) => d.kind !== 'benign' || byDevice.has(d.deviceId))
  const devices = new Map(listed.map((d, index) => [d.deviceId, { index, outcome: d as DeviceOutcome | undefined }]))
  for (const id of byDevice.keys()) if (!devices.has(id)) devices.set(id, { index: devices.size, outcome: undefined })
  const spans = spansOf(alerts)
  const detectors = [...new Set(spans.map((s) => s.alert.detector))].sort()

  const out: string[] = [
    '<!doctype html>',
    `<html lang="en"><head><meta charset="utf-8"><title>${esc(meta.title)}</title><style>${STYLE}</style></head><body>`,
    `<h1>${esc(meta.title)}</h1>`,
    `<p>egress-sentinel ${esc(meta.version)}; inputs: ${meta.inputs.map((i) => `<code>${esc(i)}</code>`).join(', ')}; event time ${esc(e.start ?? '–')} to ${esc(e.end ?? '–')}.</p>`,
    '<h2 id="scores">Scores</h2>',
    table(
      ['devices', 'infected', 'detected', 'recall', 'benign', 'false alarms', 'false-alarm rate', 'precision', 'notices', 'median time to detect'],
      [[e.devices, e.infected, e.detected, e.recall, e.benign, e.falseAlarms, e.falseAlarmRate, e.precision, e.notices, minutes(e.medianTimeToDetectSeconds)]],
    ),
    table(['attack kind', 'devices', 'detected', 'recall', 'median time to detect', 'from payload'],
      e.byKind.map((k) => [k.kind, k.devices, k.detected, k.recall, minutes(k.medianTimeToDetectSeconds), minutes(k.medianTimeToDetectPayloadSeconds)])),
    '<h2 id="provenance">Detectors and configuration</h2>',
    table(['detector', 'version', 'config hash', 'firing alerts', 'on infected', 'on benign', 'notices'],
      [...meta.provenance].map(([id, p]) => {
        const d = e.byDetector[id]
        const notices = alerts.filter((a) => a.detector === id && a.status === 'firing' && (a.revision ?? 1) === 1 && a.kind === 'notice').length
        return [id, p.detectorVersion, p.configHash, d?.alerts ?? 0, d?.onInfected ?? 0, d?.onBenign ?? 0, notices]
      })),
    '<h2 id="timelines">Timelines</h2>',
    `<p class="legend">${(Object.entries(SEVERITY_COLOUR) as [Severity, string][]).map(([s, c]) => `<span style="background:${c}">${s}</span>`).join('')} a black tick marks an infected device's first malicious event; infected devices' names are red. Each name links to its drill-down.</p>`,
  ]
  // One time axis for every timeline, the alerts' span padded (not the input's, which one device's
  // clock reset to 2000 would stretch over decades); recordings far apart in time (the real
  // captures span years) would squash each alert to a sliver, so past a month each detector's
  // timeline spans its own alerts, and the page says so.
  const axis = (of: readonly Span[]): [number, number] => {
    let from = Infinity
    let to = -Infinity
    for (const s of of) {
      from = Math.min(from, s.from)
      to = Math.max(to, s.to ?? end, s.from)
    }
    const pad = Math.max(HOUR / 2, (to - from) / 20)
    return [Math.max(start, from - pad), Math.min(Math.max(end, to), to + pad)]
  }
  const shared = axis(spans)
  const oneAxis = shared[1] - shared[0] <= SHARED_AXIS_MS
  if (!oneAxis && spans.length > 0) out.push(`<p class="note">The alerts span ${Math.round((shared[1] - shared[0]) / (24 * HOUR))} days: each timeline has its own time axis.</p>`)
  for (const id of detectors) {
    const own = spans.filter((s) => s.alert.detector === id)
    const [from, to] = oneAxis ? shared : axis(own)
    out.push(`<section class="detector" id="detector-${esc(id)}"><h3>${esc(id)}</h3>`)
    out.push(timeline(id, own, devices, from, to))
    out.push('</section>')
  }
  out.push('<h2 id="devices">Devices</h2>')
  for (const [id, { index, outcome }] of devices) {
    const own = byDevice.get(id) ?? []
    const head = outcome === undefined
      ? esc(id)
      : `${esc(id)}: ${esc(outcome.model)}, ${esc(outcome.kind)}, <b>${esc(outcome.outcome)}</b>${outcome.timeToDetectSeconds === null ? '' : `, detected after ${minutes(outcome.timeToDetectSeconds)}`}`
    out.push(`<details class="device" id="device-${index}"><summary>${head} (${own.filter((a) => a.status === 'firing' && (a.revision ?? 1) === 1).length} alerts)</summary>`)
    if (outcome?.onsetAt) out.push(`<p>First malicious event: ${esc(outcome.onsetAt)}.</p>`)
    out.push(table(['detector', 'kind', 'status', 'severity', 'starts', 'ends', 'summary', 'peers', 'version / config'],
      own.map((a) => [a.detector, a.kind ?? 'alert', a.status === 'firing' && (a.revision ?? 1) > 1 ? `escalated from ${a.previousSeverity ?? ''}` : a.status, a.severity, a.startsAt, a.endsAt ?? '', a.summary,
        typeof a.evidence.peerSummary === 'string' ? a.evidence.peerSummary : '', `v${a.detectorVersion} ${a.configHash}`])))
    // Each record's evidence as a table of its own (the peer figures are in the peers column).
    for (const a of own) {
      const facts = Object.entries(a.evidence).filter(([k]) => !k.startsWith('peer'))
      if (facts.length === 0) continue
      out.push(`<details class="evidence"><summary>evidence: ${esc(a.detector)} ${esc(a.status)} ${esc(a.updatedAt)}</summary>`)
      out.push(table(['field', 'value'], facts.map(([k, v]) => [k, shown(v)])))
      out.push('</details>')
    }
    out.push('</details>')
  }
  out.push('</body></html>')
  return out.join('\n') + '\n'
}
