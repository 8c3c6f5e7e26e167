// Whether the input consumer is consuming: fetches and heartbeats seen lately, no rebalance that lasts, no crash; readiness and its reason.
import type { ConsumerSignals } from '../sources/kafka.ts'

/**
 * Tracks the consumer's signs of life. It is consuming while a fetch, a heartbeat or a batch completed
 * within `stallMs`, it has not been rebalancing for longer than that, and
 * it has not crashed since it last joined the group. `onDead` hears of a crash kafkajs does not
 * recover from (a non-retriable error): only a new consumer reads again.
 */
export class ConsumerHealth implements ConsumerSignals {
  #lastAlive: number
  #rebalancingSince: number | null = null
  #crash: string | null = null
  readonly #stallMs: number
  readonly #now: () => number
  readonly #onDead: (error: Error) => void
  readonly #onCrash: (restarting: boolean) => void

  constructor(stallMs: number, hooks: { onDead: (error: Error) => void; onCrash?: (restarting: boolean) => void; now?: () => number }) {
    this.#stallMs = stallMs
    this.#now = hooks.now ?? Date.now
    this.#onDead = hooks.onDead
    this.#onCrash = hooks.onCrash ?? (() => undefined)
    this.#lastAlive = this.#now()
  }

  fetched(): void {
    this.#lastAlive = this.#now()
  }

  rebalancing(): void {
    this.#rebalancingSince ??= this.#now()
  }

  joined(): void {
    this.#rebalancingSince = null
    this.#crash = null
    this.#lastAlive = this.#now()
  }

  crashed(error: Error, restarting: boolean): void {
    this.#crash = `${error.name}: ${error.message}`
    this.#onCrash(restarting)
    if (!restarting) this.#onDead(error)
  }

  /** A new consumer replaces a dead one: it is given the stall time to join before it counts as stalled. */
  reset(): void {
    this.#rebalancingSince = null
    this.#lastAlive = this.#now()
  }

  /**
   * Why the consumer is not consuming now, or null when it is. A batch being processed heartbeats
   * every thousand records, so one that outlasts the stall time (a commit the broker never answers)
   * is a stall too.
   */
  problem(): string | null {
    const now = this.#now()
    if (this.#crash !== null) return `the consumer crashed (${this.#crash})`
    if (this.#rebalancingSince !== null && now - this.#rebalancingSince > this.#stallMs) {
      return `the group has been rebalancing for ${Math.round((now - this.#rebalancingSince) / 1000)} s`
    }
    if (now - this.#lastAlive > this.#stallMs) return `no fetch or heartbeat for ${Math.round((now - this.#lastAlive) / 1000)} s`
    return null
  }
}
