import { describe, expect, it } from 'vitest'
import { fanout } from '../../../detectors/fanout.ts'
import { newDestination } from '../../../detectors/new-destination.ts'
import { portNovelty } from '../../../detectors/port-novelty.ts'
import { smtpBurst } from '../../../detectors/smtp-burst.ts'
import { volumeSpike } from '../../../detectors/volume-spike.ts'
import type { DetectorDef } from '../../../src/engine/detector.ts'
import type { EgressEvent } from '../../../src/types.ts'
import { MIN, at, egress, smtpFlows } from '../../helpers/events.ts'
import { detectorFindings } from '../../helpers/run.ts'
import type { Found } from '../../helpers/run.ts'

/**
 * Five hours of a camera: a check-in every minute and a few hundred KB to its cloud every ten, then
 * from minute 200 what a compromised one does, spread over many windows: a telnet sweep of 60
 * hosts, a 45 MB upload to a host it never used over six minutes, direct SMTP to 40 servers, and
 * eight new destinations with traffic in several windows each.
 */
const camera = (): EgressEvent[] => {
  const events: EgressEvent[] = []
  for (let m = 0; m < 300; m++) {
    events.push(egress({ ts: at(m + 0.5), dstIp: '52.10.0.1', dstPort: 443, bytesOut: 2_000 }))
    if (m % 10 === 3) events.push(egress({ ts: at(m + 0.7), dstIp: '52.10.0.2', dstPort: 443, bytesOut: 300_000 + 1_000 * (m % 7) }))
  }
  for (let i = 0; i < 60; i++) events.push(egress({ ts: at(200 + (3 * i) / 60), dstIp: `45.${i}.7.9`, dstPort: i % 2 === 0 ? 23 : 2323, bytesOut: 60 }))
  for (let i = 0; i < 12; i++) events.push(egress({ ts: at(210 + i / 2 + 0.1), dstIp: '185.220.1.5', dstPort: 443, bytesOut: 3_750_000 }))
  events.push(...smtpFlows('dev-1', 230, 40))
  for (let d = 0; d < 8; d++) for (let k = 0; k < 4; k++) events.push(egress({ ts: at(240 + d + 3 * k + 0.2), dstIp: `91.200.${d}.1`, dstPort: 443, bytesOut: 5_000 }))
  return events
}

/**
 * As an exporter sends them: each flow a pseudo-random delay of up to eight minutes after its time
 * (a record at the flow's end, an active timeout, a collector's batch), in the order they arrive.
 */
const asExported = (events: readonly EgressEvent[]): EgressEvent[] => {
  let seed = 7
  const delay = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
    return (seed % (8 * MIN)) | 0
  }
  return events
    .map((e) => ({ e, arrives: e.ts + delay() }))
    .sort((a, b) => a.arrives - b.arrives || a.e.ts - b.e.ts)
    .map((x) => x.e)
}

const DETECTORS: [string, DetectorDef, Record<string, unknown>][] = [
  ['fanout', fanout, {}],
  ['new-destination', newDestination, {}],
  ['port-novelty', portNovelty, {}],
  ['smtp-burst', smtpBurst, {}],
  ['volume-spike', volumeSpike, { minModelBuckets: 0 }],
]

describe('a lateness of many windows', () => {
  const events = camera()

  it.each(DETECTORS)('%s: the same findings when the engine waits nine minutes for late events as when it waits 30 s', (_id, def, config) => {
    const prompt = detectorFindings(def, events, config)
    expect(prompt.length).toBeGreaterThan(0)
    expect(detectorFindings(def, events, config, { latenessMs: 9 * MIN })).toEqual(prompt)
  })

  it.each(DETECTORS)('%s: the same findings on the flows in an exporter\'s order, up to eight minutes late', (id, def, config) => {
    const sorted = detectorFindings(def, events, config, { latenessMs: 9 * MIN })
    const exported = asExported(events)
    expect(exported.map((e) => e.ts)).not.toEqual(events.map((e) => e.ts).sort((a, b) => a - b))
    const found = detectorFindings(def, exported, config, { latenessMs: 9 * MIN, asGiven: true })
    if (id !== 'fanout') {
      expect(found).toEqual(sorted)
      return
    }
    // Fan-out's evidence samples the window's destinations in the order they arrived: a sample
    // of that window's, the rest of the finding the same.
    const unsampled = (f: Found): Found => ({ ...f, finding: { ...f.finding, evidence: { ...f.finding.evidence, recentDestinations: [] }, destinations: [] } })
    expect(found.map(unsampled)).toEqual(sorted.map(unsampled))
    for (const f of found) {
      const contacted = new Set(events.filter((e) => Math.floor((e.ts - at(f.minute)) / MIN) === 0).map((e) => e.dstIp))
      expect(f.finding.destinations.length).toBeGreaterThan(0)
      for (const d of f.finding.destinations) expect(contacted).toContain(d)
    }
  })
})
