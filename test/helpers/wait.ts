// Waiting in integration tests: poll a condition until it holds, or fail saying what did not happen.

/**
 * Polls `probe` every 50 ms until it holds (a probe that throws counts as not yet); after
 * `timeoutMs` fails with `explain`, or with what `explain()` returns.
 */
export const until = async (
  probe: () => boolean | Promise<boolean>,
  explain: string | (() => string | Promise<string>),
  timeoutMs = 30_000,
): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await Promise.resolve().then(probe).catch(() => false)) return
    if (Date.now() > deadline) throw new Error(typeof explain === 'string' ? explain : await explain())
    await new Promise((r) => setTimeout(r, 50))
  }
}
