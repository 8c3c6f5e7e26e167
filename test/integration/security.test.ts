// SASL against the real broker's SCRAM listener: the right password works with both SCRAM mechanisms, a wrong one fails clearly and is never printed.
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Kafka, logLevel } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createTopics } from '../../scripts/kafka/topics.ts'

const BIN = fileURLToPath(new URL('../../bin/egress-sentinel.js', import.meta.url))
const DEMO = fileURLToPath(new URL('../../fixtures/demo/demo.ndjson', import.meta.url))
/** The demo's records, one a line. */
const DEMO_RECORDS = String(readFileSync(DEMO, 'utf8').trimEnd().split('\n').length)
const scram = inject('kafkaScramBrokers')
const tls = inject('kafkaTlsBrokers')
const tlsCaFile = inject('kafkaTlsCaFile')
const admin = new Kafka({ clientId: 'security-test', brokers: [inject('kafkaBrokers')], logLevel: logLevel.NOTHING }).admin()

/** The test's environment without security settings of its own (KAFKA_TLS_CA_FILE may name the suite's broker certificate). */
const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^KAFKA_(TLS|SASL)/.test(k)))

const produce = async (env: NodeJS.ProcessEnv, topic: string, brokers = scram): Promise<{ code: number; stderr: string }> => {
  try {
    const { stderr } = await promisify(execFile)(process.execPath, [BIN, 'produce', '-q', '--topic', topic, DEMO], {
      env: { ...inherited, KAFKA_BROKERS: brokers, ...env },
    })
    return { code: 0, stderr }
  } catch (err) {
    const e = err as { code?: number; stderr?: string }
    return { code: e.code ?? -1, stderr: e.stderr ?? '' }
  }
}

beforeAll(async () => {
  await admin.connect()
})
afterAll(async () => {
  await admin.disconnect()
})

// The suite's own broker has the SCRAM listener; a broker named by KAFKA_BROKERS may not.
describe.skipIf(scram === '')('Kafka SASL/SCRAM', () => {
  it.each(['scram-sha-256', 'scram-sha-512'])('produces with %s and the right password', async (mechanism) => {
    const topic = `sasl-${randomUUID()}`
    await createTopics(admin, [{ topic, numPartitions: 1 }])
    const r = await produce({ KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: 'sentinel', KAFKA_SASL_PASSWORD: 'sentinel-secret' }, topic)
    expect(r).toEqual({ code: 0, stderr: '' })
    const offsets = await admin.fetchTopicOffsets(topic)
    expect(offsets[0]!.high).toBe(DEMO_RECORDS)
  })

  it('fails with exit 1 and a message naming the user and mechanism, never the password, when the password is wrong', async () => {
    const topic = `sasl-${randomUUID()}`
    await createTopics(admin, [{ topic, numPartitions: 1 }])
    const r = await produce({ KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'sentinel', KAFKA_SASL_PASSWORD: 'w0rong-Pa55' }, topic)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`Kafka authentication failed for user "sentinel" with scram-sha-256 at ${scram}: check KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD`)
    expect(r.stderr).not.toContain('w0rong-Pa55')
  })

  it('fails with exit 1 and one line naming the mechanism, no stack trace, when the brokers do not accept it', async () => {
    const topic = `sasl-${randomUUID()}`
    await createTopics(admin, [{ topic, numPartitions: 1 }])
    const r = await produce({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'sentinel', KAFKA_SASL_PASSWORD: 'sentinel-secret' }, topic)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`the Kafka brokers at ${scram} do not accept SASL mechanism plain: check KAFKA_SASL_MECHANISM`)
    expect(r.stderr).not.toMatch(/^\s+at /m)
    expect(r.stderr).not.toContain('sentinel-secret')
  })

  it('exits 2 naming a bad security setting', async () => {
    const bad = await produce({ KAFKA_SASL_MECHANISM: 'kerberos' }, 'any')
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('KAFKA_SASL_MECHANISM: expected plain, scram-sha-256 or scram-sha-512')
    const noPassword = await produce({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'sentinel' }, 'any')
    expect(noPassword).toMatchObject({ code: 2, stderr: expect.stringContaining('KAFKA_SASL_PASSWORD: required') })
  })
})

// The suite's own broker has a SASL_SSL listener with a self-signed certificate for 127.0.0.1.
describe.skipIf(tls === '')('Kafka over TLS (SASL_SSL with SCRAM)', () => {
  const user = { KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'sentinel', KAFKA_SASL_PASSWORD: 'sentinel-secret' }

  it('produces over TLS when the broker\'s certificate is trusted through KAFKA_TLS_CA_FILE', async () => {
    const topic = `tls-${randomUUID()}`
    await createTopics(admin, [{ topic, numPartitions: 1 }])
    expect(await produce({ ...user, KAFKA_TLS_CA_FILE: tlsCaFile }, topic, tls)).toEqual({ code: 0, stderr: '' })
    expect((await admin.fetchTopicOffsets(topic))[0]!.high).toBe(DEMO_RECORDS)
  })

  it('refuses a certificate it cannot verify (system CAs only), with exit 1 and a message naming the brokers', async () => {
    const r = await produce({ ...user, KAFKA_TLS: 'true' }, `tls-${randomUUID()}`, tls)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`cannot reach the Kafka brokers at ${tls}: Connection error: self-signed certificate (KAFKA_TLS_CA_FILE names the PEM of the CA that signed the brokers' certificates)`)
    expect(r.stderr).not.toContain('sentinel-secret')
  })

  it('exits 2 naming KAFKA_TLS_CA_FILE when it cannot be read', async () => {
    const r = await produce({ ...user, KAFKA_TLS_CA_FILE: '/nonexistent/ca.pem' }, 'any', tls)
    expect(r).toMatchObject({ code: 2, stderr: expect.stringContaining('KAFKA_TLS_CA_FILE: cannot read /nonexistent/ca.pem: ENOENT') })
  })
})
