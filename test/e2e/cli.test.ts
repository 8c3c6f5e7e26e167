// The `egress-sentinel` command as users run it: the compiled bin, real fixtures, exit codes, stdout and stderr.
import { execFile } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'

const BIN = fileURLToPath(new URL('../../bin/egress-sentinel.js', import.meta.url))
const DEMO = fileURLToPath(new URL('../../fixtures/demo/demo.ndjson', import.meta.url))

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const run = async (...args: string[]): Promise<Run> => runWith(process.env, ...args)

const runWith = async (env: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { maxBuffer: 256 * 1024 * 1024, env })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string }
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }
  }
}

const tmp = (): string => mkdtempSync(join(tmpdir(), 'egress-cli-'))

describe('egress-sentinel replay', () => {
  it('replays the bundled demo fixture when given no input and prints firing alerts as NDJSON', async () => {
    const r = await run('replay', '--no-progress')
    expect(r.code).toBe(0)
    const alerts = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(alerts.filter((a) => a.status === 'firing').length).toBeGreaterThan(0)
    for (const a of alerts) {
      expect(Object.keys(a)).toEqual(['id', 'scope', 'kind', 'deviceId', 'detector', 'status', 'revision', 'severity', 'previousSeverity', 'score', 'startsAt', 'endsAt', 'detectedAt', 'updatedAt', 'summary', 'model', 'firmware', 'detectorVersion', 'configHash', 'evidence'])
      expect(a.id).toMatch(/^[0-9a-f]{32}$/)
    }
    expect(r.stderr).toMatch(/^replayed \d+ events from 1 file/m)
  })

  it('gives byte-identical output on every run', async () => {
    const a = await run('replay', '-q', DEMO)
    const b = await run('replay', '-q', DEMO)
    expect(a.code).toBe(0)
    expect(b.stdout).toBe(a.stdout)
  })

  it('gives the same alerts when the same lines are read from several files instead of one', async () => {
    const dir = tmp()
    const lines = readFileSync(DEMO, 'utf8').trimEnd().split('\n')
    const cuts = [0, 101, 433, 434, lines.length]
    const parts = cuts.slice(1).map((end, i) => {
      const file = join(dir, `part-${i}.ndjson`)
      writeFileSync(file, lines.slice(cuts[i], end).join('\n') + '\n')
      return file
    })
    const whole = await run('replay', '-q', DEMO)
    const split = await run('replay', '-q', ...parts)
    expect(split.stdout).toBe(whole.stdout)
  })

  it('reports malformed lines with reason and line number, writes them to --dlq, and leaves the alerts unchanged', async () => {
    const dir = tmp()
    const lines = readFileSync(DEMO, 'utf8').trimEnd().split('\n')
    const bad = ['{"ts": 1, "deviceId": ', 'not json at all', '{"type":"egress","ts":1762041600000,"deviceId":"x","dstIp":"10.0.0.1","dstPort":70000,"proto":"tcp","bytesOut":1}']
    const mixed: string[] = []
    lines.forEach((l, i) => {
      mixed.push(l)
      if (i % 200 === 100) mixed.push(bad[(mixed.length - i) % bad.length]!)
    })
    const inserted = mixed.length - lines.length
    expect(inserted).toBeGreaterThanOrEqual(3)
    const file = join(dir, 'mixed.ndjson')
    writeFileSync(file, mixed.join('\n') + '\n')
    const clean = await run('replay', '-q', DEMO)
    const dirty = await run('replay', '--no-progress', '--dlq', join(dir, 'dlq.ndjson'), file)
    expect(dirty.code).toBe(0)
    expect(dirty.stdout).toBe(clean.stdout)
    const dlq = readFileSync(join(dir, 'dlq.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { reason: string; error: string; line: number; raw: string })
    expect(dlq).toHaveLength(inserted)
    for (const d of dlq) expect(mixed[d.line - 1]).toBe(d.raw)
    expect(dlq.map((d) => d.reason)).toContain('invalid_json')
    expect(dlq.find((d) => d.reason === 'schema')?.error).toMatch(/^dstPort: /)
    expect(dirty.stderr).toMatch(/rejected: .*invalid_json=\d+/)
    expect(dirty.stderr).toMatch(/rejected .*mixed\.ndjson:\d+ \(invalid_json\)/)
  })

  it('draws a progress bar on stderr when stderr is a terminal, and none when it is not', async () => {
    const fleet = fileURLToPath(new URL('../../fixtures/synthetic/fleet.ndjson.gz', import.meta.url))
    // `script` runs the command on a pseudo-terminal (util-linux, on every Debian machine).
    const { stdout } = await promisify(execFile)('script', ['-qec', `"${process.execPath}" "${BIN}" replay "${fleet}" > /dev/null`, '/dev/null'], {
      maxBuffer: 64 * 1024 * 1024,
    })
    const events = gunzipSync(readFileSync(fleet)).toString().trimEnd().split('\n').length
    expect(stdout).toMatch(/replay \[=+-*\] \d+% \| \d+\/15 MB/)
    expect(stdout).toContain(`replayed ${events} events`)
    const piped = await run('replay', fleet)
    expect(piped.stderr).not.toContain('replay [')
    expect(piped.stderr).toMatch(new RegExp(`^replayed ${events} events`))
  })

  it('says when the fleet view is full: contributions of models past fleet.maxModels are refused, and counted', async () => {
    const dir = tmp()
    writeFileSync(join(dir, 'small.yaml'), 'fleet:\n  maxModels: 1\n')
    const r = await run('replay', '--no-progress', '--config', join(dir, 'small.yaml'), DEMO)
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/^fleet view full: refused [1-9]\d* epoch contributions of models past fleet\.maxModels and \d+ keys past a detector's cap per model$/m)
    expect((await run('replay', '--no-progress', DEMO)).stderr).not.toContain('fleet view full')
  })

  it('exits 2 and names the field for an invalid configuration', async () => {
    const dir = tmp()
    writeFileSync(join(dir, 'bad.yaml'), 'engine:\n  windowSeconds: -5\ndetectors:\n  smtp-burst:\n    burstServers: many\n')
    const r = await run('replay', '-q', '--config', join(dir, 'bad.yaml'), DEMO)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('engine.windowSeconds')
    expect(r.stderr).toContain('detectors.smtp-burst.burstServers')
    expect(r.stdout).toBe('')
  })

  it('exits 2 for an unknown format, a missing input or an unwritable --dlq, and says which', async () => {
    const f = await run('replay', '--format', 'netflow9', DEMO)
    expect(f.code).toBe(2)
    expect(f.stderr).toContain('--format')
    const m = await run('replay', '/nonexistent/flows.ndjson')
    expect(m.code).toBe(2)
    expect(m.stderr).toContain('/nonexistent/flows.ndjson')
    const d = await run('replay', '--dlq', '/nonexistent/dir/dlq.ndjson', DEMO)
    expect(d.code).toBe(2)
    expect(d.stderr).toContain('--dlq: cannot write /nonexistent/dir/dlq.ndjson')
  })

  it('exits 2 for an evaluate --from without its offset (local time differs by machine) or with a date that does not exist, and takes one with an offset', async () => {
    for (const bad of ['2026-11-02T00:00:00', '2026-02-30T00:00:00Z', '2026-11-02', 'yesterday']) {
      const r = await run('evaluate', '-q', '--from', bad, DEMO)
      expect(r.code, bad).toBe(2)
      expect(r.stderr, bad).toContain(`--from: expected an ISO-8601 time with its offset, such as 2026-11-02T00:00:00Z, got "${bad}"`)
    }
    const ok = await run('evaluate', '-q', '--from', '2026-11-02T19:00:00+01:00', DEMO)
    expect(ok.code).toBe(0)
    expect(JSON.parse(ok.stdout)).toMatchObject({ scoredFrom: '2026-11-02T18:00:00.000Z' })
  })
})

describe('egress-sentinel replay -o text', () => {
  it('prints a line per record (time, status, severity, device, model, detector, summary), the same records as NDJSON, uncoloured off a terminal', async () => {
    const json = (await run('replay', '-q')).stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { updatedAt: string; deviceId: string; detector: string; summary: string })
    const text = (await run('replay', '-q', '-o', 'text')).stdout.trimEnd().split('\n')
    expect(text).toHaveLength(json.length)
    for (const [i, line] of text.entries()) {
      const a = json[i]!
      expect(line).toMatch(new RegExp(`^${a.updatedAt.slice(0, 10)} ${a.updatedAt.slice(11, 19)}  (firing|resolved|escalated) +(low|medium|high|critical) +${a.deviceId} `))
      expect(line).toContain(`  ${a.detector}`)
      expect(line.endsWith(a.summary)).toBe(true)
    }
    expect(text.join('')).not.toContain('\x1b[')
    expect((await run('replay', '-o', 'yaml')).stderr).toContain('--output: expected json or text, got "yaml"')
  })
})

describe('egress-sentinel run, before it reaches a broker', () => {
  it('exits 2 naming EGRESS_HTTP_PORT when another process holds its port, without a stack trace', async () => {
    const holder = createServer()
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
    const port = (holder.address() as AddressInfo).port
    try {
      // The HTTP endpoints start before the brokers are tried: this one is never contacted.
      const r = await runWith({ ...process.env, KAFKA_BROKERS: '127.0.0.1:1', EGRESS_HTTP_PORT: String(port) }, 'run')
      expect(r.code).toBe(2)
      expect(r.stderr).toBe(`egress-sentinel: EGRESS_HTTP_PORT: 127.0.0.1:${port} is already in use (another process listens there; choose a free port, or 0 for any)\n`)
    } finally {
      holder.close()
    }
  })

  it('exits 2 naming EGRESS_HTTP_HOST for an address this machine does not have', async () => {
    const r = await runWith({ ...process.env, KAFKA_BROKERS: '127.0.0.1:1', EGRESS_HTTP_HOST: '192.0.2.77', EGRESS_HTTP_PORT: '0' }, 'run')
    expect(r.code).toBe(2)
    expect(r.stderr).toBe('egress-sentinel: EGRESS_HTTP_HOST: 192.0.2.77 is not an address of this machine (EADDRNOTAVAIL)\n')
  })
})

describe('--help', () => {
  it.each([
    [[], ['replay', 'evaluate', 'produce', 'run', 'list-detectors', 'check-config']],
    [['run'], ['--config', '--brokers', 'KAFKA_BROKERS', 'EGRESS_TOPIC_EVENTS', 'EGRESS_HTTP_PORT']],
    [['produce'], ['--topic', '--brokers', '--speed', '--format']],
    [['replay'], ['--config', '--format', '--dlq', '--no-progress']],
    [['evaluate'], ['--output', '--alerts', '--config']],
    [['list-detectors'], []],
    [['check-config'], []],
  ])('egress-sentinel %j --help exits 0 and lists its options', async (cmd, mentions) => {
    const r = await run(...cmd, '--help')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^Usage: egress-sentinel/)
    for (const m of mentions) expect(r.stdout).toContain(m)
  })
})

describe('list-detectors and check-config', () => {
  it('lists the eight detectors', async () => {
    const r = await run('list-detectors')
    expect(r.stdout.trim().split('\n').map((l) => l.split('\t')[0])).toEqual(['smtp-burst', 'email-telemetry', 'new-destination', 'fanout', 'volume-spike', 'port-novelty', 'mud-violation', 'model-shift'])
  })

  it('accepts the configuration example of the README', async () => {
    const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8')
    const block = /## Configuration[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)
    expect(block).not.toBeNull()
    const dir = tmp()
    writeFileSync(join(dir, 'readme.yaml'), block![1]!)
    // its MUD paths are relative to the configuration file
    cpSync(fileURLToPath(new URL('../../fixtures/mud', import.meta.url)), join(dir, 'mud'), { recursive: true })
    const r = await run('check-config', join(dir, 'readme.yaml'))
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const shown = JSON.parse(r.stdout) as { detectors: Record<string, { enabled: boolean; loaded?: { model: string }[] }> }
    expect(shown.detectors['volume-spike']!.enabled).toBe(true)
    expect(shown.detectors['mud-violation']!.loaded!.map((p) => p.model)).toEqual(['glacier-fridge'])
    expect(shown.detectors['mud-violation']!.enabled).toBe(true) // profiles switch it on
  })

  it.each([
    ['a detector that does not exist', 'alerts:\n  suppress:\n    - { detector: port-noveltty }\n', {}, 'alerts.suppress.0.detector: unknown detector "port-noveltty"'],
    ['an invalid network', 'alerts:\n  suppress:\n    - { destination: 192.0.2.0/33 }\n', {}, 'alerts.suppress.0.destination: "192.0.2.0/33" is not a network'],
    ['an inventory key shaped like an address that is none', 'inventory:\n  10.1.2.300: { model: peep-cam }\n', {}, 'inventory.10.1.2.300: "10.1.2.300" is not an IPv4 address'],
    ['an http:// webhook without allowHttp', 'webhooks:\n  targets:\n    - { name: soc, format: slack, url: "http://soc.example/h" }\n', {}, 'webhooks.targets.0.url (target soc): expected https://'],
    ['an unset ${VAR}', 'webhooks:\n  targets:\n    - { name: soc, url: "https://soc.example/h", secret: "${SOC_SECRET}" }\n', {}, 'webhooks.targets.0.secret (target soc): environment variable SOC_SECRET is not set'],
    ['a secret that is not whsec_', 'webhooks:\n  targets:\n    - { name: soc, url: "https://soc.example/h", secret: "${SOC_SECRET}" }\n', { SOC_SECRET: 'hunter2' }, 'webhooks.targets.0.secret (target soc): expected whsec_'],
  ])('rejects %s, as run does, naming the setting (exit 2)', async (_name, yaml, env, message) => {
    const file = join(tmp(), 'c.yaml')
    writeFileSync(file, yaml)
    const r = await runWith({ ...process.env, SOC_SECRET: '', ...env }, 'check-config', file)
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain(message)
    expect(r.stderr).not.toContain('hunter2')
  })

  it('accepts examples/config.yaml in the environment it names, and names the variable it lacks without it', async () => {
    const example = fileURLToPath(new URL('../../examples/config.yaml', import.meta.url))
    const env = { ...process.env, SOC_WEBHOOK_SECRET: `whsec_${Buffer.alloc(32, 7).toString('base64')}`, PD_ROUTING_KEY: 'R0UTING-KEY' }
    const ok = await runWith(env, 'check-config', example)
    expect([ok.code, ok.stderr]).toEqual([0, ''])
    expect(ok.stdout).not.toContain('R0UTING-KEY')
    const without = await runWith({ ...env, PD_ROUTING_KEY: '' }, 'check-config', example)
    expect([without.code, without.stderr]).toEqual([2, 'egress-sentinel: webhooks.targets.1.routingKey (target oncall): environment variable PD_ROUTING_KEY is not set\n'])
  })

  it('ships the JSON Schema the zod schema makes (schema/config.schema.json; npm run config-schema rewrites it)', async () => {
    const { configJsonSchema } = await import('../../src/config/json-schema.ts')
    const { DETECTORS } = await import('../../detectors/index.ts')
    const shipped = readFileSync(fileURLToPath(new URL('../../schema/config.schema.json', import.meta.url)), 'utf8')
    expect(shipped).toBe(`${JSON.stringify(configJsonSchema(DETECTORS), null, 2)}\n`)
    const schema = JSON.parse(shipped) as { properties: Record<string, { properties?: Record<string, unknown> }> }
    expect(Object.keys(schema.properties)).toEqual(['engine', 'fleet', 'input', 'alerts', 'detectors', 'campaigns', 'devices', 'destinations', 'inventory', 'webhooks'])
    expect(Object.keys(schema.properties.detectors!.properties!)).toEqual(['smtp-burst', 'email-telemetry', 'new-destination', 'fanout', 'volume-spike', 'port-novelty', 'mud-violation', 'model-shift'])
  })

  it('prints the effective configuration with defaults filled in', async () => {
    const dir = tmp()
    writeFileSync(join(dir, 'c.yaml'), 'alerts:\n  fireAfter: 3\n')
    const r = await run('check-config', join(dir, 'c.yaml'))
    expect(r.code).toBe(0)
    const c = JSON.parse(r.stdout) as { alerts: { fireAfter: number; resolveAfter: number }; engine: { windowSeconds: number } }
    expect(c.alerts.fireAfter).toBe(3)
    expect(c.engine.windowSeconds).toBe(60)
  })
})

describe('egress-sentinel correlate', () => {
  it('reads alert files, reports a bad line by file, line and field, skips campaign records, and writes the campaigns', async () => {
    const dir = tmp()
    const replayed = await run('replay', '-q', DEMO)
    const alerts = replayed.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    const smtp = alerts.find((a) => a['detector'] === 'smtp-burst' && a['status'] === 'firing')!
    // The demo's spambot on five more fridges a minute apart: one campaign, opened by the fifth device.
    const spread = [1, 2, 3, 4, 5].map((i) => ({ ...smtp, id: `${i}${String(smtp['id']).slice(1)}`, deviceId: `fridge-${i}` }))
    const file = join(dir, 'alerts.ndjson')
    writeFileSync(file, [...alerts, { ...smtp, severity: 'dire' }, ...spread, { scope: 'fleet', id: 'x', revision: 1 }].map((a) => JSON.stringify(a)).join('\n') + '\n')
    const r = await run('correlate', file)
    expect(r.code).toBe(0)
    expect(r.stderr).toContain(`rejected ${file}:${alerts.length + 1}: severity: `)
    expect(r.stderr).toContain(`correlated ${alerts.length + 5} device alerts (1 invalid lines, 1 campaign records skipped): 1 campaign(s)`)
    const campaigns = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { scope: string; deviceCount: number; behaviour: string; severity: string; previousSeverity: string | null })
    // Opened by the fifth device, joined by the demo's own fridge, raised to critical by its alert's escalation.
    expect(campaigns.map((c) => [c.scope, c.deviceCount, c.severity, c.previousSeverity])).toEqual([['fleet', 5, 'high', null], ['fleet', 6, 'high', 'high'], ['fleet', 6, 'critical', 'high']])
    expect(campaigns[0]!.behaviour).toBe(`smtp-burst ${String((smtp['evidence'] as Record<string, unknown>)['indicator'])}`)
  })

  it('exits 2 without inputs or --kafka, and for --follow without --kafka', async () => {
    const none = await run('correlate')
    expect([none.code, none.stderr]).toEqual([2, expect.stringContaining('expected alert files, or --kafka')])
    const follow = await run('correlate', '--follow', '5', DEMO)
    expect([follow.code, follow.stderr]).toEqual([2, expect.stringContaining('--follow, --complete and --brokers need --kafka')])
  })
})
