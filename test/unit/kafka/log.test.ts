import { afterEach, describe, expect, it, vi } from 'vitest'
import { kafkaLog, logLevelOf } from '../../../src/kafka/client.ts'

/** What kafkaLog at `level` writes for kafkajs entries (label, namespace, message). */
const written = (level: Parameters<typeof kafkaLog>[0], entries: readonly [string, string, string][]): string => {
  const out: string[] = []
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    out.push(String(chunk))
    return true
  })
  const log = kafkaLog(level)()
  for (const [label, namespace, message] of entries) log({ namespace, label, level: 0, log: { message, timestamp: '' } } as never)
  spy.mockRestore()
  return out.join('')
}

afterEach(() => vi.restoreAllMocks())

describe("kafkajs' log", () => {
  const entries: [string, string, string][] = [
    ['ERROR', 'Connection', 'Connection error: write after end'],
    ['WARN', 'RequestQueue', 'Response without match'],
    ['ERROR', 'Producer', 'Producer attempted an operation with an old epoch'],
    ['WARN', 'Runner', 'The group is rebalancing, re-joining'],
    ['INFO', 'Consumer', 'Starting'],
  ]

  it('is never at error level: what kafkajs calls an error it retries, and a failure reaches our code as an exception', () => {
    expect(written('warn', entries)).toBe(
      'kafkajs warn [Producer] Producer attempted an operation with an old epoch\n' +
        'kafkajs warn [Runner] The group is rebalancing, re-joining\n',
    )
  })

  it('shows its retried noise and its info at debug, and nothing at error', () => {
    expect(written('debug', entries).split('\n').filter((l) => l !== '')).toHaveLength(5)
    expect(written('debug', entries)).toContain('kafkajs debug [Connection] Connection error: write after end\n')
    expect(written('error', entries)).toBe('')
  })

  it('takes EGRESS_LOG_LEVEL, warn when unset, and names it when it is not a level', () => {
    expect([logLevelOf({}), logLevelOf({ EGRESS_LOG_LEVEL: 'DEBUG' })]).toEqual(['warn', 'debug'])
    expect(() => logLevelOf({ EGRESS_LOG_LEVEL: 'loud' })).toThrow('EGRESS_LOG_LEVEL: expected one of error, warn, info, debug, got "loud"')
  })
})
