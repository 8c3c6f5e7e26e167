// The Prometheus files under prometheus/: promtool accepts the rules and the example config, the rule unit tests pass and cover every rule, and each runbook link lands on a README section.
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { binary } from '../helpers/prometheus.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PROM = join(ROOT, 'prometheus')
const RULES = join(PROM, 'egress-sentinel.rules.yml')
const RULE_TESTS = join(PROM, 'egress-sentinel.rules.test.yml')
const CONFIG = join(PROM, 'prometheus.yml')

/** Runs a command to its end: exit code and everything it printed. */
const run = (file: string, args: string[], cwd = ROOT): Promise<{ code: number; output: string }> =>
  new Promise((resolve) => {
    execFile(file, args, { cwd }, (err, stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, output: stdout + stderr }))
  })

interface Rule {
  readonly alert?: string
  readonly expr: string
  readonly labels?: Record<string, string>
  readonly annotations?: Record<string, string>
}
interface AlertTest {
  readonly alertname: string
  readonly eval_time: string
  readonly exp_alerts?: readonly unknown[] | null
}
const rules = (parse(readFileSync(RULES, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules)
const alertTests = (parse(readFileSync(RULE_TESTS, 'utf8')) as { tests: { alert_rule_test?: AlertTest[] }[] }).tests.flatMap((t) => t.alert_rule_test ?? [])

/** GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens. */
const anchor = (heading: string): string =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-')
const anchors = (file: string): Set<string> =>
  new Set([...readFileSync(join(ROOT, file), 'utf8').matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => anchor(m[1]!)))

describe('prometheus/egress-sentinel.rules.yml', () => {
  it('is accepted by promtool check rules, every rule counted', async () => {
    expect(rules.length).toBeGreaterThanOrEqual(7)
    expect(await run(binary('promtool'), ['check', 'rules', RULES])).toEqual({ code: 0, output: expect.stringContaining(`SUCCESS: ${rules.length} rules found`) })
  })

  it('passes its unit tests: promtool test rules egress-sentinel.rules.test.yml', async () => {
    const result = await run(binary('promtool'), ['test', 'rules', RULE_TESTS])
    expect(result).toEqual({ code: 0, output: expect.stringContaining('SUCCESS') })
    expect(result.output).not.toContain('FAILED')
  })

  it('has, for every alert rule, a test case where it fires and one where it does not', () => {
    const names = rules.map((r) => r.alert)
    expect(names.every((n) => typeof n === 'string')).toBe(true)
    const cases = (name: string | undefined, firing: boolean): number =>
      alertTests.filter((t) => t.alertname === name && (t.exp_alerts ?? []).length > 0 === firing).length
    expect(names.filter((n) => cases(n, true) === 0)).toEqual([])
    expect(names.filter((n) => cases(n, false) === 0)).toEqual([])
    // And no test names an alert the rules do not have.
    expect(alertTests.map((t) => t.alertname).filter((n) => !names.includes(n))).toEqual([])
  })

  it('gives every alert a severity, a summary, a description and a runbook that lands on a README section', () => {
    for (const r of rules) {
      expect(r.labels?.severity, r.alert).toMatch(/^(critical|warning|info)$/)
      expect(r.annotations?.summary, r.alert).toMatch(/\S/)
      expect(r.annotations?.description, r.alert).toMatch(/\S/)
      const [file, section] = (r.annotations?.runbook ?? '').split('#')
      expect(['grafana/README.md', 'prometheus/README.md'], r.alert).toContain(file)
      expect([...anchors(file!)], r.alert).toContain(section)
    }
  })
})

describe('prometheus/prometheus.yml', () => {
  const config = parse(readFileSync(CONFIG, 'utf8')) as {
    rule_files: string[]
    scrape_configs: { job_name: string; metrics_path?: string; authorization?: { type: string; credentials_file: string } }[]
  }

  it('scrapes job egress-sentinel at /metrics with a bearer token from a file, the job the rules expect', () => {
    expect(config.scrape_configs.map((s) => [s.job_name, s.metrics_path, s.authorization?.type])).toEqual([['egress-sentinel', '/metrics', 'Bearer']])
    expect(config.scrape_configs[0]!.authorization?.credentials_file).toMatch(/^\//)
    expect(rules.find((r) => r.alert === 'EgressSentinelTargetDown')?.expr).toContain('up{job="egress-sentinel"}')
    expect(config.rule_files).toEqual(['egress-sentinel.rules.yml'])
  })

  it('is accepted by promtool check config once its token file exists', async () => {
    // promtool checks that credentials_file exists: a copy points at a temporary token, and at the rules by absolute path.
    const dir = mkdtempSync(join(tmpdir(), 'egress-promcfg-'))
    writeFileSync(join(dir, 'token'), 'a-metrics-token-of-sixteen+\n')
    const copy = structuredClone(config)
    copy.scrape_configs[0]!.authorization!.credentials_file = join(dir, 'token')
    copy.rule_files = [RULES]
    writeFileSync(join(dir, 'prometheus.yml'), stringify(copy))
    const result = await run(binary('promtool'), ['check', 'config', join(dir, 'prometheus.yml')])
    expect(result).toEqual({ code: 0, output: expect.stringContaining('is valid prometheus config file syntax') })
    expect(result.output).toContain(`SUCCESS: ${rules.length} rules found`)
  })
})
