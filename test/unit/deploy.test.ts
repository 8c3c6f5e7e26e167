// The deployment files as an operator takes them: the systemd unit passes `systemd-analyze verify`, the Dockerfile
// passes hadolint and copies what the build and the service need.
import { execFile } from 'node:child_process'
import { accessSync, constants, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const UNIT = join(ROOT, 'examples/egress-sentinel.service')
const DOCKERFILE = join(ROOT, 'Dockerfile')

const run = async (cmd: string, args: readonly string[]): Promise<{ code: number; output: string }> => {
  try {
    const { stdout, stderr } = await promisify(execFile)(cmd, args)
    return { code: 0, output: stdout + stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, output: e.stdout + e.stderr }
  }
}

/** hadolint from PATH, else where scripts/install-deps.sh puts it. */
const hadolint = (): string => {
  const local = join(ROOT, '.tools/bin/hadolint')
  try {
    accessSync(local, constants.X_OK)
    return local
  } catch {
    return 'hadolint'
  }
}

/** The unit as this machine would run it (verify checks that ExecStart's program exists: node may live elsewhere than /usr/bin). */
const here = (unit: string): string => {
  const file = join(mkdtempSync(join(tmpdir(), 'egress-unit-')), 'egress-sentinel.service')
  writeFileSync(file, unit.replace('ExecStart=/usr/bin/node ', `ExecStart=${process.execPath} `))
  return file
}

describe('examples/egress-sentinel.service', () => {
  it('passes systemd-analyze verify without a warning, with its credentials commented out or in use', async () => {
    const unit = readFileSync(UNIT, 'utf8')
    expect(await run('systemd-analyze', ['verify', here(unit)])).toEqual({ code: 0, output: '' })
    const withCredentials = unit.replace(/^# (LoadCredential|Environment)=/gm, '$1=')
    expect(withCredentials).toMatch(/^Environment=KAFKA_SASL_PASSWORD_FILE=%d\/kafka-sasl-password$/m)
    expect(await run('systemd-analyze', ['verify', here(withCredentials)])).toEqual({ code: 0, output: '' })
  })

  it('would show a mistake: verify names an unknown setting', async () => {
    const bad = here(readFileSync(UNIT, 'utf8').replace('NoNewPrivileges=yes', 'NoNewPrivilege=yes'))
    expect((await run('systemd-analyze', ['verify', bad])).output).toContain("Unknown key 'NoNewPrivilege'")
  })

  it('stops with SIGTERM within the service\'s own 25 s budget, and does not restart on a configuration error (exit 2)', () => {
    const unit = readFileSync(UNIT, 'utf8')
    expect(unit).toMatch(/^KillSignal=SIGTERM$/m)
    expect(unit).toMatch(/^TimeoutStopSec=30$/m)
    expect(unit).toMatch(/^RestartPreventExitStatus=2$/m)
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/node \S+\/bin\/egress-sentinel\.js run /m)
  })
})

describe('Dockerfile', () => {
  const text = readFileSync(DOCKERFILE, 'utf8')

  it('passes hadolint', async () => {
    expect(await run(hadolint(), [DOCKERFILE])).toEqual({ code: 0, output: '' })
  })

  it('would show a mistake: hadolint flags an unpinned base image', async () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'egress-docker-')), 'Dockerfile')
    writeFileSync(bad, text.replaceAll('node:20.19-bookworm-slim', 'node:latest'))
    expect((await run(hadolint(), [bad])).output).toContain('DL3007')
  })

  it('builds from everything the build compiles, and runs the service as a non-root user on Node 20', () => {
    const include = (JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] }).include
    const [build, runtime] = text.split(/^FROM /m).slice(1) as [string, string]
    for (const dir of [...include, 'bin', 'patches', 'fixtures/demo']) expect(build, dir).toMatch(new RegExp(`^COPY ${dir} `, 'm'))
    for (const dir of ['bin', 'dist', 'node_modules', 'fixtures/demo']) expect(runtime, dir).toMatch(new RegExp(`^COPY --from=build .* /src/${dir} `, 'm'))
    expect(runtime).toMatch(/^node:20\.\d+-bookworm-slim$/m)
    expect(runtime).toMatch(/^USER 1000:1000$/m)
    expect(runtime).toMatch(/^ENTRYPOINT \["node", "bin\/egress-sentinel\.js"\]$/m)
  })
})
