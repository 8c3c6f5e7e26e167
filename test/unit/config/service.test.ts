// The service's settings from the environment: defaults, secrets from files, errors that name the variable and never the value.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { serviceSettings } from '../../../src/config/service.ts'
import { VERSION } from '../../../src/version.ts'

const BROKERS = { KAFKA_BROKERS: '127.0.0.1:9092' }

const usageError = (env: NodeJS.ProcessEnv): string => {
  try {
    serviceSettings({}, env)
  } catch (err) {
    return (err as Error).message
  }
  throw new Error('expected a usage error')
}

describe('service settings', () => {
  it('default to the contract’s topics, group and port, with no metrics token', () => {
    const s = serviceSettings({}, BROKERS)
    expect(s.topics).toEqual({ events: 'egress-events', telemetry: 'device-telemetry', alerts: 'egress-alerts', dlq: 'egress-dlq', state: 'egress-sentinel-state', models: 'egress-sentinel-models' })
    expect(s.groupId).toBe('egress-sentinel')
    expect(s.http).toEqual({ host: '127.0.0.1', port: 8080, metricsTopDevices: 20 })
    expect(s.sessionTimeoutSeconds).toBe(30)
    expect(s.webhooks).toEqual([])
  })

  it('read the top-devices series from EGRESS_METRICS_TOP_DEVICES (0 turns them off, at most 1000)', () => {
    expect(serviceSettings({}, { ...BROKERS, EGRESS_METRICS_TOP_DEVICES: '0' }).http.metricsTopDevices).toBe(0)
    expect(() => serviceSettings({}, { ...BROKERS, EGRESS_METRICS_TOP_DEVICES: '5000' })).toThrow('EGRESS_METRICS_TOP_DEVICES: Too big: expected number to be <=1000')
  })

  it('read the state topic and the session timeout from EGRESS_TOPIC_STATE and EGRESS_SESSION_TIMEOUT_SECONDS', () => {
    const s = serviceSettings({}, { ...BROKERS, EGRESS_TOPIC_STATE: 'state-x', EGRESS_SESSION_TIMEOUT_SECONDS: '6' })
    expect(s.topics.state).toBe('state-x')
    expect(s.sessionTimeoutSeconds).toBe(6)
  })

  it('read the metrics token from EGRESS_METRICS_TOKEN_FILE, trimmed', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'egress-token-')), 'token')
    writeFileSync(file, 's3cr3t-token-0123456789\n')
    expect(serviceSettings({}, { ...BROKERS, EGRESS_METRICS_TOKEN_FILE: file }).http.metricsToken).toBe('s3cr3t-token-0123456789')
  })

  it('name the variable of a bad value and never print a secret', () => {
    expect(usageError({ ...BROKERS, EGRESS_SESSION_TIMEOUT_SECONDS: '2' })).toContain('EGRESS_SESSION_TIMEOUT_SECONDS: ')
    expect(usageError({ ...BROKERS, EGRESS_TOPIC_STATE: 'bad/name' })).toContain('EGRESS_TOPIC_STATE: ')
    const short = usageError({ ...BROKERS, EGRESS_METRICS_TOKEN: 'tiny-secret' })
    expect(short).toContain('EGRESS_METRICS_TOKEN: expected at least 16 characters')
    expect(short).not.toContain('tiny-secret')
    expect(usageError({ ...BROKERS, EGRESS_METRICS_TOKEN_FILE: '/nonexistent/token' })).toContain('EGRESS_METRICS_TOKEN_FILE: cannot read /nonexistent/token: ENOENT')
  })
})

describe('VERSION', () => {
  it('is package.json’s version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
    expect(VERSION).toBe(pkg.version)
  })
})
