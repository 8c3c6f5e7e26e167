// A broker killed with SIGKILL under a consuming `run` and started again: run goes on consuming or exits non-zero, and is never ready while it consumes nothing.
// On a private broker of its own (test/helpers/private-broker.ts): the suite's shared broker is never killed.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { Kafka, logLevel } from 'kafkajs'
import type { Admin } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { privateBroker } from '../helpers/private-broker.ts'
import type { PrivateBroker } from '../helpers/private-broker.ts'
import { cli, committed, sample, setupTopics, startRun, waitReady } from '../helpers/service.ts'
import { until } from '../helpers/wait.ts'

const FLEET = fileURLToPath(new URL('../../fixtures/synthetic/fleet.ndjson.gz', import.meta.url))

/** EGRESS_STALL_TIMEOUT_SECONDS: not ready once the consumer has made no fetch for this long. */
const STALL_SECONDS = 5
/** A ready member must show progress over this long (the stall timeout and a margin). */
const PROGRESS_WINDOW_MS = (STALL_SECONDS + 5) * 1000
/** How long the broker stays down. */
const DOWN_MS = 20_000
/** From this long after the kill until the broker's port accepts connections again, nothing can be consumed: never ready. */
const NOT_READY_AFTER_KILL_MS = 10_000
/** After the broker is back: consuming everything again, or an exit, within this. */
const RECOVERY_MS = 60_000
/** egress_consumer_lag is read from the broker every 15 s: a 0 that outlasts this while the group is behind is wrong. */
const LAG_WINDOW_MS = 20_000
/** Start-up and the kill (up to a minute), DOWN_MS, the restart (~15 s), RECOVERY_MS: the test ends with its verdict and timeline, not the runner's timeout. */
const TEST_TIMEOUT_MS = 180_000
const SAMPLE_EVERY_MS = 250
const PARTITIONS = 2
/** Records of the synthetic fleet in the topic before run starts (a backlog: batches are in flight at the kill); the rest is produced after the restart. */
const BACKLOG = 240_000

type Phase = 'before' | 'down' | 'restarting' | 'after'

/** What /readyz and /metrics said at one moment. */
interface Sample {
  readonly at: number
  readonly phase: Phase
  /** The broker's port accepted a connection. */
  readonly brokerUp: boolean
  /** HTTP status of /readyz, 0 when nothing answered (process gone or hung). */
  readonly readyz: number
  readonly ready: number | undefined
  readonly lag: readonly (number | undefined)[]
}

/** What the broker said about the group at one moment. */
interface Poll {
  readonly at: number
  readonly committed: readonly number[]
  readonly end: readonly number[]
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0)

let broker: PrivateBroker | undefined
let kafka: Kafka
let dir: string

beforeAll(async () => {
  broker = await privateBroker()
  await broker.start()
  kafka = new Kafka({ clientId: 'broker-crash-test', brokers: [broker.brokers], logLevel: logLevel.NOTHING, connectionTimeout: 2_000, requestTimeout: 5_000, retry: { retries: 3 } })
  dir = mkdtempSync(join(tmpdir(), 'egress-broker-crash-'))
})
afterAll(async () => {
  await broker?.stop()
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

const connectedAdmin = async (): Promise<Admin> => {
  const admin = kafka.admin()
  await admin.connect()
  return admin
}

describe('run when the broker crashes', () => {
  it('killed with SIGKILL and started again 20 s later: run goes on consuming (or exits non-zero), and is never ready while it consumes nothing', async () => {
    const b = broker!
    let admin = await connectedAdmin()
    const setup = await setupTopics(admin, b.brokers, PARTITIONS)
    const { t, groupId } = setup
    // The private broker is plain TCP without SASL, whatever security the environment sets for the shared one; /metrics without a token.
    const plain = Object.fromEntries(
      ['KAFKA_TLS', 'KAFKA_TLS_CA_FILE', 'KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD', 'KAFKA_SASL_PASSWORD_FILE', 'EGRESS_METRICS_TOKEN', 'EGRESS_METRICS_TOKEN_FILE'].map((n) => [n, '']),
    )
    const env = { ...plain, ...setup.env, EGRESS_STALL_TIMEOUT_SECONDS: String(STALL_SECONDS) }

    const lines = gunzipSync(readFileSync(FLEET)).toString('utf8').trimEnd().split('\n')
    const backlog = join(dir, 'backlog.ndjson')
    const more = join(dir, 'more.ndjson')
    writeFileSync(backlog, lines.slice(0, BACKLOG).join('\n') + '\n')
    writeFileSync(more, lines.slice(BACKLOG).join('\n') + '\n')
    await cli(env, 'produce', '-q', '--topic', t.events, backlog)

    const run = startRun(env)
    /** run's stderr lines with when they came, for the timeline. */
    const said: { at: number; line: string }[] = []
    let partial = ''
    run.child.stderr.on('data', (d: Buffer) => {
      const parts = (partial + d.toString()).split('\n')
      partial = parts.pop() ?? ''
      for (const line of parts) said.push({ at: Date.now(), line })
    })
    let exitCode: number | null | undefined
    void run.exited.then((code) => (exitCode = code))
    /** How run ended, as the test saw it before killing it at the end. */
    let runState = ''
    const t0 = Date.now()
    let phase: Phase = 'before'
    let killAt = Number.NaN
    let restartAt = Number.NaN
    let backAt = Number.NaN
    const samples: Sample[] = []
    const polls: Poll[] = []
    const rel = (at: number): string => (Number.isNaN(at) ? '-' : `${((at - (Number.isNaN(killAt) ? t0 : killAt)) / 1000).toFixed(1)} s`).padStart(8)

    /** /readyz and /metrics, every SAMPLE_EVERY_MS, until stopped. */
    let sampling = true
    const address = (): string | undefined => /http on (\S+)/.exec(run.out.stderr)?.[1]
    const take = async (): Promise<Sample> => {
      const at = Date.now()
      const where = address()
      const get = (path: string) => fetch(`http://${where}${path}`, { signal: AbortSignal.timeout(1_000) })
      const readyz = where === undefined ? 0 : await get('/readyz').then((r) => r.status, () => 0)
      const metrics = where === undefined ? '' : await get('/metrics').then((r) => (r.ok ? r.text() : ''), () => '')
      const lag = Array.from({ length: PARTITIONS }, (_, p) => sample(metrics, 'egress_consumer_lag', { topic: t.events, partition: String(p) }))
      return { at, phase, brokerUp: await b.accepting(), readyz, ready: sample(metrics, 'egress_ready'), lag }
    }
    const sampler = (async () => {
      while (sampling) {
        const s = await take()
        samples.push(s)
        await sleep(Math.max(0, s.at + SAMPLE_EVERY_MS - Date.now()))
      }
    })()

    /** The group's committed offsets and the partitions' ends, while the broker is up. */
    let polling = true
    /** The group and the partitions' ends as the broker came back. */
    let atRestart: Poll | undefined
    const readGroup = async (): Promise<Poll> => {
      const at = Date.now()
      const [offsets] = await admin.fetchOffsets({ groupId, topics: [t.events] })
      const ends = await admin.fetchTopicOffsets(t.events)
      const committedOf = (p: number): number => Math.max(0, Number(offsets?.partitions.find((o) => o.partition === p)?.offset ?? -1))
      const endOf = (p: number): number => Number(ends.find((o) => o.partition === p)?.high ?? 0)
      return { at, committed: Array.from({ length: PARTITIONS }, (_, p) => committedOf(p)), end: Array.from({ length: PARTITIONS }, (_, p) => endOf(p)) }
    }
    let pollErrors = 0
    let lastPollError = ''
    const poller = (async () => {
      while (polling) {
        const started = Date.now()
        const during: Phase = phase
        if (during === 'before' || during === 'after') {
          const poll = await readGroup().catch((err: Error) => {
            pollErrors++
            lastPollError = `${err.name}: ${err.message}`
            return null
          })
          // A poll under way when the broker went down says nothing.
          if (poll !== null && phase === during) polls.push(poll)
        }
        await sleep(Math.max(0, started + 500 - Date.now()))
      }
    })()

    /** Consecutive samples with the same state, as one line each. */
    const timeline = (): string => {
      const rows: string[] = []
      let from = 0
      const key = (s: Sample): string =>
        `${s.phase.padEnd(10)} broker ${s.brokerUp ? 'up  ' : 'down'}  readyz ${s.readyz === 0 ? '---' : s.readyz}  egress_ready ${s.ready ?? '-'}  lag ${s.lag.map((l, p) => `p${p}=${l ?? '-'}`).join(' ')}`
      for (let i = 1; i <= samples.length; i++) {
        if (i < samples.length && key(samples[i]!) === key(samples[from]!)) continue
        rows.push(`  ${rel(samples[from]!.at)} ..${rel(samples[i - 1]!.at)}  ${key(samples[from]!)}  (${i - from} samples)`)
        from = i
      }
      return rows.length > 80 ? [...rows.slice(0, 30), `  ... ${rows.length - 70} lines ...`, ...rows.slice(-40)].join('\n') : rows.join('\n')
    }
    const groupTimeline = (): string => {
      const rows: string[] = []
      let last = ''
      for (const p of polls) {
        const k = `committed ${p.committed.join('/')} of ${p.end.join('/')}`
        if (k !== last) rows.push(`  ${rel(p.at)}  ${k}`)
        last = k
      }
      return rows.length > 60 ? [...rows.slice(0, 20), `  ... ${rows.length - 50} lines ...`, ...rows.slice(-30)].join('\n') : rows.join('\n')
    }
    /** run's stderr with times from the kill: from a second before the kill, a line repeated, or two lines repeated in turn (kafkajs' connection retries), folded into one entry. */
    const stderrTail = (): string => {
      const rows: string[] = []
      const from = said.findIndex((x) => !Number.isNaN(killAt) && x.at >= killAt - 1_000)
      if (from > 0) rows.push(`  (${from} lines before)`)
      for (let i = Math.max(0, from); i < said.length; ) {
        const period = said[i + 1]?.line !== said[i]!.line && said[i + 2]?.line === said[i]!.line ? 2 : 1
        let j = i + period
        while (j + period - 1 < said.length && said.slice(j, j + period).every((x, k) => x.line === said[i + k]!.line)) j += period
        const times = (j - i) / period
        for (let k = 0; k < period; k++) rows.push(`  ${rel(said[i + k]!.at)}  ${said[i + k]!.line}`)
        if (times > 1) rows.push(`  ${' '.repeat(8)}  (${period === 1 ? 'this line' : 'these two lines'} ${times} times, until ${rel(said[j - 1]!.at).trim()})`)
        i = j
      }
      return rows.length > 70 ? [...rows.slice(0, 30), `  ... ${rows.length - 70} lines ...`, ...rows.slice(-40)].join('\n') : rows.join('\n')
    }
    const story = (): string =>
      `\n--- readiness timeline (t from the SIGKILL; down ${rel(killAt)}, restart started ${rel(restartAt)}, broker back ${rel(backAt)}) ---\n${timeline()}` +
      `\n--- group ${groupId} on ${t.events} (committed of end, per partition; ${pollErrors} polls failed${pollErrors > 0 ? `, the last with ${lastPollError}` : ''}) ---\n${groupTimeline()}` +
      `\n--- run: ${runState !== '' ? runState : exitCode === undefined ? 'running' : `exited with code ${exitCode}`}; its stderr (repeats folded) ---\n${stderrTail()}`

    /** Samples that break "never ready while consuming nothing": ready for PROGRESS_WINDOW_MS after the restart, the group neither advancing nor at the end. */
    const stalledWhileReady = (): string[] => {
      const found: string[] = []
      let readySince = Number.NaN
      for (const s of samples) {
        readySince = s.readyz === 200 ? (Number.isNaN(readySince) ? s.at : readySince) : Number.NaN
        if (Number.isNaN(backAt) || s.at < backAt + PROGRESS_WINDOW_MS || s.readyz !== 200 || s.at - readySince < PROGRESS_WINDOW_MS) continue
        const window = polls.filter((p) => p.at >= s.at - PROGRESS_WINDOW_MS && p.at <= s.at)
        if (window.length < 2) continue
        const first = window[0]!
        const last = window[window.length - 1]!
        const advancing = sum(last.committed) > sum(first.committed)
        const atEnd = last.committed.every((c, p) => c >= last.end[p]!)
        if (!advancing && !atEnd) found.push(`at ${rel(s.at)}: /readyz 200 for ${((s.at - readySince) / 1000).toFixed(1)} s, but the group's committed offsets stayed at ${last.committed.join('/')} of ${last.end.join('/')} over the last ${PROGRESS_WINDOW_MS / 1000} s`)
      }
      return found
    }
    /**
     * Samples where egress_consumer_lag reads 0 for a partition the group is behind on: from NOT_READY_AFTER_KILL_MS after the
     * kill until the broker is back (nothing is committed or produced while it is down, so the first poll after the restart
     * says where the group was), and after the restart a 0 the broker has contradicted for LAG_WINDOW_MS (the lag is read
     * from the broker every 15 s).
     */
    const zeroLagWhileBehind = (): string[] => {
      const found: string[] = []
      for (const s of samples) {
        if (atRestart !== undefined && s.at >= killAt + NOT_READY_AFTER_KILL_MS && s.at < backAt && !s.brokerUp) {
          s.lag.forEach((lag, p) => {
            if (lag === 0 && atRestart!.committed[p]! < atRestart!.end[p]!) {
              found.push(`at ${rel(s.at)} (broker down): egress_consumer_lag{partition="${p}"} 0, but the group was behind: committed ${atRestart!.committed[p]} of ${atRestart!.end[p]}`)
            }
          })
        }
        if (Number.isNaN(backAt) || s.at < backAt + LAG_WINDOW_MS) continue
        const window = polls.filter((p) => p.at >= s.at - LAG_WINDOW_MS && p.at <= s.at)
        if (window.length < 2 || window[0]!.at > s.at - LAG_WINDOW_MS + 2_000) continue
        // The poll that follows the sample says whether the group had just reached the end (the last
        // poll before it may be half a second older than the lag the service reports).
        const next = polls.find((w) => w.at >= s.at)
        s.lag.forEach((lag, p) => {
          if (lag === 0 && window.every((w) => w.committed[p]! < w.end[p]!) && !(next !== undefined && next.committed[p]! >= next.end[p]!)) {
            const last = window[window.length - 1]!
            found.push(`at ${rel(s.at)}: egress_consumer_lag{partition="${p}"} 0, but for ${LAG_WINDOW_MS / 1000} s the group has been behind (committed ${last.committed[p]} of ${last.end[p]})`)
          }
        })
      }
      return found
    }

    const total = lines.length
    const violations: string[] = []
    let outcome = ''
    try {
      await waitReady(run)
      // Killed while it works through the backlog: batches and transactions are in flight.
      await until(async () => (await committed(admin, groupId, t.events)) >= BACKLOG / 10, () => `run committed less than a tenth of the backlog in 60 s:${story()}`, 60_000)

      phase = 'down'
      killAt = Date.now()
      await b.kill()
      await sleep(Math.max(0, killAt + DOWN_MS - Date.now()))
      phase = 'restarting'
      restartAt = Date.now()
      await b.restart()
      backAt = Date.now()
      // A fresh admin client: the old one's connections died with the broker.
      const old = admin
      admin = await connectedAdmin()
      void old.disconnect().catch(() => undefined)
      // Where the group was while the broker was down (nothing commits or is produced then).
      await until(
        async () => {
          atRestart = await readGroup()
          return true
        },
        () => `the restarted broker answers no offset requests:\n${b.logTail()}`,
        20_000,
      )
      polls.push(atRestart!)
      phase = 'after'
      await cli(env, 'produce', '-q', '--topic', t.events, more)

      // Consuming everything again (or gone with an error code) within the bound; a member ready while stuck ends the wait early.
      const deadline = backAt + RECOVERY_MS
      for (;;) {
        if (exitCode !== undefined) {
          outcome = `run exited with code ${exitCode}, ${rel(Date.now()).trim()} after the kill`
          break
        }
        const s = samples[samples.length - 1]
        const last = polls[polls.length - 1]
        if (s !== undefined && last !== undefined && sum(last.committed) === total && s.readyz === 200 && s.lag.every((l) => l === 0)) {
          outcome = `run consumed everything again: the group committed ${total} records, /readyz 200, egress_consumer_lag 0 on every partition`
          break
        }
        if (stalledWhileReady().length > 0 || Date.now() > deadline) {
          outcome = `${Date.now() > deadline ? `${RECOVERY_MS / 1000} s after the broker came back` : 'stuck while ready'}: ` +
            `run still up, the group committed ${last === undefined ? '?' : sum(last.committed)} of ${total} records, ` +
            `/readyz ${s?.readyz ?? '?'}, egress_consumer_lag ${s?.lag.map((l, p) => `p${p}=${l ?? '-'}`).join(' ') ?? '?'}`
          break
        }
        await sleep(SAMPLE_EVERY_MS)
      }
    } finally {
      sampling = false
      polling = false
      await sampler
      await poller
      await admin.disconnect().catch(() => undefined)
      runState = exitCode === undefined ? 'still running at the end of the test (then killed)' : `exited by itself with code ${exitCode}`
      run.child.kill('SIGKILL')
      await run.exited
    }

    const readyWhileDown = samples.filter((s) => s.at >= killAt + NOT_READY_AFTER_KILL_MS && s.at < backAt && !s.brokerUp && s.readyz === 200)
    if (readyWhileDown.length > 0) {
      violations.push(
        `/readyz answered 200 in ${readyWhileDown.length} samples from ${rel(readyWhileDown[0]!.at)} to ${rel(readyWhileDown[readyWhileDown.length - 1]!.at)}, ` +
          `while the broker was down (from ${NOT_READY_AFTER_KILL_MS / 1000} s after the SIGKILL until its port accepted connections again): nothing can be consumed then`,
      )
    }
    const stalled = stalledWhileReady()
    if (stalled.length > 0) violations.push(`ready while consuming nothing (${stalled.length} samples), first ${stalled[0]}`)
    const zeroLag = zeroLagWhileBehind()
    if (zeroLag.length > 0) violations.push(`egress_consumer_lag 0 while behind (${zeroLag.length} samples), first ${zeroLag[0]}`)
    const resumed = outcome.startsWith('run consumed everything')
    const exitedWithError = typeof exitCode === 'number' && exitCode !== 0 && outcome.startsWith('run exited')
    if (!resumed && !exitedWithError) violations.push(`neither resumed nor exited with an error code: ${outcome}`)
    expect(violations, `after the broker's SIGKILL and restart: ${outcome}${story()}\n\nviolations`).toEqual([])
  }, TEST_TIMEOUT_MS)
})
