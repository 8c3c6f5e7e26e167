// The process-wide bound on tracked devices, shared by every shard's engine: over it, new devices make room before devices with learned state.

/** What the budget asks of a shard's engine when the process holds too many devices. */
export interface BudgetMember {
  /** The creation number (DeviceBudget.created) of this shard's oldest device still on probation, other than `spare`; Infinity when none. */
  oldestNewDevice(spare: unknown): number
  /** Evicts that device; false when it has none. */
  evictNewDevice(spare: unknown): boolean
  /** Evicts this shard's least recently seen device, other than `spare`; false when it has none. */
  evictOldestDevice(spare: unknown): boolean
}

/**
 * `max` devices at most over all members (the engine's `maxDevices` is per process, not per shard).
 * A device is on probation until it has been seen over `probationMs` of event time; only once no
 * shard has a device on probation left does a device with learned state go. So a flood of fresh
 * device ids, however large, evicts its own kind, never the fleet's baselines. Among devices on
 * probation the one created first goes, whichever shard holds it.
 */
export class DeviceBudget {
  #total = 0
  #created = 0
  readonly #members = new Set<BudgetMember>()

  constructor(readonly max: number) {}

  /** Devices held over all members. */
  get total(): number {
    return this.#total
  }

  join(member: BudgetMember): void {
    this.#members.add(member)
  }

  /** A member leaves with the `devices` it held (a shard dropped or moved to another member). */
  leave(member: BudgetMember, devices: number): void {
    if (this.#members.delete(member)) this.#total -= devices
  }

  /**
   * `requester` now holds one more device (`device`), which gets the number returned: over the
   * bound, room is made, never by evicting `device` itself. A member that left (a dropped shard
   * finishing its batch) is not counted, and makes no room.
   */
  added(requester: BudgetMember, device: unknown): number {
    const created = this.#created++
    if (!this.#members.has(requester)) return created
    this.#total++
    while (this.#total > this.max) if (!this.#reclaim(requester, device)) break
    return created
  }

  /** A creation number for a device restored from a checkpoint (older than any created after). */
  restored(): number {
    return this.#created++
  }

  /** A member took `devices` without making room (restored from a checkpoint); the next `added` does. */
  held(member: BudgetMember, devices: number): void {
    if (this.#members.has(member)) this.#total += devices
  }

  /** A member evicted one device. */
  removed(member: BudgetMember): void {
    if (this.#members.has(member)) this.#total--
  }

  #reclaim(requester: BudgetMember, device: unknown): boolean {
    let oldest: BudgetMember | null = null
    let first = Infinity
    for (const m of this.#members) {
      const created = m.oldestNewDevice(device)
      if (created < first) {
        first = created
        oldest = m
      }
    }
    if (oldest !== null && oldest.evictNewDevice(device)) return true
    if (requester.evictOldestDevice(device)) return true
    for (const m of this.#members) if (m !== requester && m.evictOldestDevice(device)) return true
    return false
  }
}
