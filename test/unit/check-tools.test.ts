// `npm test` first runs scripts/check-tools.sh: on a machine without a tool the suite needs, one line says what to install.
import { execFile } from 'node:child_process'
import { mkdtempSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const SCRIPT = fileURLToPath(new URL('../../scripts/check-tools.sh', import.meta.url))

/** Runs the check with PATH holding only a directory of links to `tools` (found on this machine's PATH). */
const check = async (tools: readonly string[]): Promise<{ code: number; stderr: string }> => {
  const bin = mkdtempSync(join(tmpdir(), 'egress-path-'))
  const which = async (t: string) => (await promisify(execFile)('bash', ['-c', `command -v ${t}`])).stdout.trim()
  for (const t of ['bash', 'env', ...tools]) symlinkSync(await which(t), join(bin, t))
  try {
    const { stderr } = await promisify(execFile)(join(bin, 'bash'), [SCRIPT], { env: { PATH: bin } })
    return { code: 0, stderr }
  } catch (err) {
    const e = err as { code: number; stderr: string }
    return { code: e.code, stderr: e.stderr }
  }
}

describe('scripts/check-tools.sh (the first step of npm test)', () => {
  it('says in one line what is missing and which Debian packages bring it, exit 1', async () => {
    const { code, stderr } = await check(['java', 'mvn', 'systemd-analyze'])
    expect(code).toBe(1)
    // promtool and prometheus are also looked for in /usr/bin, as the tests do: missing only where they are not there.
    const lines = stderr.trimEnd().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^npm test needs (promtool, prometheus, )?chromium, not found on PATH: apt-get install (prometheus )?chromium \(or: bash scripts\/install-deps\.sh\)$/)
  })

  it('names Java and Maven, the Kafka broker\'s, by their packages', async () => {
    const { code, stderr } = await check(['chromium', 'systemd-analyze'])
    expect(code).toBe(1)
    expect(stderr).toContain('npm test needs java, mvn')
    expect(stderr).toContain('apt-get install openjdk-17-jre-headless maven')
  })

  it('is silent, exit 0, where everything is found', async () => {
    expect(await check(['java', 'mvn', 'chromium', 'promtool', 'prometheus', 'systemd-analyze'])).toEqual({ code: 0, stderr: '' })
  })
})
