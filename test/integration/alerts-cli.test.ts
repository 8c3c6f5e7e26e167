// `egress-sentinel alerts` against the real broker: the alerts topic's committed records (an aborted transaction's are not shown), filtered, as lines or NDJSON, and --follow until SIGTERM.
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { brokerClients } from '../helpers/clients.ts'
import { createTopics } from '../../scripts/kafka/topics.ts'
import { BIN, cli, replayLines } from '../helpers/service.ts'
import { until } from '../helpers/wait.ts'
import type { Alert } from '../../src/types.ts'

const { brokers, kafka, admin, producer } = brokerClients('alerts-cli-test')

/** The order `alerts` prints a finished read in: event time, then id and revision. */
const byTime = (x: Alert, y: Alert): number => (x.updatedAt < y.updatedAt ? -1 : x.updatedAt > y.updatedAt ? 1 : x.id < y.id ? -1 : x.id > y.id ? 1 : x.revision - y.revision)

/** A fresh alerts topic of two partitions holding `lines` (keyed by device, as run writes them), and the environment that names it. */
const alertsTopic = async (lines: readonly string[]) => {
  const topic = `alerts-${randomUUID()}`
  await createTopics(admin, [{ topic, numPartitions: 2 }])
  if (lines.length > 0) await producer.send({ topic, acks: -1, messages: lines.map((l) => ({ key: (JSON.parse(l) as Alert).deviceId, value: l })) })
  return { topic, env: { KAFKA_BROKERS: brokers, EGRESS_TOPIC_ALERTS: topic, EGRESS_GROUP_ID: `alerts-cli-${randomUUID()}` } }
}

describe('egress-sentinel alerts', () => {
  it('prints every committed record oldest first, as NDJSON off a terminal; an aborted transaction\'s record never', async () => {
    const demo = await replayLines()
    const { topic, env } = await alertsTopic(demo)
    // A record in a transaction that aborts: read_committed readers never see it.
    const tx = kafka.producer({ transactionalId: `alerts-cli-${randomUUID()}`, maxInFlightRequests: 1, idempotent: true })
    await tx.connect()
    const t = await tx.transaction()
    await t.send({ topic, messages: [{ key: 'ghost', value: demo[0]!.replace(/"deviceId":"[^"]+"/, '"deviceId":"ghost-device"') }] })
    await t.abort()
    await tx.disconnect()
    // A record that is no alert record (no device id, not the contract): skipped, never a crash.
    await producer.send({ topic, acks: -1, messages: [{ value: '{"scope":"device","updatedAt":"2026-11-02T18:30:00.000Z","severity":"high","detector":"x"}' }, { value: 'not json' }] })

    const out = (await cli(env, 'alerts')).trimEnd().split('\n')
    expect(out).toEqual([...demo].sort((a, b) => byTime(JSON.parse(a) as Alert, JSON.parse(b) as Alert)))
    expect(out.join('\n')).not.toContain('ghost-device')
    expect((await cli(env, 'alerts', '-o', 'text')).trimEnd().split('\n')).toHaveLength(demo.length)
  })

  it('filters by detector, least severity, device, kind and event time, and prints a line each with -o text', async () => {
    const demo = await replayLines()
    const { env } = await alertsTopic(demo)
    const records = demo.map((l) => JSON.parse(l) as Alert).sort(byTime)
    const json = async (...args: string[]) => (await cli(env, 'alerts', '-o', 'json', ...args)).trimEnd().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Alert)

    expect((await json('--detector', 'smtp-burst,port-novelty')).map((r) => r.detector).sort()).toEqual(records.filter((r) => ['smtp-burst', 'port-novelty'].includes(r.detector)).map((r) => r.detector).sort())
    expect((await json('--severity', 'critical')).map((r) => r.id)).toEqual(records.filter((r) => r.severity === 'critical').map((r) => r.id))
    const cam = records.find((r) => r.deviceId.startsWith('peep-cam-'))!.deviceId
    expect(new Set((await json('--device', 'peep-cam-*')).map((r) => r.deviceId))).toEqual(new Set([cam]))
    expect(await json('--kind', 'notice')).toEqual([])
    const late = records.map((r) => r.updatedAt).sort()[Math.floor(records.length / 2)]!
    expect((await json('--from', late)).every((r) => r.updatedAt >= late)).toBe(true)
    expect((await json('--from', late)).length).toBeLessThan(records.length)

    const text = (await cli(env, 'alerts', '-o', 'text', '--severity', 'critical')).trimEnd().split('\n')
    const critical = records.filter((r) => r.severity === 'critical')
    expect(text).toHaveLength(critical.length)
    for (const [i, line] of text.entries()) {
      const r = critical[i]!
      expect(line.startsWith(`${r.updatedAt.slice(0, 10)} ${r.updatedAt.slice(11, 19)}  `)).toBe(true)
      expect(line).toContain(r.deviceId)
      expect(line).toContain(r.summary)
      expect(line).not.toContain('\x1b[') // no colour off a terminal
    }
    await expect(cli(env, 'alerts', '--severity', 'urgent')).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--severity: expected one of low, medium, high, critical, got "urgent"') })
  })

  it('--follow prints the retained records, then each new one as it is committed, until SIGTERM (exit 0)', async () => {
    const demo = await replayLines()
    const { topic, env } = await alertsTopic(demo.slice(0, 3))
    const child = spawn(process.execPath, [BIN, 'alerts', '--follow', '-o', 'json'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    const out = { stdout: '', stderr: '' }
    child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()))
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    const lines = () => out.stdout.split('\n').filter((l) => l !== '')
    try {
      await until(() => lines().length === 3, () => `${lines().length} of 3 retained records: ${out.stderr}`, 60_000)
      await producer.send({ topic, acks: -1, messages: demo.slice(3, 5).map((l) => ({ key: (JSON.parse(l) as Alert).deviceId, value: l })) })
      await until(() => lines().length === 5, () => `${lines().length} of 5 records: ${out.stderr}`, 60_000)
      expect(new Set(lines())).toEqual(new Set(demo.slice(0, 5)))
    } finally {
      child.kill('SIGTERM')
    }
    expect(await exited, out.stderr).toBe(0)
  })
})
