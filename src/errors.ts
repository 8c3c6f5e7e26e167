// Typed, coded errors: callers branch on `code`, never on message text.

export type ErrorCode =
  | 'EGD_CONFIG' // invalid configuration: exit 2
  | 'EGD_USAGE' // bad command line: exit 2
  | 'EGD_INPUT' // an input file cannot be read
  | 'EGD_DETECTOR' // the detector registry is inconsistent
  | 'EGD_KAFKA' // the broker refused, or lacks what is needed (a topic, credentials)
  | 'EGD_KAFKA_UNREACHABLE' // no broker answered (run retries at start)

export class AppError extends Error {
  override readonly name = 'AppError'

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

export const isAppError = (err: unknown, code?: ErrorCode): err is AppError =>
  err instanceof AppError && (code === undefined || err.code === code)

/** Process exit code for an error: 2 for usage and configuration, 1 for everything else. */
export const exitCodeOf = (err: unknown): number => (isAppError(err, 'EGD_CONFIG') || isAppError(err, 'EGD_USAGE') ? 2 : 1)
