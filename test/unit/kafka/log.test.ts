import { afterEach, describe, expect, it, vi } from 'vitest'
import { kafkaLog } from '../../../src/kafka/client.ts'
import { logLevelOf, stderrLogger } from '../../../src/log.ts'
import type { LogLevel } from '../../../src/log.ts'

/** What the run logger at `level` writes for kafkajs entries (label, namespace, message) and one line of each level of its own. */
const written = (level: LogLevel, entries: readonly [string, string, string][]): string => {
  const out: string[] = []
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    out.push(String(chunk))
    return true
  })
  const log = stderrLogger('egress-sentinel run', level)
  const kafka = kafkaLog(log)()
  for (const [label, namespace, message] of entries) kafka({ namespace, label, level: 0, log: { message, timestamp: '' } } as never)
  spy.mockRestore()
  return out.join('')
}

afterEach(() => vi.restoreAllMocks())

describe('the log', () => {
  const entries: [string, string, string][] = [
    ['ERROR', 'Connection', 'Connection error: write after end'],
    ['WARN', 'RequestQueue', 'Response without match'],
    ['ERROR', 'Producer', 'Failed to send messages: The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing'],
    ['ERROR', 'Producer', 'Producer attempted an operation with an old epoch'],
    ['WARN', 'Runner', 'The group is rebalancing, re-joining'],
    ['INFO', 'Consumer', 'Starting'],
  ]

  it("takes kafkajs' lines as warnings at most: what kafkajs calls an error it retries, and a failure reaches our code as an exception", () => {
    expect(written('info', entries)).toBe(
      'egress-sentinel run: warning: kafkajs [Producer] Producer attempted an operation with an old epoch\n' +
        'egress-sentinel run: warning: kafkajs [Runner] The group is rebalancing, re-joining\n',
    )
  })

  it("shows kafkajs' info and retried noise at debug, and only errors at error", () => {
    expect(written('debug', entries).split('\n').filter((l) => l !== '')).toHaveLength(6)
    expect(written('debug', entries)).toContain('egress-sentinel run: debug: kafkajs [Connection] Connection error: write after end\n')
    expect(written('error', entries)).toBe('')
    const out: string[] = []
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      out.push(String(chunk))
      return true
    })
    const log = stderrLogger('egress-sentinel run', 'warn')
    log.error('the consumer failed')
    log.warn('read again')
    log.info('stopped')
    log.debug('detail')
    vi.restoreAllMocks()
    expect(out).toEqual(['egress-sentinel run: error: the consumer failed\n', 'egress-sentinel run: warning: read again\n'])
  })

  it('takes EGRESS_LOG_LEVEL, info when unset, and names it when it is not a level', () => {
    expect([logLevelOf({}), logLevelOf({ EGRESS_LOG_LEVEL: 'DEBUG' })]).toEqual(['info', 'debug'])
    expect(() => logLevelOf({ EGRESS_LOG_LEVEL: 'loud' })).toThrow('EGRESS_LOG_LEVEL: expected one of error, warn, info, debug, got "loud"')
  })
})
