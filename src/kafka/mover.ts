// Moves shards with the fleet, off their own input: a waiting shard on once the view allows, an idle shard to the fleet's clock.
import { LAG_EPOCHS } from '../engine/fleet.ts'
import type { FleetView } from '../engine/fleet.ts'
import type { ServiceMetrics } from '../metrics.ts'
import type { BatchRunner } from './batches.ts'
import { shardKey } from './changelog.ts'
import type { EndOffsets } from './ends.ts'
import type { ModelsFeed } from './models.ts'
import { idle, serial } from './shards.ts'
import type { Shard, ShardSet } from './shards.ts'

/** The fleet's clock stands still this long before idle shards take it whole (see idleTarget). */
const QUIET_MS = 2_000

/** How often idle and waiting shards look at the fleet besides each change of it. */
const MOVE_CHECK_MS = 1_000

/** Outside the consumer's batch handler the consumer heartbeats by itself. */
const NO_HEARTBEAT = (): Promise<void> => Promise.resolve()

export interface FleetMoverOptions {
  readonly view: FleetView
  readonly feed: ModelsFeed
  readonly set: ShardSet
  readonly ends: EndOffsets
  readonly runner: BatchRunner
  readonly commit: (shard: Shard) => Promise<void>
  readonly metrics: ServiceMetrics
  readonly latenessMs: number
  readonly commitIntervalMs: number
  readonly stopping: () => boolean
  /** This member owns every shard (see BatchRunnerOptions.alone): a move commits when due, not at once. */
  readonly alone: () => boolean
  readonly warn: (message: string) => void
  /** A move that failed beyond a shard's own failure (its commit's failure is the shard's): the service cannot go on. */
  readonly fail: (shard: Shard, err: Error) => void
}

/**
 * Moves shards with the fleet, off their own input: a shard waiting at an event goes on once the
 * view has what the event needs (its partition resumes), or moves its clock as far as the view
 * allows meanwhile; a shard read up to its partition's end (its broker's end offset: an empty
 * partition too) takes the fleet's clock, the newest any shard committed, so that its epochs close
 * with everyone's and no shard waits for an idle one. Each move commits (its epochs are published).
 */
export class FleetMover {
  private readonly quiet = { clock: -Infinity, since: 0 }
  private readonly timer: NodeJS.Timeout

  constructor(private readonly o: FleetMoverOptions) {
    // Idle shards follow the fleet's clock, waiting ones look again, even when no record comes.
    this.timer = setInterval(() => this.schedule(), MOVE_CHECK_MS)
    this.timer.unref()
  }

  /**
   * Moves every shard soon: each after whatever it is doing (a shard busy with a long batch does not
   * delay one that can go on now), at most one move queued each.
   */
  schedule(): void {
    for (const shard of this.o.set.shards.values()) {
      if (shard.moveQueued) continue
      shard.moveQueued = true
      serial(shard, () => {
        shard.moveQueued = false
        return this.move(shard)
      }).catch((err: Error) => this.o.fail(shard, err))
    }
  }

  stop(): void {
    clearInterval(this.timer)
  }

  private async move(shard: Shard): Promise<void> {
    const { set, view, stopping } = this.o
    if (stopping() || set.get(shardKey(shard.id)) !== shard) return
    const p = shard.pipeline
    let target: number
    if (shard.waitingAt !== null || shard.inputs.some((i) => i.held !== null)) {
      if (shard.waitingAt === null || p.canIngest(shard.waitingAt)) {
        // On with its held batches (the view has what they wait for, or the input they wait for may be read to its end now).
        try {
          await this.o.runner.drain(shard, NO_HEARTBEAT)
        } catch (err) {
          this.o.warn(`${shardKey(shard.id)}: ${(err as Error).message}; it is read again from its committed state`)
        }
        return
      }
      // Not past the wall clock: an event dated ahead of it (within engine.maxFutureSeconds) waits
      // for the view a little longer rather than close its shard's epochs early.
      target = Math.min(shard.waitingAt, p.maxAdvance(), Date.now())
      // Waiting where it stands, with work its fleet publications went out ahead of (its alerts, its
      // state): committed once due, however long the others take.
      if (!(target > p.time())) return this.commitDue(shard, 'committing while it waits')
    } else if (idle(shard)) {
      target = Math.min(this.idleTarget(), p.maxAdvance())
      // Read to its end with work not committed yet (a batch's state and offsets wait for the
      // interval): committed once due, whether its clock moves or not.
      if (!(target > p.time())) return this.commitDue(shard, 'committing at the end of its input')
      // Read to the end as the broker says now: records on their way are fetched first (the rule for
      // an idle partition: its end offsets, not the last batch's, say it has nothing to read).
      // (Unreadable now, a broker down: the next look tries again; the consumer reports the outage.)
      const highs = await this.o.ends.fresh().catch(() => null)
      if (highs === null) return this.commitDue(shard, 'committing at the end of its input')
      for (const i of shard.inputs) {
        if (i.readTo < (highs.get(`${i.topic}/${i.partition}`) ?? 0n)) {
          i.caughtUp = false
          return
        }
      }
      if (!idle(shard) || set.get(shardKey(shard.id)) !== shard) return
      // At once when the move closes an epoch another member may wait for, else at most once a commit interval.
      const closes = Math.floor((target - this.o.latenessMs) / view.settings.epochMs) - 1 > p.closedThrough()
      if (!(closes && !this.o.alone()) && Date.now() - shard.lastCommitAt < this.o.commitIntervalMs) return
    } else {
      return
    }
    if (!(target > p.time())) return
    const complete = view.complete
    p.advanceTo(target)
    // The epochs it closed may be what this member's other shards wait for.
    if (view.complete > complete) this.schedule()
    // A commit for the move alone goes on from where the inputs are.
    const first = shard.inputs[0]!
    if (shard.inputs.every((i) => i.next === null)) {
      first.next = (first.committed ?? first.position).toString()
      first.nextLine = first.committed === null ? 0 : first.committedLine
    }
    // Its closed epochs are in this member's view already when no other member reads them from the topic.
    if (this.o.alone() && Date.now() - shard.lastCommitAt < this.o.commitIntervalMs) return
    await this.commit(shard, 'moving with the fleet')
  }

  /** Commits a shard's work not committed yet (a waiting or an idle shard's), once its commit interval has passed. */
  private async commitDue(shard: Shard, what: string): Promise<void> {
    if (this.o.set.get(shardKey(shard.id)) !== shard) return
    if (shard.inputs.some((i) => i.next !== null) && Date.now() - shard.lastCommitAt >= this.o.commitIntervalMs) await this.commit(shard, what)
  }

  private async commit(shard: Shard, what: string): Promise<void> {
    try {
      await this.o.commit(shard)
    } catch (err) {
      this.o.metrics.transactions.inc({ result: 'aborted' })
      this.o.warn(`${shardKey(shard.id)}: ${what} failed (${(err as Error).message}); it is read again from its committed state`)
      this.o.runner.failed(shard)
    }
  }

  /**
   * Where a shard read to the end of its partitions moves. While the fleet's clock moves (records
   * are coming, some perhaps on their way to this shard), only as far as the shards that wait need:
   * through the epoch they wait for, which replay would have passed too (they have read an event
   * two epochs later). Once the fleet's clock has stood still for QUIET_MS, to the fleet's clock, as
   * replay moves every shard to the input's newest event: quiet partitions close their windows.
   */
  private idleTarget(): number {
    const { feed, set, view, latenessMs } = this.o
    const clock = this.fleetClock()
    const quiet = this.quiet
    if (clock !== quiet.clock) {
      quiet.clock = clock
      quiet.since = Date.now()
    }
    if (Date.now() - quiet.since >= QUIET_MS) return clock
    let need = -Infinity
    for (const n of feed.needs.values()) if (n > need) need = n
    for (const sh of set.shards.values()) if (sh.waitingAt !== null) need = Math.max(need, view.epochOf(sh.waitingAt) - LAG_EPOCHS)
    return Math.min(clock, (need + 1) * view.settings.epochMs + latenessMs)
  }

  /** The fleet's clock: the newest clock a shard committed (any member's), or one of this member's shards has. */
  private fleetClock(): number {
    let clock = this.o.feed.maxClock
    for (const s of this.o.set.shards.values()) if (s.pipeline.time() > clock) clock = s.pipeline.time()
    return clock
  }
}
