// Retries a Kafka request that failed with an error the broker means as passing (a group coordinator loading, moving, not there yet).

/** Whether kafkajs marks the error as one to try again (`retriable`), as it does for COORDINATOR_LOAD_IN_PROGRESS and NOT_COORDINATOR. */
export const isRetriable = (err: unknown): boolean => typeof err === 'object' && err !== null && (err as { retriable?: unknown }).retriable === true

export interface RetryOptions {
  /** Give up after this long (ms), with the last error. */
  readonly withinMs: number
  /** The first wait (ms); each next one doubles, up to 2 s. */
  readonly firstDelayMs?: number
  readonly sleep?: (ms: number) => Promise<void>
  readonly now?: () => number
}

const sleepMs = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * `request()`, tried again while it fails with a retriable error and time is left: a fresh broker's
 * group coordinator answers "loading" for a while, which kafkajs' admin client passes on. Any other
 * error, or the last retriable one, is thrown.
 */
export const retrying = async <T>(request: () => Promise<T>, opts: RetryOptions): Promise<T> => {
  const now = opts.now ?? Date.now
  const sleep = opts.sleep ?? sleepMs
  const deadline = now() + opts.withinMs
  let delay = opts.firstDelayMs ?? 100
  for (;;) {
    try {
      return await request()
    } catch (err) {
      if (!isRetriable(err) || now() + delay > deadline) throw err
      await sleep(delay)
      delay = Math.min(2_000, delay * 2)
    }
  }
}
