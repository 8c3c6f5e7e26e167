// A Kafka broker of one test's own (scripts/kafka-local.sh in a temporary KAFKA_LOCAL_DIR), for tests that kill it: the suite's shared broker is never touched.
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SCRIPT = join(ROOT, 'scripts', 'kafka-local.sh')
const HOST = '127.0.0.1'

export interface PrivateBroker {
  /** `127.0.0.1:<port>`: the same address after every restart (the port is pinned). */
  readonly brokers: string
  readonly port: number
  /** Its KAFKA_LOCAL_DIR (removed by stop). */
  readonly dir: string
  /** Starts the broker (formats its storage on the first start); resolves once it accepts clients. */
  start(): Promise<void>
  /** SIGKILL, as a crash would: no clean shutdown. Resolves once the process is gone and its port closed. */
  kill(): Promise<void>
  /** Starts it again on the same port with the same data (killing it first if it still runs). */
  restart(): Promise<void>
  /** Kills it and removes its folder. */
  stop(): Promise<void>
  /** Whether its port accepts TCP connections now. */
  accepting(): Promise<boolean>
  /** The end of the broker's log, for failure messages. */
  logTail(lines?: number): string
}

/** A port nothing listens on now (the kernel's pick). */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, HOST, () => {
      const address = s.address()
      s.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))))
    })
  })

/** True if something accepts TCP connections on 127.0.0.1:`port`. */
const portOpen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port })
    const done = (open: boolean): void => {
      socket.destroy()
      resolve(open)
    }
    socket.setTimeout(500, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })

/** Alive and not a zombie (a killed broker is reparented to init, which may never reap it). */
const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ...": the state letter follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return true // no /proc: kill(pid, 0) is all there is
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** The Kafka version the shared broker runs (from its state file), so that its cached jars serve. */
const sharedVersion = (sharedDir: string): string | undefined => {
  try {
    return /^KAFKA_VERSION=(\S+)$/m.exec(readFileSync(join(sharedDir, 'kafka.env'), 'utf8'))?.[1]
  } catch {
    return undefined
  }
}

/**
 * A private single-node broker in a fresh temporary folder, on a pinned free port, with a small
 * heap. Its jars are the shared broker's (`<KAFKA_LOCAL_DIR or .kafka>/lib/<version>`, linked in),
 * so no second download happens; without them the script fetches them once, into the private folder.
 * Not started yet: call start().
 */
export const privateBroker = async (): Promise<PrivateBroker> => {
  const sharedDir = process.env.KAFKA_LOCAL_DIR !== undefined && process.env.KAFKA_LOCAL_DIR !== '' ? process.env.KAFKA_LOCAL_DIR : join(ROOT, '.kafka')
  const version = process.env.KAFKA_VERSION !== undefined && process.env.KAFKA_VERSION !== '' ? process.env.KAFKA_VERSION : (sharedVersion(sharedDir) ?? '3.9.1')
  const dir = mkdtempSync(join(tmpdir(), 'egress-private-kafka-'))
  const sharedLib = join(sharedDir, 'lib', version)
  if (existsSync(join(sharedLib, '.complete'))) {
    mkdirSync(join(dir, 'lib'), { recursive: true })
    symlinkSync(sharedLib, join(dir, 'lib', version), 'dir')
  }
  const port = await freePort()
  const brokers = `${HOST}:${port}`
  // Only what this broker needs: none of the shared broker's pinned ports or SCRAM setting.
  const env: NodeJS.ProcessEnv = { ...process.env, KAFKA_LOCAL_DIR: dir, KAFKA_PORT: String(port), KAFKA_VERSION: version, KAFKA_HEAP_OPTS: '-Xms128m -Xmx384m', KAFKA_START_TIMEOUT: '90' }
  for (const name of ['KAFKA_SCRAM', 'KAFKA_SCRAM_PORT', 'KAFKA_TLS_PORT', 'KAFKA_JVM_OPTS']) delete env[name]

  const pidFile = join(dir, 'kafka.pid')
  const pid = (): number | null => {
    try {
      const n = Number(readFileSync(pidFile, 'utf8').trim())
      return Number.isInteger(n) && n > 0 ? n : null
    } catch {
      return null
    }
  }
  // If the test process ends without stop() (a crash, a timeout), the broker goes with it.
  const onExit = (): void => {
    const p = pid()
    if (p !== null) {
      try {
        process.kill(p, 'SIGKILL')
      } catch {
        // gone already
      }
    }
  }
  process.on('exit', onExit)

  const logTail = (lines = 30): string => {
    try {
      return readFileSync(join(dir, 'logs', 'kafka.log'), 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
    } catch {
      return '(no broker log)'
    }
  }

  const start = async (): Promise<void> => {
    let stdout: string
    try {
      ;({ stdout } = await promisify(execFile)('bash', [SCRIPT, 'start'], { env, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 }))
    } catch (err) {
      const e = err as { stderr?: string; message: string }
      throw new Error(`private broker did not start (KAFKA_LOCAL_DIR=${dir}, port ${port}): ${e.message}\n${e.stderr ?? ''}\nend of its log:\n${logTail()}`)
    }
    const printed = /^KAFKA_BROKERS=(\S+)$/m.exec(stdout)?.[1]
    if (printed !== brokers) throw new Error(`private broker started at ${printed ?? '(nothing printed)'}, not at the pinned ${brokers}:\n${stdout}`)
  }

  const kill = async (): Promise<void> => {
    const p = pid()
    if (p !== null) {
      try {
        process.kill(p, 'SIGKILL')
      } catch {
        // gone already
      }
    }
    const deadline = Date.now() + 15_000
    while ((p !== null && processAlive(p)) || (await portOpen(port))) {
      if (Date.now() > deadline) throw new Error(`private broker (pid ${p ?? '?'}) still alive or ${brokers} still open 15 s after SIGKILL`)
      await sleep(100)
    }
  }

  return {
    brokers,
    port,
    dir,
    start,
    kill,
    async restart() {
      const p = pid()
      if ((p !== null && processAlive(p)) || (await portOpen(port))) await kill()
      await start()
    },
    async stop() {
      try {
        await kill()
      } finally {
        process.off('exit', onExit)
        rmSync(dir, { recursive: true, force: true })
      }
    },
    accepting: () => portOpen(port),
    logTail,
  }
}
