// `npm run bench`: replay throughput against a bare JSON.parse loop, devices at scale (heap, throughput, checkpoint bytes), and where replay spends its time.
// Figures are ratios against baselines measured in the same run, so they compare across machines.
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync, gzipSync } from 'node:zlib'
import { DETECTORS } from '../detectors/index.ts'
import { loadConfig, parseConfig } from '../src/config/load.ts'
import { createPipeline } from '../src/pipeline.ts'
import { replay } from '../src/replay.ts'
import { DEFAULT_MAX_LINE_BYTES, forEachLine } from '../src/sources/file.ts'
import type { EgressEvent, TelemetryEvent } from '../src/types.ts'
import { kafkaThroughput } from './kafka.ts'
import { toNdjson } from '../scripts/generate-fleet.ts'
import type { FleetEvent } from '../scripts/generate-fleet.ts'
import { asExported } from '../scripts/fleet/exporter.ts'

const FLEET = fileURLToPath(new URL('../../fixtures/synthetic/fleet.ndjson.gz', import.meta.url))
const FLEET_DNS = fileURLToPath(new URL('../../fixtures/synthetic/fleet.dns.ndjson.gz', import.meta.url))
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)

const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc
  if (g === undefined) throw new Error('run with node --expose-gc (npm run bench does)')
  g()
  g()
}

/** Best of `ROUNDS` timings of `fn`, in ms: the least disturbed run of a noisy machine. */
const best = async (fn: () => Promise<unknown>): Promise<number> => {
  let min = Infinity
  for (let i = 0; i < ROUNDS; i++) {
    const t = performance.now()
    await fn()
    min = Math.min(min, performance.now() - t)
  }
  return min
}

const throughput = async (): Promise<Record<string, number>> => {
  // Both sides read the same uncompressed file with the same line reader: only the work per line differs.
  const dir = mkdtempSync(join(tmpdir(), 'egress-bench-'))
  const file = join(dir, 'fleet.ndjson')
  writeFileSync(file, gunzipSync(readFileSync(FLEET)))
  const config = loadConfig(undefined, DETECTORS)
  let events = 0
  let alerts = 0
  try {
    let sink = 0
    const parseMs = await best(() =>
      forEachLine(file, (line) => {
        if (line.length > 0) sink += (JSON.parse(line) as { ts: number }).ts & 1
      }, { maxLineBytes: DEFAULT_MAX_LINE_BYTES, onOversize: () => {} }))
    const replayMs = await best(async () => {
      alerts = 0
      const s = await replay({ inputs: [file], format: 'auto', config, detectors: DETECTORS, onAlert: () => void alerts++ })
      events = s.events
    })
    // Without the owner table (destinations known by name and prefix alone): what owners cost.
    const noOwners = { ...config, destinations: { ...config.destinations, owners: 'none' } }
    const replayNoOwnersMs = await best(() => replay({ inputs: [file], format: 'auto', config: noOwners, detectors: DETECTORS, onAlert: () => {} }))
    // With the fleet's DNS answers in the same file (one input: no merge of files), which name the
    // cloud services' flows: what names from DNS cost, per event of the fleet.
    const withDnsFile = join(dir, 'fleet-and-dns.ndjson')
    const lines = [...readFileSync(file, 'utf8').trimEnd().split('\n'), ...gunzipSync(readFileSync(FLEET_DNS)).toString('utf8').trimEnd().split('\n')]
    const tsOf = lines.map((l) => (JSON.parse(l) as { ts: number }).ts)
    const order = Uint32Array.from(lines, (_, i) => i).sort((a, b) => tsOf[a]! - tsOf[b]! || a - b)
    writeFileSync(withDnsFile, `${Array.from(order, (i) => lines[i]).join('\n')}\n`)
    const replayDnsMs = await best(() => replay({ inputs: [withDnsFile], format: 'auto', config, detectors: DETECTORS, onAlert: () => {} }))
    // Six shards over one fleet view (what `run` deploys): the same alerts, the cost of the sharding.
    let alerts6 = 0
    const replay6Ms = await best(async () => {
      alerts6 = 0
      await replay({ inputs: [file], format: 'auto', config, detectors: DETECTORS, partitions: 6, onAlert: () => void alerts6++ })
    })
    // The fleet as a flow exporter sends it (records at a flow's end or active timeout, out of start
    // order), against the sorted fleet, both with the lateness the emission needs.
    const exportedFile = join(dir, 'fleet.exported.ndjson')
    const fleetEvents = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as FleetEvent)
    writeFileSync(exportedFile, toNdjson(asExported(fleetEvents)))
    const late120 = { ...config, engine: { ...config.engine, allowedLatenessSeconds: 120 } }
    let exportedEvents = 0
    let exportedLate = 0
    const sorted120Ms = await best(() => replay({ inputs: [file], format: 'auto', config: late120, detectors: DETECTORS, onAlert: () => {} }))
    const exportedMs = await best(async () => {
      const s = await replay({ inputs: [exportedFile], format: 'auto', config: late120, detectors: DETECTORS, onAlert: () => {} })
      exportedEvents = s.events
      exportedLate = s.late
    })
    if (sink < 0) console.log(sink)
    return {
      events,
      alerts,
      parseEventsPerSecond: Math.round(events / (parseMs / 1000)),
      replayEventsPerSecond: Math.round(events / (replayMs / 1000)),
      ratio: Math.round((parseMs / replayMs) * 1000) / 1000,
      alerts6,
      replay6EventsPerSecond: Math.round(events / (replay6Ms / 1000)),
      sixOverOne: Math.round((replayMs / replay6Ms) * 1000) / 1000,
      sorted120EventsPerSecond: Math.round(events / (sorted120Ms / 1000)),
      replayNoOwnersEventsPerSecond: Math.round(events / (replayNoOwnersMs / 1000)),
      ownersOverNone: Math.round((replayNoOwnersMs / replayMs) * 1000) / 1000,
      answers: lines.length - events,
      replayDnsEventsPerSecond: Math.round(events / (replayDnsMs / 1000)),
      dnsOverNone: Math.round((replayMs / replayDnsMs) * 1000) / 1000,
      exportedEvents,
      exportedLate,
      exportedEventsPerSecond: Math.round(exportedEvents / (exportedMs / 1000)),
      exportedOverSorted: Math.round((exportedEvents / exportedMs / (events / sorted120Ms)) * 1000) / 1000,
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * The line reader alone (no parsing) over the fleet and over over-long lines, which it hashes and
 * skips chunk by chunk: time is linear in the input, so the rates should be of one order.
 */
const lineReading = async (): Promise<{ input: string; mb: number; mbPerSecond: number; oversize: number }[]> => {
  const dir = mkdtempSync(join(tmpdir(), 'egress-bench-lines-'))
  const fleet = join(dir, 'fleet.ndjson')
  const long = join(dir, 'long.ndjson')
  const gzipLine = join(dir, 'line.gz')
  writeFileSync(fleet, gunzipSync(readFileSync(FLEET)))
  // 16 lines of 16 MiB between short ones; a gzip of one 64 MiB line (about 64 KB: a small bomb).
  const line = Buffer.concat([Buffer.alloc(16 << 20, 'x'), Buffer.from('\n{}\n')])
  for (let i = 0; i < 16; i++) appendFileSync(long, line)
  writeFileSync(gzipLine, gzipSync(Buffer.alloc(64 << 20, 'a')))
  const inputs = [
    { input: 'fleet NDJSON', file: fleet, bytes: statSync(fleet).size },
    { input: '16 lines of 16 MiB', file: long, bytes: statSync(long).size },
    { input: 'gzip of one 64 MiB line', file: gzipLine, bytes: 64 << 20 },
  ]
  try {
    const rows = []
    for (const { input, file, bytes } of inputs) {
      let oversize = 0
      const ms = await best(() => {
        oversize = 0
        return forEachLine(file, () => {}, { maxLineBytes: DEFAULT_MAX_LINE_BYTES, onOversize: () => void oversize++ })
      })
      rows.push({ input, mb: Math.round(bytes / 1e6), mbPerSecond: Math.round(bytes / 1e6 / (ms / 1000)), oversize })
    }
    return rows
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * The heap in use and the array buffers' memory outside it, after a collection; the buffers of
 * typed arrays that grew are freed a moment after the collection that finds them dead.
 */
const memory = async (): Promise<number> => {
  gc()
  await new Promise((resolve) => setTimeout(resolve, 200))
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

/**
 * `devices` devices with an hour of ordinary traffic (a flow every 3 minutes, a report every 15):
 * memory growth per device (the heap, and the typed arrays' buffers outside it: detectors keep
 * rows of numbers there), events per second of the ingest (the engine and the detectors, no
 * decode), and the bytes of a checkpoint (the changelog's) per device.
 */
const atScale = async (devices: number): Promise<Record<string, number>> => {
  const config = parseConfig({ engine: { maxDevices: Math.max(200_000, devices + 1) } }, DETECTORS)
  const before = await memory()
  const pipeline = createPipeline(config, DETECTORS, () => {})
  const now = Date.now()
  const t0 = Date.UTC(2026, 10, 2)
  const models = ['frostbyte-fridge', 'lumen-tv', 'peep-cam', 'hue-bridge']
  let events = 0
  const started = performance.now()
  for (let minute = 0; minute < 60; minute += 3) {
    for (let d = 0; d < devices; d++) {
      const deviceId = `dev-${d}`
      const model = models[d & 3]!
      const ts = t0 + minute * 60_000 + (d % 60_000)
      const e: EgressEvent = {
        type: 'egress', ts, deviceId, srcIp: undefined, dstIp: `192.0.2.${(d + minute) & 7}`, dstPort: minute % 9 === 0 ? 123 : 443,
        proto: minute % 9 === 0 ? 17 : 6, bytesOut: 1500 + (d & 1023), bytesIn: 4000, packetsOut: 4, durationMs: 300, continued: false,
        dstHost: `api${(d + minute) & 7}.vendor.example`, model, firmware: '1.0.0', label: undefined,
      }
      pipeline.ingest(e, now)
      events++
      if (minute % 15 === 0) {
        const t: TelemetryEvent = { type: 'telemetry', ts: ts + 1000, deviceId, model, firmware: '1.0.0', metrics: { emailsSent: 0, cpuPct: 12 }, label: undefined }
        pipeline.ingest(t, now)
        events++
      }
    }
  }
  const seconds = (performance.now() - started) / 1000
  const after = await memory()
  const tracked = pipeline.devicesTracked()
  if (tracked !== devices) throw new Error(`expected ${devices} devices tracked, got ${tracked}`)
  // The checkpoint a shard writes to the changelog: a record per device, its JSON (summed device by
  // device: one string of a million devices' would pass V8's longest), and the shard's own record.
  const { devices: states, ...shard } = pipeline.snapshot()
  let checkpointBytes = Buffer.byteLength(JSON.stringify(shard))
  for (const d of states) checkpointBytes += Buffer.byteLength(JSON.stringify(d))
  return { devices: tracked, memoryBytes: after - before, bytesPerDevice: Math.round((after - before) / tracked), eventsPerSecond: Math.round(events / seconds), checkpointBytesPerDevice: Math.round(checkpointBytes / tracked) }
}

/** The functions replay spends its own time in (self time, V8's sampling profiler), over one replay of the fleet. */
const profile = async (top: number): Promise<{ fn: string; where: string; percent: number }[]> => {
  const dir = mkdtempSync(join(tmpdir(), 'egress-bench-'))
  const file = join(dir, 'fleet.ndjson')
  writeFileSync(file, gunzipSync(readFileSync(FLEET)))
  const config = loadConfig(undefined, DETECTORS)
  const session = new Session()
  session.connect()
  const post = <T>(method: string, params?: object): Promise<T> =>
    new Promise((resolve, reject) => session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res as T))))
  try {
    await post('Profiler.enable')
    await post('Profiler.setSamplingInterval', { interval: 200 })
    await post('Profiler.start')
    await replay({ inputs: [file], format: 'auto', config, detectors: DETECTORS, onAlert: () => {} })
    const { profile: p } = await post<{ profile: { nodes: { id: number; hitCount?: number; callFrame: { functionName: string; url: string; lineNumber: number } }[] } }>('Profiler.stop')
    const self = new Map<string, { fn: string; where: string; hits: number }>()
    let total = 0
    for (const n of p.nodes) {
      const hits = n.hitCount ?? 0
      total += hits
      const { functionName, url, lineNumber } = n.callFrame
      const where = url === '' ? '' : `${url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${lineNumber + 1}`
      const key = `${functionName}@${where}`
      const e = self.get(key) ?? { fn: functionName === '' ? '(anonymous)' : functionName, where, hits: 0 }
      e.hits += hits
      self.set(key, e)
    }
    return [...self.values()].sort((a, b) => b.hits - a.hits).slice(0, top).map((e) => ({ fn: e.fn, where: e.where, percent: Math.round((1000 * e.hits) / total) / 10 }))
  } finally {
    session.disconnect()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The fleet's records, each followed by its copies for devices `<id>~1` to `<id>~<copies - 1>`. */
const writeCopies = (file: string, copies: number): void => {
  // Patched with indexOf, not a regular expression: V8 keeps a regular expression's last subject
  // (RegExp.input), here a slice that holds the fleet's 145 MB alive inside the memory measured.
  const text = gunzipSync(readFileSync(FLEET)).toString('utf8')
  const field = '"deviceId":"'
  let chunk: string[] = []
  for (let start = 0; start < text.length; ) {
    const newline = text.indexOf('\n', start)
    const end = newline < 0 ? text.length : newline
    const line = text.slice(start, end)
    start = end + 1
    if (line.length === 0) continue
    chunk.push(line)
    const at = line.indexOf(field)
    const idEnd = line.indexOf('"', at + field.length)
    if (at < 0 || idEnd < 0) throw new Error(`bench: a fleet record without a deviceId: ${line.slice(0, 200)}`)
    for (let k = 1; k < copies; k++) chunk.push(`${line.slice(0, idEnd)}~${k}${line.slice(idEnd)}`)
    if (chunk.length >= 100_000) {
      appendFileSync(file, `${chunk.join('\n')}\n`)
      chunk = []
    }
  }
  appendFileSync(file, `${chunk.join('\n')}\n`)
}

/**
 * Memory per device of the bundled fleet's own mix, not the scale rows' hour of one vendor's
 * traffic: its devices copied `copies` times under other ids (the same models, so the fleet view
 * and the owner table do not grow with the copies) and replayed, the windows the end would close
 * left open as in a live service. The copies share their models' destinations, which changes what
 * alerts, not what the devices hold.
 */
const fleetCopies = async (copies: number): Promise<{ devices: number; memoryBytes: number }> => {
  const dir = mkdtempSync(join(tmpdir(), 'egress-bench-'))
  const file = join(dir, `fleet-x${copies}.ndjson`)
  try {
    writeCopies(file, copies)
    const config = loadConfig(undefined, DETECTORS)
    const before = await memory()
    let held: readonly { devicesTracked(): number }[] = []
    await replay({ inputs: [file], format: 'auto', config, detectors: DETECTORS, onAlert: () => {}, flush: false, onShards: (shards) => void (held = shards) })
    const memoryBytes = (await memory()) - before
    const devices = held.reduce((n, s) => n + s.devicesTracked(), 0)
    held = []
    return { devices, memoryBytes }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** An aim of issue 16 and whether this run meets it. */
const verdict = (aim: string, met: boolean): string => `${aim}: ${met ? 'met' : 'missed'}`

const main = async (): Promise<void> => {
  const t = await throughput()
  console.log('replay throughput, synthetic fleet (best of %d runs)', ROUNDS)
  console.log('| events | alerts | bare JSON.parse loop (events/s) | replay (events/s) | ratio replay / JSON.parse | aim |')
  console.log('|---:|---:|---:|---:|---:|---|')
  console.log(`| ${t.events} | ${t.alerts} | ${t.parseEventsPerSecond} | ${t.replayEventsPerSecond} | ${t.ratio} | ${verdict('>= 0.5', t.ratio! >= 0.5)} |`)
  console.log('\nreplay over 6 partitions, one fleet view (same alerts as 1), same run')
  console.log('| alerts | replay --partitions 6 (events/s) | ratio 6 partitions / 1 |')
  console.log('|---:|---:|---:|')
  console.log(`| ${t.alerts6} | ${t.replay6EventsPerSecond} | ${t.sixOverOne} |`)
  console.log('\nreplay with the owner table (destinations.owners: builtin, the default) against without it (none), same run')
  console.log('| replay, no owners (events/s) | replay, owners (events/s) | ratio owners / none |')
  console.log('|---:|---:|---:|')
  console.log(`| ${t.replayNoOwnersEventsPerSecond} | ${t.replayEventsPerSecond} | ${t.ownersOverNone} |`)
  console.log('\nreplay with the fleet\'s DNS answers in the same file (names for the cloud services\' flows) against without them, same run; rates per event of the fleet')
  console.log('| DNS answers | replay, no answers (events/s) | replay, answers (events/s) | ratio answers / none |')
  console.log('|---:|---:|---:|---:|')
  console.log(`| ${t.answers} | ${t.replayEventsPerSecond} | ${t.replayDnsEventsPerSecond} | ${t.dnsOverNone} |`)
  console.log('\nreplay of the fleet as a flow exporter sends it (out of start order, long flows cut at a 60 s active timeout), lateness 120 s for both, same run')
  console.log('| records | late | sorted fleet (events/s) | exporter\'s order (records/s) | ratio exporter\'s order / sorted |')
  console.log('|---:|---:|---:|---:|---:|')
  console.log(`| ${t.exportedEvents} | ${t.exportedLate} | ${t.sorted120EventsPerSecond} | ${t.exportedEventsPerSecond} | ${t.exportedOverSorted} |`)
  console.log('\nline reader alone, over-long lines (> DEFAULT_MAX_LINE_BYTES) hashed and skipped')
  console.log('| input | MB read (inflated) | MB/s | over-long lines |')
  console.log('|---|---:|---:|---:|')
  for (const r of await lineReading()) console.log(`| ${r.input} | ${r.mb} | ${r.mbPerSecond} | ${r.oversize} |`)
  const scales = (process.env.BENCH_SCALES ?? '10000,100000,1000000').split(',').map(Number)
  console.log('\ntracked devices at scale: an hour of ordinary traffic each (engine and detectors, no decode)')
  console.log('| devices | memory growth: heap and array buffers (bytes) | bytes per device | events/s | events/s / the smallest scale\'s | checkpoint bytes per device | aim (at 1M) |')
  console.log('|---:|---:|---:|---:|---:|---:|---|')
  let first = 0
  for (const n of scales) {
    const h = await atScale(n)
    first ||= h.eventsPerSecond!
    const ratio = h.eventsPerSecond! / first
    const aim = n === 1_000_000 ? `${verdict('memory <= 512 bytes per device', h.bytesPerDevice! <= 512)}; ${verdict('events/s >= 0.8 of the smallest scale\'s', ratio >= 0.8)}` : '–'
    console.log(`| ${h.devices} | ${h.memoryBytes} | ${h.bytesPerDevice} | ${h.eventsPerSecond} | ${ratio.toFixed(2)} | ${h.checkpointBytesPerDevice} | ${aim} |`)
  }
  if (process.env.BENCH_COPIES !== '0') {
    const [eight, sixteen] = [await fleetCopies(8), await fleetCopies(16)]
    console.log('\nmemory per device of the bundled fleet\'s own mix (a day of its devices, copied 8 and 16 times under other ids; BENCH_COPIES=0 skips)')
    console.log('| devices at 8 copies | memory growth (bytes) | devices at 16 copies | memory growth (bytes) | bytes per device at 16 copies | bytes per device more, 8 to 16 copies |')
    console.log('|---:|---:|---:|---:|---:|---:|')
    const more = Math.round((sixteen.memoryBytes - eight.memoryBytes) / (sixteen.devices - eight.devices))
    console.log(`| ${eight.devices} | ${eight.memoryBytes} | ${sixteen.devices} | ${sixteen.memoryBytes} | ${Math.round(sixteen.memoryBytes / sixteen.devices)} | ${more} |`)
  }
  console.log('\nwhere replay spends its time: self time of the top functions over one replay of the fleet (sampling profiler)')
  console.log('| function | where | % of samples |')
  console.log('|---|---|---:|')
  for (const f of await profile(12)) console.log(`| ${f.fn} | ${f.where} | ${f.percent} |`)
  if (process.env.BENCH_KAFKA === '0') return
  const k = await kafkaThroughput()
  console.log(`\nthrough a real broker (${k.records} records, ${k.partitions} partitions, one consumer each; BENCH_KAFKA=0 skips)`)
  console.log('| Kafka ConsumerPerformance (ceiling, records/s) | bare kafkajs consumer (records/s) | egress-sentinel run, median of the plain runs below (records/s) | run / bare kafkajs (aim withdrawn by issue 16) | bare kafkajs / ceiling |')
  console.log('|---:|---:|---:|---:|---:|')
  console.log(`| ${k.ceilingPerSecond} | ${k.barePerSecond} | ${k.servicePerSecond} | ${k.serviceVsBare} | ${k.bareVsCeiling} |`)
  console.log('\nrun against replay of the same fleet, same bench run (what the Kafka path costs)')
  console.log('| replay (events/s) | run (records/s) | ratio run / replay | aim |')
  console.log('|---:|---:|---:|---|')
  const runOverReplay = Number(k.servicePerSecond) / t.replayEventsPerSecond!
  console.log(`| ${t.replayEventsPerSecond} | ${k.servicePerSecond} | ${runOverReplay.toFixed(2)} | ${verdict('>= 0.9', runOverReplay >= 0.9)} |`)
  console.log(`\nthe models topic one run wrote for the fleet (${k.partitions} shards; one fleet view), and what compaction keeps of it`)
  console.log('| records written | MB written | keys kept | MB kept |')
  console.log('|---:|---:|---:|---:|')
  console.log(`| ${k.modelsRecords} | ${(Number(k.modelsBytes) / 1e6).toFixed(2)} | ${k.modelsCompactedKeys} | ${(Number(k.modelsCompactedBytes) / 1e6).toFixed(2)} |`)
  console.log(`\nrun with a webhook target that never answers (its queue fills, its reading of the alerts topic pauses), alternating with runs without, ${k.webhookRounds} of each`)
  console.log('| run, no webhooks: mean (runs) | run, dead webhook target: mean (runs) | ratio of the means (aim: ~1, unaffected) |')
  console.log('|---:|---:|---:|')
  console.log(`| ${k.webhookPlainMeanPerSecond} (${k.webhookPlainRuns}) | ${k.webhookDeadPerSecond} (${k.webhookDeadRuns}) | ${k.webhookDeadVsPlain} |`)
  console.log(`\nevent-to-alert latency at half that rate (the fleet paced at ${k.latencyRatePerSecond} records/s, ${k.latencyAchievedPerSecond} reached; sending the record whose processing emits an alert -> reading the alert, committed)`)
  console.log('| paced at (records/s) | alerts | p50 (ms) | p99 (ms) | max (ms) | member: records per CPU second | member cores | producer and reader cores | aim |')
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---|')
  const p99Aim = verdict('p99 <= 500 ms', Number(k.latencyP99Ms) <= 500)
  console.log(`| ${k.latencyRatePerSecond} (half) | ${k.latencyAlerts} | ${k.latencyP50Ms} | ${k.latencyP99Ms} | ${k.latencyMaxMs} | ${k.latencyMemberRecordsPerCpuSecond} | ${k.latencyMemberCores} | ${k.latencyBenchCores} | ${p99Aim} |`)
  console.log(`| ${k.latencyQuarterRatePerSecond} (a quarter) | ${k.latencyQuarterAlerts} | ${k.latencyQuarterP50Ms} | ${k.latencyQuarterP99Ms} | ${k.latencyQuarterMaxMs} | ${k.latencyQuarterMemberRecordsPerCpuSecond} | ${k.latencyQuarterMemberCores} | ${k.latencyQuarterBenchCores} | (not the aim's rate) |`)
  console.log(`\nscaling out: run members, each a process, one consumer group, ${k.scalePartitions} partitions, the fleet 4 times over (${k.scaleRecords} records); steady rate between 30 % and 90 % of the records committed; this machine's 2 cores also run the broker`)
  console.log('| 1 member (records/s) | 2 members (records/s) | 2 / 1 | wall time, launch to all committed (1; 2 members, s) | records per CPU second of the members (1; 2 members) |')
  console.log('|---:|---:|---:|---:|---:|')
  console.log(`| ${k.scaleOnePerSecond} | ${k.scaleTwoPerSecond} | ${k.scaleTwoVsOne} | ${k.scaleOneWallSeconds}; ${k.scaleTwoWallSeconds} | ${k.scaleOnePerCpuSecond}; ${k.scaleTwoPerCpuSecond} |`)
}

await main()
