// `egress-sentinel produce` option checks: they run before any broker is reached, so no broker is needed.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { main } from '../../../src/cli/index.ts'

afterEach(() => {
  vi.restoreAllMocks()
})

/** Runs the CLI and returns its exit code and what it wrote on stderr. */
const cli = async (...args: string[]): Promise<{ code: number; stderr: string }> => {
  let stderr = ''
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk)
    return true
  })
  const code = await main(['node', 'egress-sentinel', ...args])
  return { code, stderr }
}

describe('egress-sentinel produce --max-line-bytes', () => {
  it.each(['0', '-1', '1.5', '1e3', 'abc', ''])('rejects "%s" with exit 2, naming the option', async (value) => {
    const r = await cli('produce', '--topic', 'events', '--max-line-bytes', value, 'no-such-file.ndjson')
    expect(r).toEqual({ code: 2, stderr: `egress-sentinel: --max-line-bytes: expected a whole number of bytes >= 1, got "${value}"\n` })
  })
})
