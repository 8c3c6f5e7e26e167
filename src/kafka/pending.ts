// What a shard of `run` holds until its next commit: the alerts, dead letters and counts its records gave, taken whole by the commit.
import type { SkipReason, DecodeFailureReason } from '../decode/result.ts'
import { deadLetterKey, deadLetterValue } from '../sinks/dead-letter.ts'
import type { DeadLetterLimits } from '../sinks/dead-letter.ts'
import type { OutRecord } from '../sinks/kafka.ts'
import type { RecordOutcomes } from './records.ts'

export interface AlertLabels {
  readonly detector: string
  readonly severity: string
  readonly status: string
}

/** What a shard has processed since its last commit: sent and counted when the transaction commits. */
export interface Pending {
  /** The next input offset; null when nothing is pending. */
  nextOffset: string | null
  /** Lines of the record at nextOffset already processed (the shard stopped in it, waiting for the fleet view). */
  nextLine: number
  alerts: OutRecord[]
  alertLabels: AlertLabels[]
  dead: OutRecord[]
  deadReasons: string[]
  /** Bytes of `alerts` and `dead`, bounding what waits for a commit. */
  bytes: number
  accepted: number
  late: number
  skipped: Record<SkipReason, number>
}

export const emptyPending = (): Pending => ({
  nextOffset: null, nextLine: 0, alerts: [], alertLabels: [], dead: [], deadReasons: [], bytes: 0, accepted: 0, late: 0, skipped: { blank: 0, header: 0, marker: 0 },
})

/**
 * What a commit takes: the pending output as it is, `pending` emptied in place. Output that comes
 * while the commit is under way (another shard's device flood evicting a device of this one
 * resolves its alerts) waits for the next commit instead of being cleared unsent.
 */
export const takePending = (pending: Pending): Pending => {
  const taken = { ...pending, skipped: { ...pending.skipped } }
  Object.assign(pending, emptyPending())
  return taken
}

/**
 * A shard's record outcomes: dead letters built (bounded) at once, events counted; all of it waits in
 * `pending` for the shard's next commit. `topic`, `partition`, `offset` and `key` name the record
 * being ingested, `nowMs` the batch's wall clock (one object for the shard's life: nothing is
 * allocated per record).
 */
export class ShardOutcomes implements RecordOutcomes {
  topic = ''
  partition = 0
  offset = ''
  key: Buffer | null = null
  readonly #pending: Pending
  readonly #limits: DeadLetterLimits
  readonly #eventLag: { observe(value: number): void }
  nowMs = 0

  constructor(pending: Pending, limits: DeadLetterLimits, eventLag: { observe(value: number): void }) {
    this.#pending = pending
    this.#limits = limits
    this.#eventLag = eventLag
  }

  accepted(event: { readonly ts: number }): void {
    this.#pending.accepted++
    this.#eventLag.observe((this.nowMs - event.ts) / 1000)
  }

  late(): void {
    this.#pending.late++
  }

  skipped(reason: SkipReason): void {
    this.#pending.skipped[reason]++
  }

  dead(reason: DecodeFailureReason, error: string, bytes: Buffer): void {
    const p = this.#pending
    const value = deadLetterValue(reason, error, { topic: this.topic, partition: this.partition, offset: this.offset }, bytes, this.#limits)
    p.deadReasons.push(reason)
    p.dead.push({ key: deadLetterKey(this.key), value })
    p.bytes += value.length
  }
}
