// Static checks of the Grafana dashboards and provisioning files: the datasource variable, ids and uids, and that every query names the service's real metrics and bounded labels.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Histogram } from 'prom-client'
import { beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { createMetrics } from '../../src/metrics.ts'

const GRAFANA = fileURLToPath(new URL('../../grafana/', import.meta.url))
const DS = { type: 'prometheus', uid: '${datasource}' }
/** Labels Prometheus adds to every scraped series, and the histogram bucket label. */
const TARGET_LABELS = ['job', 'instance', 'le']
/** The one device label, and the one metric that has it (bounded to the top K devices). */
const TOP_DEVICES = { metric: 'egress_top_device_score', label: 'device_id' }
/** What a per-device, per-address or per-host label would be called. */
const DEVICE_LABEL = /device|addr|\bip\b|_ip\b|host|mac|src|dst/i

interface Target {
  readonly refId?: string
  readonly expr?: string
  readonly legendFormat?: string
  readonly datasource?: unknown
}
interface Panel {
  readonly id?: number
  readonly type?: string
  readonly title?: string
  readonly datasource?: unknown
  readonly targets?: readonly Target[]
  readonly panels?: readonly Panel[]
}
interface Variable {
  readonly name?: string
  readonly type?: string
  readonly query?: unknown
  readonly datasource?: unknown
}
interface Dashboard {
  readonly uid?: string
  readonly title?: string
  readonly panels?: readonly Panel[]
  readonly templating?: { readonly list?: readonly Variable[] }
}
interface DashboardFile {
  readonly file: string
  readonly text: string
  readonly json: Dashboard
}

/** Every panel, rows' nested (collapsed) panels included. */
const allPanels = (panels: readonly Panel[] = []): Panel[] => panels.flatMap((p) => [p, ...allPanels(p.panels)])
const targets = (d: Dashboard): Target[] => allPanels(d.panels).flatMap((p) => p.targets ?? [])
/** The PromQL of each query variable (`label_values(…)`). */
const variableQueries = (d: Dashboard): string[] =>
  (d.templating?.list ?? []).filter((v) => v.type === 'query').map((v) => (typeof v.query === 'string' ? v.query : ((v.query as { query?: string } | undefined)?.query ?? '')))

const load = (folder: string): DashboardFile[] =>
  readdirSync(join(GRAFANA, folder))
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const text = readFileSync(join(GRAFANA, folder, f), 'utf8')
      return { file: `${folder}/${f}`, text, json: JSON.parse(text) as Dashboard }
    })

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan'])

/** The metric names a PromQL expression selects: identifiers outside strings, matchers, ranges and label lists that are not functions or keywords. */
const metricNames = (expr: string): string[] => {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
  return [...bare.matchAll(/(?<![\w.:])[a-zA-Z_:][\w:]*/g)]
    .filter((m) => !/^\s*\(/.test(bare.slice(m.index + m[0].length)) && !PROMQL_WORDS.has(m[0].toLowerCase()))
    .map((m) => m[0])
}

/** The label names an expression or legend uses: in matchers, in by/without/on/ignoring/group_* lists, and as {{label}}. */
const labelNames = (text: string): string[] => {
  const names: string[] = []
  const bare = text.replace(/"(?:[^"\\]|\\.)*"/g, '""')
  for (const m of bare.matchAll(/\{([^{}]*)\}/g)) {
    for (const l of m[1]!.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)) names.push(l[1]!)
  }
  for (const m of bare.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
    names.push(...m[1]!.split(',').map((s) => s.trim()).filter((s) => s !== ''))
  }
  for (const m of text.matchAll(/\{\{\s*([a-zA-Z_]\w*)\s*\}\}/g)) names.push(m[1]!)
  for (const m of bare.matchAll(/label_values\([^)]*,\s*([a-zA-Z_]\w*)\s*\)/g)) names.push(m[1]!)
  return names
}

const dashboards = load('dashboards')
const every = dashboards

/** Names and label names of every metric the service's registry exports, default process metrics included. */
let exported: { readonly metrics: Set<string>; readonly labels: Set<string> }
beforeAll(() => {
  const { registry } = createMetrics({ devicesTracked: () => 0, forEachOpenAlert: () => {}, forEachWebhookTarget: () => {}, shards: () => 0, ready: () => true, fleetRefused: () => ({ models: 0, keys: 0 }), fleetWaiting: () => 0, fleetCompleteMs: () => -Infinity }, '0.0.0-test', 20)
  const all = registry.getMetricsAsArray()
  const metrics = new Set(all.flatMap((m) => (m instanceof Histogram ? ['_bucket', '_sum', '_count'].map((s) => m.name + s) : [m.name])))
  const labels = new Set(all.flatMap((m) => (m as { labelNames?: readonly string[] }).labelNames ?? []))
  exported = { metrics, labels }
})

describe('the PromQL readers of this test', () => {
  it('find metric names, not functions, keywords, labels, strings or durations', () => {
    expect(metricNames('histogram_quantile(0.99, sum by (le) (rate(a_bucket{job=~"$job", x="y z"}[$__rate_interval]))) / on (job) group_left b offset 5m')).toEqual(['a_bucket', 'b'])
    expect(metricNames('60 * sum(c_total) > bool 0 unless d')).toEqual(['c_total', 'd'])
  })

  it('find label names in matchers, label lists, legends and label_values', () => {
    expect(labelNames('sum by (source, result) (x{job=~"$job", reason!="a"}) / ignoring (le) y')).toEqual(['job', 'reason', 'source', 'result', 'le'])
    expect(labelNames('{{topic}}/{{ partition }}')).toEqual(['topic', 'partition'])
    expect(labelNames('label_values(egress_build_info{job=~"$job"}, instance)')).toEqual(['job', 'instance'])
  })
})

describe('Grafana dashboards (grafana/dashboards)', () => {
  it('are the fleet overview, pipeline health and webhook delivery dashboards, each a JSON dashboard with a title', () => {
    expect(dashboards.map((d) => d.file).sort()).toEqual(['dashboards/delivery.json', 'dashboards/fleet-overview.json', 'dashboards/pipeline-health.json'])
    for (const { file, json } of every) {
      expect(typeof json.title, file).toBe('string')
      expect(json.panels?.length, file).toBeGreaterThan(0)
    }
  })

  it('keep the uids that links and bookmarks use, unique across the files', () => {
    const uids = Object.fromEntries(every.map((d) => [d.file, d.json.uid]))
    expect(uids).toMatchObject({
      'dashboards/fleet-overview.json': 'egress-sentinel-fleet',
      'dashboards/pipeline-health.json': 'egress-sentinel-pipeline',
      'dashboards/delivery.json': 'egress-sentinel-delivery',
    })
    expect(new Set(Object.values(uids)).size).toBe(every.length)
  })

  it('declare a `datasource` variable of type datasource for Prometheus, and no ${DS_…} import input', () => {
    for (const { file, text, json } of every) {
      const v = json.templating?.list?.find((x) => x.name === 'datasource')
      expect(v, file).toMatchObject({ type: 'datasource', query: 'prometheus' })
      expect(text, file).not.toContain('${DS_')
      expect(text, file).not.toContain('__inputs')
    }
  })

  it('read Prometheus through ${datasource} in every panel, target and variable', () => {
    for (const { file, text, json } of every) {
      // Every datasource reference anywhere in the file, whatever object holds it.
      const refs: unknown[] = []
      JSON.parse(text, (key, value: unknown) => {
        if (key === 'datasource') refs.push(value)
        return value
      })
      expect(refs.length, file).toBeGreaterThan(0)
      for (const ref of refs) expect(ref, file).toEqual(DS)
      for (const p of allPanels(json.panels).filter((x) => x.type !== 'row')) {
        expect(p.datasource, `${file}: ${p.title}`).toEqual(DS)
        expect(p.targets?.length, `${file}: ${p.title}`).toBeGreaterThan(0)
        for (const t of p.targets ?? []) expect(t.datasource, `${file}: ${p.title} ${t.refId}`).toEqual(DS)
      }
      for (const v of json.templating?.list ?? []) if (v.type === 'query') expect(v.datasource, `${file}: $${v.name}`).toEqual(DS)
    }
  })

  it('number their panels uniquely, panels inside rows included', () => {
    for (const { file, json } of every) {
      const ids = allPanels(json.panels).map((p) => p.id)
      expect(ids.every((id) => Number.isInteger(id)), file).toBe(true)
      expect(new Set(ids).size, file).toBe(ids.length)
    }
  })

  it('give every target a unique refId within its panel and a non-empty expr', () => {
    for (const { file, json } of every) {
      for (const p of allPanels(json.panels).filter((x) => x.type !== 'row')) {
        const refIds = (p.targets ?? []).map((t) => t.refId)
        expect(new Set(refIds).size, `${file}: ${p.title}`).toBe(refIds.length)
        for (const t of p.targets ?? []) expect(t.expr?.trim(), `${file}: ${p.title} ${t.refId}`).toMatch(/\S/)
      }
    }
  })

  it('match template variables with =~ (so "All" can be .*) and use only variables they define', () => {
    for (const { file, json } of every) {
      const defined = new Set((json.templating?.list ?? []).map((v) => v.name))
      const queries = [...targets(json).map((t) => t.expr ?? ''), ...variableQueries(json)]
      for (const q of queries) {
        for (const m of q.matchAll(/\$\{?(\w+)\}?/g)) {
          if (m[1]!.startsWith('__')) continue
          expect(defined.has(m[1]!), `${file}: $${m[1]} in ${q}`).toBe(true)
          expect(q.slice(m.index - 3, m.index), `${file}: $${m[1]} in ${q}`).toBe('=~"')
        }
      }
    }
  })

  it('query only metrics that src/metrics.ts exports', () => {
    const named = dashboards.flatMap(({ file, json }) => targets(json).flatMap((t) => metricNames(t.expr ?? '').map((name) => ({ file, name }))))
    expect(named.length).toBeGreaterThan(0)
    expect(named.filter(({ name }) => !exported.metrics.has(name))).toEqual([])
    const variables = dashboards.flatMap(({ json }) => variableQueries(json))
    expect(variables.length).toBeGreaterThan(0)
    expect(variables.flatMap((q) => metricNames(q.replace(/^label_values\((.*),\s*\w+\)$/, '$1'))).filter((n) => !exported.metrics.has(n))).toEqual([])
  })

  it('group, filter and label only by bounded labels the service exports: no device, address or host label but the top devices\' device_id', () => {
    for (const { file, json } of every) {
      const allowed = new Set([...exported.labels, ...TARGET_LABELS])
      const texts = [...targets(json).flatMap((t) => [t.expr ?? '', t.legendFormat ?? '']), ...variableQueries(json)]
      const used = texts.flatMap(labelNames)
      expect(used.length, file).toBeGreaterThan(0)
      expect(used.filter((l) => !allowed.has(l)), file).toEqual([])
      const perDevice = targets(json).filter((t) => !(t.expr ?? '').includes(TOP_DEVICES.metric)).flatMap((t) => [t.expr ?? '', t.legendFormat ?? ''])
      expect([...perDevice, ...variableQueries(json)].flatMap(labelNames).filter((l) => DEVICE_LABEL.test(l)), file).toEqual([])
    }
  })

  it('show the top devices on the fleet overview, from the one metric with a device label', () => {
    const fleet = dashboards.find((d) => d.file === 'dashboards/fleet-overview.json')!
    const top = targets(fleet.json).filter((t) => (t.expr ?? '').includes(TOP_DEVICES.metric))
    expect(top.length).toBeGreaterThan(0)
    expect(exported.labels.has(TOP_DEVICES.label)).toBe(true)
  })
})

describe('Grafana provisioning (grafana/provisioning)', () => {
  it('defines a Prometheus datasource and a file provider that loads dashboards from a folder', () => {
    const ds = parse(readFileSync(join(GRAFANA, 'provisioning/datasources/prometheus.yml'), 'utf8')) as { datasources: { type: string; url: string }[] }
    expect(ds.datasources.map((d) => d.type)).toEqual(['prometheus'])
    expect(ds.datasources[0]!.url).toMatch(/^https?:\/\//)
    const dash = parse(readFileSync(join(GRAFANA, 'provisioning/dashboards/egress-sentinel.yml'), 'utf8')) as {
      providers: { type: string; options: { path: string } }[]
    }
    expect(dash.providers.map((p) => p.type)).toEqual(['file'])
    expect(dash.providers[0]!.options.path).toMatch(/^\//)
  })
})
