// One logger for a command's stderr: a line per message, `egress-sentinel run: warning: …`, shown from the level EGRESS_LOG_LEVEL sets.
import { AppError } from './errors.ts'

export type LogLevel = 'error' | 'warn' | 'info' | 'debug'
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug']

/** EGRESS_LOG_LEVEL (error, warn, info, debug), info when unset, or a usage error naming it. */
export const logLevelOf = (env: NodeJS.ProcessEnv = process.env): LogLevel => {
  const v = (env.EGRESS_LOG_LEVEL ?? '').trim().toLowerCase()
  if (v === '') return 'info'
  if (!LOG_LEVELS.includes(v as LogLevel)) throw new AppError('EGD_USAGE', `EGRESS_LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}, got "${env.EGRESS_LOG_LEVEL}"`)
  return v as LogLevel
}

export interface Logger {
  /** Something failed: the service stops, or a record is lost to it. */
  error(message: string): void
  /** Something went wrong that is being handled (retried, read again, dead-lettered). */
  warn(message: string): void
  /** What the service is doing: started, stopping, stopped with its counts. */
  info(message: string): void
  /** Detail for finding a problem: the Kafka client's own chatter. */
  debug(message: string): void
}

const WORD: Readonly<Record<LogLevel, string>> = { error: 'error: ', warn: 'warning: ', info: '', debug: 'debug: ' }

/** Lines `<name>: [error: |warning: |debug: ]<message>` on stderr, those above `level` left out. */
export const stderrLogger = (name: string, level: LogLevel = logLevelOf()): Logger => {
  const most = LOG_LEVELS.indexOf(level)
  const at = (l: LogLevel) => (message: string): void => {
    if (LOG_LEVELS.indexOf(l) <= most) process.stderr.write(`${name}: ${WORD[l]}${message}\n`)
  }
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') }
}

let processLogger: Logger | null = null

/** The logger of this process's command (set by the command; a plain one until then): the Kafka client logs through it. */
export const logger = (): Logger => (processLogger ??= stderrLogger('egress-sentinel'))
export const setLogger = (l: Logger): void => {
  processLogger = l
}
