// The HTML report of `evaluate --html` as a detection engineer sees it: rendered by a real browser (headless Chromium, Debian's chromium package), self-contained, with a timeline per detector and a drill-down per device, and inert against hostile device ids.
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { beforeAll, describe, expect, it } from 'vitest'
import type { Alert } from '../../src/types.ts'

const run = promisify(execFile)
const BIN = fileURLToPath(new URL('../../bin/egress-sentinel.js', import.meta.url))
const DEMO = fileURLToPath(new URL('../../fixtures/demo/demo.ndjson', import.meta.url))
const HOSTILE = '<img src=x onerror=alert(1)>'

/** Chromium's flags for a sandbox-less CI container; its stderr (dbus noise) is ignored. */
const chromium = async (...args: string[]): Promise<string> =>
  (await run('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', ...args], { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 })).stdout

let dir = ''
let alerts: Alert[] = []
let dom = ''

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'egress-report-'))
  // The demo, with one infected device renamed to something a page must never run.
  const lines = readFileSync(DEMO, 'utf8').replaceAll('"deviceId":"frostbyte-fridge-', `"deviceId":"${HOSTILE.replaceAll('"', '\\\\"')}-`)
  writeFileSync(join(dir, 'demo.ndjson'), lines)
  await run(process.execPath, [BIN, 'evaluate', '-q', '--html', join(dir, 'report.html'), '--alerts', join(dir, 'alerts.ndjson'), join(dir, 'demo.ndjson')])
  alerts = readFileSync(join(dir, 'alerts.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Alert)
  dom = await chromium('--dump-dom', pathToFileURL(join(dir, 'report.html')).href)
}, 120_000)

describe('evaluate --html', () => {
  it('renders in Chromium with the scores, one timeline per detector that alerted, and a drill-down per alerted or infected device', () => {
    expect(dom).toContain('<title>egress-sentinel evaluation</title>')
    const detectors = new Set(alerts.filter((a) => a.status === 'firing').map((a) => a.detector))
    expect(detectors.size).toBeGreaterThan(2)
    expect(dom.match(/<svg class="timeline"/g)).toHaveLength(detectors.size)
    for (const d of detectors) expect(dom).toContain(`<section class="detector" id="detector-${d}">`)
    // Every alert is one bar (its first firing record; escalations are the same alert), in the timeline of its detector.
    expect(alerts.some((a) => a.status === 'firing' && a.revision > 1)).toBe(true)
    expect(dom.match(/<rect [^>]*class="span"/g)).toHaveLength(alerts.filter((a) => a.status === 'firing' && a.revision === 1).length)
    const alerted = new Set(alerts.map((a) => a.deviceId))
    expect((dom.match(/<details class="device"/g) ?? []).length).toBeGreaterThanOrEqual(alerted.size)
    for (const a of alerts.filter((x) => x.status === 'firing')) expect(dom).toContain(`v${a.detectorVersion} ${a.configHash}`)
  })

  it('draws every timeline on one time axis, each tick labelled with its date, none past the edge', () => {
    const axes = [...dom.matchAll(/<svg class="timeline"[\s\S]*?<\/svg>/g)].map((m) => [...m[0].matchAll(/<text [^>]*class="tick-label"[^>]*>([^<]*)<\/text>/g)].map((t) => t[1]))
    expect(axes.length).toBeGreaterThan(2)
    for (const ticks of axes) expect(ticks).toEqual(axes[0])
    // The demo's evening: 18:00 to 21:00 on 2026-11-02, ticks every half hour or so, dated.
    for (const t of axes[0]!) expect(t).toMatch(/^11-02 \d\d:\d\d$/)
    const anchors = [...dom.matchAll(/<text x="([\d.]+)" y="9" text-anchor="(\w+)"/g)].map((m) => [Number(m[1]), m[2]] as const)
    for (const [x, anchor] of anchors) if (anchor === 'middle') expect(x).toBeLessThanOrEqual(1000 - 40)
  })

  it('gives each timeline its own axis, and says so, when the alerts span more than a month (the real captures: years apart)', async () => {
    const html = join(dir, 'real.html')
    await run(process.execPath, [BIN, 'evaluate', '-q', '--html', html, fileURLToPath(new URL('../../fixtures/real', import.meta.url))])
    const page = readFileSync(html, 'utf8')
    expect(page).toMatch(/<p class="note">The alerts span \d+ days: each timeline has its own time axis\.<\/p>/)
    const axes = [...page.matchAll(/<svg class="timeline"[\s\S]*?<\/svg>/g)].map((m) => [...m[0].matchAll(/class="tick-label"[^>]*>([^<]*)</g)].map((t) => t[1]).join(' '))
    expect(axes.length).toBeGreaterThan(1)
    expect(new Set(axes).size).toBe(axes.length)
    // The demo, one evening, has none of that note.
    expect(dom).not.toContain('each timeline has its own time axis')
  })

  it('shows each record\'s evidence as a table of fields, not as JSON', () => {
    const withEvidence = alerts.filter((a) => Object.keys(a.evidence).some((k) => !k.startsWith('peer')))
    expect(dom.match(/<details class="evidence">/g)).toHaveLength(withEvidence.length)
    expect(dom).not.toContain('{&quot;')
    const upload = alerts.find((a) => a.evidence.rule === 'upload')!
    expect(dom).toContain(`<tr><td>netBytesOut</td><td>${upload.evidence.netBytesOut as number}</td></tr>`)
  })

  it('shows a hostile device id as text: no element, no handler from the input', () => {
    expect(alerts.some((a) => a.deviceId.startsWith(HOSTILE))).toBe(true)
    expect(dom).not.toMatch(/<img/i)
    expect(dom).toContain('&lt;img src=x onerror=alert(1)&gt;')
  })

  it('is one self-contained file: no script, nothing fetched', () => {
    const html = readFileSync(join(dir, 'report.html'), 'utf8')
    expect(html).not.toMatch(/<script/i)
    expect(html.match(/(?:src|href)="(?!#)[^"]*"/g)).toBeNull()
  })

  it('draws a page, not a blank one', async () => {
    const png = join(dir, 'report.png')
    await chromium(`--screenshot=${png}`, '--window-size=1200,1600', pathToFileURL(join(dir, 'report.html')).href)
    // A blank 1200×1600 PNG compresses to a few kilobytes; the report with its timelines does not.
    expect(statSync(png).size).toBeGreaterThan(30_000)
  }, 60_000)
})
