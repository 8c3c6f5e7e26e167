// What a shard of `run` holds until its next commit: the alerts, dead letters and counts its records gave, taken whole by the commit.
import type { SkipReason, DecodeFailureReason } from '../decode/result.ts'
import { deadLetterKey, deadLetterValue } from '../sinks/dead-letter.ts'
import type { DeadLetterLimits } from '../sinks/dead-letter.ts'
import type { OutRecord } from '../sinks/kafka.ts'
import type { RecordOutcomes } from './records.ts'

export interface AlertLabels {
  readonly detector: string
  readonly severity: string
  /** `firing`, `escalated` (a later firing record of a higher severity) or `resolved`. */
  readonly status: string
  readonly kind: string
}

/** What one input topic's records gave since the last commit. */
export interface SourceCounts {
  accepted: number
  late: number
  rejected: number
  skipped: Record<SkipReason, number>
}

/** What a shard has processed since its last commit: sent and counted when the transaction commits. */
export interface Pending {
  alerts: OutRecord[]
  alertLabels: AlertLabels[]
  dead: OutRecord[]
  deadReasons: string[]
  /** Bytes of `alerts` and `dead`, bounding what waits for a commit. */
  bytes: number
  /** Counts by input topic. */
  sources: Map<string, SourceCounts>
}

export const emptyPending = (): Pending => ({ alerts: [], alertLabels: [], dead: [], deadReasons: [], bytes: 0, sources: new Map() })

/**
 * What a commit takes: the pending output as it is, `pending` emptied in place. Output that comes
 * while the commit is under way (another shard's device flood evicting a device of this one
 * resolves its alerts) waits for the next commit instead of being cleared unsent.
 */
export const takePending = (pending: Pending): Pending => {
  const taken = { ...pending }
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
  #counts: SourceCounts = newCounts()

  constructor(pending: Pending, limits: DeadLetterLimits, eventLag: { observe(value: number): void }) {
    this.#pending = pending
    this.#limits = limits
    this.#eventLag = eventLag
  }

  /** The records that follow are of this input partition (call before each run of records: a commit between runs takes the counts). */
  at(topic: string, partition: number, nowMs: number): void {
    this.topic = topic
    this.partition = partition
    this.nowMs = nowMs
    let c = this.#pending.sources.get(topic)
    if (c === undefined) this.#pending.sources.set(topic, (c = newCounts()))
    this.#counts = c
  }

  accepted(event: { readonly ts: number }): void {
    this.#counts.accepted++
    this.#eventLag.observe((this.nowMs - event.ts) / 1000)
  }

  late(): void {
    this.#counts.late++
  }

  skipped(reason: SkipReason): void {
    this.#counts.skipped[reason]++
  }

  dead(reason: DecodeFailureReason, error: string, bytes: Buffer): void {
    const p = this.#pending
    this.#counts.rejected++
    const value = deadLetterValue(reason, error, { topic: this.topic, partition: this.partition, offset: this.offset }, bytes, this.#limits)
    p.deadReasons.push(reason)
    p.dead.push({ key: deadLetterKey(this.key), value })
    p.bytes += value.length
  }
}

const newCounts = (): SourceCounts => ({ accepted: 0, late: 0, rejected: 0, skipped: { blank: 0, header: 0, marker: 0, outside: 0, continuation: 0 } })
