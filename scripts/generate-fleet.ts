// Generates the synthetic fleet (fleet.ndjson.gz, fleet.dns.ndjson.gz, fleet.labels.json) and the demo fixture, byte-identical for a given seed.
//   node dist/scripts/generate-fleet.js [--seed 20261102] [--out fixtures/synthetic] [--demo-out fixtures/demo/demo.ndjson] [--exporter]
// The generator is pure (generateFleet, generateDemo); only main() touches the file system.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { gzipSync } from 'node:zlib'
import { Command, InvalidArgumentError } from 'commander'
import { attackTraffic } from './fleet/attacks.ts'
import { asExported } from './fleet/exporter.ts'
import { collect, MINUTE, Traffic } from './fleet/flows.ts'
import type { FlowRecord } from './fleet/flows.ts'
import { MODELS, telemetryReports, wake } from './fleet/models.ts'
import type { Report } from './fleet/models.ts'
import { Rng } from './fleet/rng.ts'
import { FLEET_HISTORY_HOURS, planDemo, planFleet } from './fleet/scenarios.ts'
import type { DeviceSpec, FleetPlan, PlanOptions } from './fleet/scenarios.ts'

export const DEFAULT_SEED = 20261102

/** A canonical egress line; keys in contract order, `dstHost` absent when the collector has no name. */
export interface EgressEvent {
  readonly type: 'egress'
  readonly ts: number
  readonly deviceId: string
  readonly srcIp: string
  readonly dstIp: string
  readonly dstPort: number
  readonly proto: 'tcp' | 'udp'
  readonly bytesOut: number
  readonly bytesIn: number
  readonly packetsOut: number
  readonly durationMs: number
  readonly dstHost?: string
  readonly model: string
  readonly firmware: string
  readonly label: string
}

/** A canonical telemetry line: per-report counts, not cumulative. */
export interface TelemetryEvent {
  readonly type: 'telemetry'
  readonly ts: number
  readonly deviceId: string
  readonly model: string
  readonly firmware: string
  readonly metrics: { readonly emailsSent: number; readonly smtpConnections: number; readonly cpuPct: number; readonly bytesOut: number }
  readonly label: string
}

/** A canonical DNS answer line: what the device's lookup of a cloud service returned. */
export interface DnsEvent {
  readonly type: 'dns'
  readonly ts: number
  readonly deviceId: string
  readonly srcIp: string
  readonly query: string
  readonly answers: readonly string[]
  readonly ttl: number
}

export type FleetEvent = EgressEvent | TelemetryEvent

/** Ground truth for one device (fleet.labels.json). */
export interface DeviceLabel {
  readonly deviceId: string
  readonly model: string
  readonly kind: string
  /**
   * ISO-8601, the first malicious event (the dropper): the device's events are labelled
   * `<kind>/staging` from this instant on (dropper, C&C, template fetches) ...
   */
  readonly infectedAt: string | null
  /** ... and `<kind>` from this one, when the payload (spam, scan, upload) starts. */
  readonly activeAt: string | null
  readonly hardCase: string | null
}

export interface Fleet {
  readonly seed: number
  /** The labelled capture: [start, end). */
  readonly start: number
  readonly end: number
  /** When its traffic begins: `start`, or earlier with a history (`historyHours`). */
  readonly from: number
  /** Sorted by ts, then deviceId, then the order the device produced them. */
  readonly events: FleetEvent[]
  /** The DNS answers for cloud services (fleet.dns.ndjson.gz), sorted as `events`: where flows are exported, a DNS log is too. */
  readonly dns: DnsEvent[]
  /** Sorted by deviceId. */
  readonly labels: DeviceLabel[]
}

export type GenerateOptions = PlanOptions

// ---------------------------------------------------------------------------------------------
// One device: its flows, what the collector exports of them, and what its agent reports

/** Online: joined, not in its offline spell, not rebooting into new firmware. */
const onlineAt = (s: DeviceSpec) => (ts: number): boolean =>
  ts >= s.joinAt &&
  !(s.offline !== null && ts >= s.offline.from && ts < s.offline.to) &&
  !(s.update !== null && ts >= s.update.rebootAt && ts < s.update.rebootAt + MINUTE)

/** When the device last came up before `ts` (the capture's start, or its latest boot by then: `bootsOf`), or -1 while down. */
const upSinceAt = (s: DeviceSpec, start: number) => {
  const boots = bootsOf(s, start)
  const online = onlineAt(s)
  return (ts: number): number => {
    if (!online(ts)) return -1
    let since = Math.max(start, s.joinAt)
    for (const boot of boots) if (ts >= boot && boot > since) since = boot
    return since
  }
}

const firmwareAt = (s: DeviceSpec, ts: number): string => (s.update !== null && ts >= s.update.rebootAt ? s.update.firmware : s.firmware)
/** `benign` before infection, `<kind>/staging` until the payload starts, `<kind>` from then on. */
const labelAt = (s: DeviceSpec, ts: number): string => {
  const a = s.attack
  if (a === null || ts < a.infectedAt) return 'benign'
  return ts < a.activeAt ? `${a.kind}/staging` : a.kind
}

const egressEvent = (s: DeviceSpec, r: FlowRecord): EgressEvent => {
  const { ip, port, proto, host } = r.dest
  const firmware = firmwareAt(s, r.ts)
  const label = labelAt(s, r.ts)
  // Two literal shapes rather than spreads: this runs a few hundred thousand times.
  return host === undefined
    ? { type: 'egress', ts: r.ts, deviceId: s.deviceId, srcIp: s.srcIp, dstIp: ip, dstPort: port, proto, bytesOut: r.bytesOut, bytesIn: r.bytesIn, packetsOut: r.packetsOut, durationMs: r.durationMs, model: s.model, firmware, label }
    : { type: 'egress', ts: r.ts, deviceId: s.deviceId, srcIp: s.srcIp, dstIp: ip, dstPort: port, proto, bytesOut: r.bytesOut, bytesIn: r.bytesIn, packetsOut: r.packetsOut, durationMs: r.durationMs, dstHost: host, model: s.model, firmware, label }
}

const telemetryEvent = (s: DeviceSpec, r: Report): TelemetryEvent => ({
  type: 'telemetry',
  ts: r.ts,
  deviceId: s.deviceId,
  model: s.model,
  firmware: firmwareAt(s, r.ts),
  metrics: { emailsSent: r.emailsSent, smtpConnections: r.smtpConnections, cpuPct: r.cpuPct, bytesOut: r.bytesOut },
  label: labelAt(s, r.ts),
})

const deviceEvents = (plan: FleetPlan, s: DeviceSpec): { events: FleetEvent[]; dns: DnsEvent[] } => {
  if (s.owner === null) return householdEvents(plan, s, `device:${s.deviceId}`)
  // A new owner: the old household's traffic until the reset, the new one's (its address, resolver,
  // routine) from the device's first boot there, as a device set up anew.
  const { at, back, srcIp, traits } = s.owner
  const before = householdEvents(plan, { ...s, owner: null, offline: { from: at, to: plan.end } }, `device:${s.deviceId}`)
  const after = householdEvents(plan, { ...s, owner: null, srcIp, traits, joinAt: back, offline: null }, `device:${s.deviceId}:owner`)
  return { events: [...before.events, ...after.events], dns: [...before.dns, ...after.dns] }
}

/** A device's events in one household. */
const householdEvents = (plan: FleetPlan, spec: DeviceSpec, stream: string): { events: FleetEvent[]; dns: DnsEvent[] } => {
  // A device present at the labelled capture's start lived through the history before it.
  const s = spec.joinAt <= plan.start && plan.from < plan.start ? { ...spec, joinAt: plan.from } : spec
  const rng = new Rng(plan.seed).derive(stream)
  const from = Math.max(plan.from, s.joinAt)
  const t = new Traffic(rng.derive('traffic'), from, plan.end, s.traits.resolver, s.traits.uplinkMbps, upSinceAt(s, plan.from), s.traits.doh)
  MODELS[s.model].benign(t, s)
  if (s.joinAt > plan.from) wake(t, s, s.joinAt)
  if (s.offline !== null) wake(t, s, s.offline.to)
  if (s.attack !== null) attackTraffic(t, s, s.attack)
  t.resolveClouds()
  const online = onlineAt(s)
  const flows = t.flows.filter((f) => online(f.ts)).sort((a, b) => a.ts - b.ts)
  const infectedAt = s.attack?.infectedAt ?? Number.POSITIVE_INFINITY
  const exported = s.collected === 'all' ? flows : s.collected === 'none' ? [] : flows.filter((f) => f.ts < infectedAt)
  const events: FleetEvent[] = collect(exported).map((r) => egressEvent(s, r))
  const logged = s.collected === 'all' ? Number.POSITIVE_INFINITY : s.collected === 'none' ? Number.NEGATIVE_INFINITY : infectedAt
  const dns = t.answers
    .filter((a) => a.ts < logged && online(a.ts))
    .map((a): DnsEvent => ({ type: 'dns', ts: a.ts, deviceId: s.deviceId, srcIp: s.srcIp, query: a.query, answers: a.answers, ttl: a.ttl }))
  if (s.telemetry) {
    const hideMail = s.attack?.kind === 'compromised-model'
    // The agent stamps its reports with the device's clock, which SNTP keeps a few seconds off (a
    // few devices' tens of seconds). The device has no battery-backed clock: the first report after
    // each boot, sent before SNTP answered, is stamped from 2000-01-01 (see fixtures/synthetic/README.md).
    const clock = rng.derive('clock')
    const offset = clock.chance(0.05) ? clock.pick([-1, 1]) * clock.int(20_000, 50_000) : Math.round(clock.normal(0, 3000))
    for (const r of telemetryReports(s, flows, rng.derive('telemetry'), from, plan.end, hideMail)) {
      if (online(r.ts)) events.push({ ...telemetryEvent(s, r), ts: r.ts + offset })
    }
    for (const boot of bootsOf(s, plan.from)) {
      const at = boot + clock.int(15_000, 45_000)
      if (!online(at) || at >= plan.end) continue
      const report = { ts: RTC_EPOCH + (at - boot) + clock.int(20_000, 40_000), emailsSent: 0, smtpConnections: 0, cpuPct: clock.int(20, 60), bytesOut: clock.int(2000, 9000) }
      // Its label is benign whatever the device runs: a boot report carries no activity (and a
      // malicious label dated 2000 would make the device's onset 26 years early).
      events.push({ ...telemetryEvent(s, report), firmware: firmwareAt(s, at), label: 'benign' })
    }
  }
  return { events, dns }
}

/** Where a device without a battery-backed clock starts counting at boot. */
const RTC_EPOCH = Date.UTC(2000, 0, 1)

/** When the device boots within the capture: joining late, back from its offline spell, into new firmware. */
const bootsOf = (s: DeviceSpec, start: number): number[] => {
  const boots: number[] = []
  if (s.joinAt > start) boots.push(s.joinAt)
  if (s.offline !== null) boots.push(s.offline.to)
  if (s.update !== null) boots.push(s.update.rebootAt + MINUTE)
  return boots
}

/**
 * Sorts by ts; ties keep generation order, which is deviceId order (plan.devices is sorted)
 * and then the device's own order. Sorting indices over a typed array of times is several
 * times faster than comparing the event objects.
 */
const sortByTs = <E extends { readonly ts: number }>(events: readonly E[]): E[] => {
  const ts = Float64Array.from(events, (e) => e.ts)
  const order = Uint32Array.from(events, (_, i) => i).sort((a, b) => (ts[a] as number) - (ts[b] as number) || a - b)
  return Array.from(order, (i) => events[i] as E)
}

const simulate = (plan: FleetPlan): Fleet => {
  const generated: FleetEvent[] = []
  const answers: DnsEvent[] = []
  for (const s of plan.devices) {
    const { events, dns } = deviceEvents(plan, s)
    for (const e of events) generated.push(e)
    for (const a of dns) answers.push(a)
  }
  const labels = plan.devices.map((s) => ({
    deviceId: s.deviceId,
    model: s.model,
    kind: s.attack?.kind ?? 'benign',
    infectedAt: s.attack === null ? null : new Date(s.attack.infectedAt).toISOString(),
    activeAt: s.attack === null ? null : new Date(Math.max(s.attack.infectedAt, s.attack.activeAt)).toISOString(),
    hardCase: s.hardCase,
  }))
  return { seed: plan.seed, start: plan.start, end: plan.end, from: plan.from, events: sortByTs(generated), dns: sortByTs(answers), labels }
}

/** The synthetic fleet for `seed`: about 320 devices, labelled over 24 hours from 2026-11-02T00:00Z after a day of history (`historyHours`). Pure and deterministic. */
export const generateFleet = (seed: number = DEFAULT_SEED, options: GenerateOptions = {}): Fleet => simulate(planFleet(seed, options))

/** The demo's one file: its events and its DNS answers, by time. */
export const demoEvents = (demo: Fleet): (FleetEvent | DnsEvent)[] => sortByTs<FleetEvent | DnsEvent>([...demo.events, ...demo.dns])

/** The demo: 8 devices from 18:00 to 20:45, with a spam burst, a telemetry-only spambot and an exfiltration. */
export const generateDemo = (seed: number = DEFAULT_SEED): Fleet => simulate(planDemo(seed))

/** Canonical NDJSON: one event per line, newline-terminated. */
export const toNdjson = (events: readonly (FleetEvent | DnsEvent)[]): string => {
  let out = ''
  for (const e of events) out += JSON.stringify(e) + '\n'
  return out
}

/** fleet.labels.json: the summary, then one device per line (diff-friendly). */
export const labelsJson = (fleet: Fleet): string => {
  const rows = fleet.labels.map((l) => `    ${JSON.stringify(l)}`).join(',\n')
  return [
    '{',
    `  "seed": ${fleet.seed},`,
    `  "start": "${new Date(fleet.start).toISOString()}",`,
    `  "end": "${new Date(fleet.end).toISOString()}",`,
    // Only with a history: without one the file is as it always was.
    ...(fleet.from < fleet.start ? [`  "historyFrom": "${new Date(fleet.from).toISOString()}",`] : []),
    `  "devices": ${fleet.labels.length},`,
    `  "events": ${fleet.events.length},`,
    '  "labels": [',
    rows,
    '  ]',
    '}',
    '',
  ].join('\n')
}

// ---------------------------------------------------------------------------------------------
// CLI

const parseSeed = (value: string): number => {
  if (!/^\d{1,10}$/.test(value) || Number(value) > 0xffffffff) throw new InvalidArgumentError('expected an integer 0..4294967295')
  return Number(value)
}

const parseHours = (value: string): number => {
  if (!/^\d{1,3}$/.test(value) || Number(value) > 336) throw new InvalidArgumentError('expected whole hours 0..336')
  return Number(value)
}

const kib = (n: number): string => `${(n / 1024).toFixed(0)} KiB`

/** Parses the command line; bad usage exits 2 (the project's convention), --help exits 0. */
const parseArgs = (argv: readonly string[]): Command => {
  const program = new Command()
    .name('generate-fleet')
    .description('Write the synthetic fleet fixture and the demo fixture (deterministic for a seed).')
    .option('--seed <n>', 'PRNG seed', parseSeed, DEFAULT_SEED)
    .option('--out <dir>', 'directory for fleet.ndjson.gz, fleet.dns.ndjson.gz and fleet.labels.json', 'fixtures/synthetic')
    .option('--demo-out <file>', 'demo fixture (uncompressed NDJSON)', 'fixtures/demo/demo.ndjson')
    .option('--history-hours <n>', 'hours of history before the labelled day: the devices\' routines, and the compromised model already compromised (the other attacks and the hard cases lie in the labelled day; evaluate --from its start scores that day); 0 for none', parseHours, FLEET_HISTORY_HOURS)
    .option('--exporter', 'also write fleet.exported.ndjson.gz: the fleet as a flow exporter sends it (a record per active timeout of 60 s, sent 15 s after a flow goes idle), out of start order')
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
  return program.parse([...argv])
}

export const main = (argv: readonly string[]): void => {
  const program = parseArgs(argv)
  const opts = program.opts<{ seed: number; out: string; demoOut: string; historyHours: number; exporter?: boolean }>()
  const began = performance.now()
  const fleet = generateFleet(opts.seed, { historyHours: opts.historyHours })
  const gz = gzipSync(toNdjson(fleet.events), { level: 9, memLevel: 9 })
  mkdirSync(resolve(opts.out), { recursive: true })
  writeFileSync(join(opts.out, 'fleet.ndjson.gz'), gz)
  writeFileSync(join(opts.out, 'fleet.labels.json'), labelsJson(fleet))
  writeFileSync(join(opts.out, 'fleet.dns.ndjson.gz'), gzipSync(toNdjson(fleet.dns), { level: 9, memLevel: 9 }))
  if (opts.exporter) writeFileSync(join(opts.out, 'fleet.exported.ndjson.gz'), gzipSync(toNdjson(asExported(fleet.events)), { level: 9, memLevel: 9 }))
  const demo = toNdjson(demoEvents(generateDemo(opts.seed)))
  mkdirSync(dirname(resolve(opts.demoOut)), { recursive: true })
  writeFileSync(opts.demoOut, demo)
  const infected = fleet.labels.filter((l) => l.kind !== 'benign').length
  process.stderr.write(
    `fleet: ${fleet.events.length} events, ${fleet.labels.length} devices (${infected} infected) → ${join(opts.out, 'fleet.ndjson.gz')} (${kib(gz.length)}); ${fleet.dns.length} DNS answers → fleet.dns.ndjson.gz\n` +
      `demo: ${demo.split('\n').length - 1} events → ${opts.demoOut} (${kib(Buffer.byteLength(demo))})\n` +
      `seed ${opts.seed}, ${((performance.now() - began) / 1000).toFixed(1)} s\n`,
  )
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main(process.argv)
