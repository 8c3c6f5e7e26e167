// A real Prometheus scraping a real `egress-sentinel run` with a bearer token: every query of every dashboard in grafana/dashboards returns data, and the alert rules load and stay quiet.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { cli, setupTopics, startRun, waitCommitted } from '../helpers/service.ts'
import { binary } from '../helpers/prometheus.ts'
import { startReceiver } from '../helpers/receiver.ts'
import type { Receiver } from '../helpers/receiver.ts'
import { until } from '../helpers/wait.ts'

const DEMO = fileURLToPath(new URL('../../fixtures/demo/demo.ndjson', import.meta.url))
const DASHBOARDS = fileURLToPath(new URL('../../grafana/dashboards/', import.meta.url))
const PROM = fileURLToPath(new URL('../../prometheus/', import.meta.url))
const METRICS_TOKEN = 'metrics-token-for-the-prometheus-test'
const JOB = 'egress-sentinel'
/** What Grafana's built-in interval variables become here: a window that holds several 1 s scrapes. */
const GRAFANA_INTERVALS: Readonly<Record<string, string>> = { __rate_interval: '30s', __interval: '15s', __range: '1m' }

const brokers = inject('kafkaBrokers')
const kafka = new Kafka({ clientId: 'prometheus-test', brokers: [brokers], logLevel: logLevel.NOTHING })
const admin = kafka.admin()

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })

interface Target {
  readonly refId?: string
  readonly expr?: string
}
interface Panel {
  readonly title?: string
  readonly targets?: readonly Target[]
  readonly panels?: readonly Panel[]
}
interface Dashboard {
  readonly panels?: readonly Panel[]
  readonly templating?: { readonly list?: readonly { readonly name?: string; readonly type?: string; readonly query?: { readonly query?: string } }[] }
}
/** Every panel, rows' nested (collapsed) panels included. */
const allPanels = (panels: readonly Panel[] = []): Panel[] => panels.flatMap((p) => [p, ...allPanels(p.panels)])

const dashboards = readdirSync(DASHBOARDS)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => ({ file, json: JSON.parse(readFileSync(join(DASHBOARDS, file), 'utf8')) as Dashboard }))

/** The query Grafana would send, variables resolved: built-in intervals to fixed windows, every template variable to "All" (`.*`). */
const substitute = (expr: string): string => {
  const out = expr
    .replace(/\$\{?(__\w+)\}?/g, (m, name: string) => GRAFANA_INTERVALS[name] ?? m)
    .replace(/=~"\$\{?\w+\}?"/g, '=~".*"')
  if (out.includes('$')) throw new Error(`a variable this test cannot resolve is left in: ${out}`)
  return out
}

interface QueryResult {
  readonly status: string
  readonly error?: string
  readonly data?: { readonly resultType: string; readonly result: readonly { readonly metric: Record<string, string>; readonly value: [number, string] }[] }
}

let prometheus: { child: ChildProcess; url: string; stderr: string; exited: Promise<unknown> } | null = null
let service: ReturnType<typeof startRun> | null = null
let receiver: Receiver | null = null
let dir = ''
let connected = false

const query = async (promql: string): Promise<QueryResult> =>
  (await (await fetch(`${prometheus!.url}/api/v1/query?query=${encodeURIComponent(promql)}`)).json()) as QueryResult
const scalar = async (promql: string): Promise<number> => Number((await query(promql)).data?.result[0]?.value[1] ?? 'NaN')

/**
 * Produces the input, starts the run and Prometheus, and waits for scrapes. Each test awaits it, so that a missing
 * binary or a failed start fails every test with its message rather than skipping them.
 */
const start = async (): Promise<void> => {
  const prometheusBin = binary('prometheus')
  await admin.connect()
  connected = true
  dir = mkdtempSync(join(tmpdir(), 'egress-prometheus-'))

  // The demo fixture, with two undecodable records so the dead-letter series exist too.
  const setup = await setupTopics(admin, brokers, 1)
  const env = { ...setup.env, EGRESS_METRICS_TOKEN: METRICS_TOKEN }
  const lines = readFileSync(DEMO, 'utf8').trimEnd().split('\n')
  const input = [...lines.slice(0, 300), 'not json', ...lines.slice(300), '{"type":"egress","ts":1762106400000,"deviceId":"d","dstIp":"10.0.0.1","dstPort":99999,"proto":"tcp","bytesOut":1}']
  writeFileSync(join(dir, 'input.ndjson'), input.join('\n') + '\n')
  await cli(env, 'produce', '-q', '--topic', setup.t.events, join(dir, 'input.ndjson'))

  // A webhook target that takes every alert, so the delivery dashboard has data.
  receiver = await startReceiver(() => ({ status: 204 }))
  writeFileSync(
    join(dir, 'config.yml'),
    stringify({ webhooks: { targets: [{ name: 'soc', url: `${receiver.url}/hook`, secret: '${SOC_WEBHOOK_SECRET}', allowHttp: true, allowPrivateNetworks: true }] } }),
  )
  service = startRun({ ...env, SOC_WEBHOOK_SECRET: `whsec_${Buffer.from('prometheus test webhook secret!!').toString('base64')}` }, '--config', join(dir, 'config.yml'))
  const run = service
  await until(async () => /http on (\S+)/.test(run.out.stderr), () => `run printed no http address:\n${run.out.stderr}`)
  const address = /http on (\S+)/.exec(run.out.stderr)![1]!

  // The example configuration's scrape job, pointed at this run, every second, with the token from a file.
  const example = parse(readFileSync(join(PROM, 'prometheus.yml'), 'utf8')) as {
    scrape_configs: { job_name: string; authorization: { credentials_file: string }; static_configs: { targets: string[] }[] }[]
  }
  const job = example.scrape_configs.find((s) => s.job_name === JOB)!
  writeFileSync(join(dir, 'token'), METRICS_TOKEN + '\n')
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    rule_files: [join(PROM, 'egress-sentinel.rules.yml')],
    scrape_configs: [{ ...job, authorization: { ...job.authorization, credentials_file: join(dir, 'token') }, static_configs: [{ targets: [address] }] }],
  }
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config))
  const port = await freePort()
  const child = spawn(
    prometheusBin,
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  const p = { child, url: `http://127.0.0.1:${port}`, stderr: '', exited: new Promise((resolve) => child.on('exit', resolve)) }
  child.stderr.on('data', (d: Buffer) => (p.stderr += d.toString()))
  prometheus = p

  await waitCommitted(admin, setup.groupId, setup.t.events, (n) => n === input.length)
  await receiver.waitFor(1)
  // Three more successful scrapes after the last commit: every series has its final value and several samples.
  const scrapes = `sum_over_time(up{job="${JOB}"}[5m])`
  await until(async () => (await fetch(`${p.url}/-/ready`)).status === 200, () => `prometheus not ready:\n${p.stderr}`)
  const before = (await scalar(scrapes)) || 0
  await until(
    async () => (await scalar(`up{job="${JOB}"}`)) === 1 && (await scalar(scrapes)) >= before + 3,
    async () => `prometheus has not scraped ${address} three times: ${JSON.stringify(await (await fetch(`${p.url}/api/v1/targets`)).json())}\n${p.stderr}`,
  )
}
let starting: Promise<void> | undefined
const started = (): Promise<void> => (starting ??= start())

afterAll(async () => {
  prometheus?.child.kill('SIGTERM')
  service?.child.kill('SIGTERM')
  await Promise.all([prometheus?.exited, service?.exited])
  await receiver?.close()
  if (connected) await admin.disconnect()
  if (dir !== '') rmSync(dir, { recursive: true, force: true })
})

describe('Prometheus scraping egress-sentinel run', () => {
  it('scrapes the service with the bearer token from the example job: target healthy, no scrape error', async () => {
    await started()
    const targets = (await (await fetch(`${prometheus!.url}/api/v1/targets`)).json()) as { data: { activeTargets: { labels: { job: string }; health: string; lastError: string }[] } }
    expect(targets.data.activeTargets.map((t) => [t.labels.job, t.health, t.lastError])).toEqual([[JOB, 'up', '']])
  })

  it('returns data for every query of every panel of every dashboard in grafana/dashboards', async () => {
    await started()
    const queries = dashboards.flatMap(({ file, json }) =>
      allPanels(json.panels).flatMap((p) => (p.targets ?? []).map((t) => ({ where: `${file}: ${p.title} ${t.refId}`, promql: substitute(t.expr ?? '') }))),
    )
    expect(queries.length).toBeGreaterThanOrEqual(30)
    const empty: { where: string; promql: string; status: string; error?: string | undefined; series: number }[] = []
    for (const q of queries) {
      const r = await query(q.promql)
      const series = r.data?.result.length ?? 0
      if (r.status !== 'success' || series === 0) empty.push({ ...q, status: r.status, error: r.error, series })
    }
    expect(empty).toEqual([])
  })

  it('finds values for every query variable of the dashboards (label_values)', async () => {
    await started()
    const variables = dashboards.flatMap(({ file, json }) =>
      (json.templating?.list ?? []).filter((v) => v.type === 'query').map((v) => ({ where: `${file}: $${v.name}`, query: v.query?.query ?? '' })),
    )
    expect(variables.length).toBeGreaterThan(0)
    for (const v of variables) {
      const m = /^label_values\((.+),\s*(\w+)\)$/.exec(v.query)
      expect(m, v.where).not.toBeNull()
      const r = await query(`count by (${m![2]}) (${substitute(m![1]!)})`)
      expect(r.data?.result.map((s) => s.metric[m![2]!] ?? '').filter((x) => x !== '').length, v.where).toBeGreaterThan(0)
    }
  })

  it('loads every alert rule, evaluates each without error, and raises no alert for a healthy run', async () => {
    await started()
    const file = parse(readFileSync(join(PROM, 'egress-sentinel.rules.yml'), 'utf8')) as { groups: { rules: { alert: string }[] }[] }
    const names = file.groups.flatMap((g) => g.rules.map((r) => r.alert)).sort()
    type Rules = { data: { groups: { rules: { name: string; health: string; lastError?: string; lastEvaluation: string }[] }[] } }
    const rules = async () => ((await (await fetch(`${prometheus!.url}/api/v1/rules`)).json()) as Rules).data.groups.flatMap((g) => g.rules)
    await until(
      async () => (await rules()).length === names.length && (await rules()).every((r) => !r.lastEvaluation.startsWith('0001-')),
      async () => `rules not all evaluated: ${JSON.stringify(await rules())}`,
    )
    expect((await rules()).map((r) => [r.name, r.health, r.lastError ?? '']).sort()).toEqual(names.map((n) => [n, 'ok', '']))
    const alerts = (await (await fetch(`${prometheus!.url}/api/v1/alerts`)).json()) as { data: { alerts: unknown[] } }
    expect(alerts.data.alerts).toEqual([])
  })
})
