// The process-wide bound on tracked devices, shared by every shard's engine: over it, new devices make room before devices with learned state.

/** What the budget asks of a shard's engine when the process holds too many devices. */
export interface BudgetMember {
  /** Evicts this shard's oldest device still on probation, other than `spare`; false when it has none. */
  evictNewDevice(spare: unknown): boolean
  /** Evicts this shard's least recently seen device, other than `spare`; false when it has none. */
  evictOldestDevice(spare: unknown): boolean
}

/**
 * `max` devices at most over all members (the engine's `maxDevices` is per process, not per shard).
 * A device is on probation until it has been seen over `probationMs` of event time; only once no
 * shard has a device on probation left does a device with learned state go. So a flood of fresh
 * device ids, however large, evicts its own kind, never the fleet's baselines.
 */
export class DeviceBudget {
  #total = 0
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

  /** `requester` now holds one more device (`device`): over the bound, room is made, never by evicting `device` itself. */
  added(requester: BudgetMember, device: unknown): void {
    this.#total++
    while (this.#total > this.max) if (!this.#reclaim(requester, device)) return
  }

  /** A member took `devices` without making room (restored from a checkpoint); the next `added` does. */
  held(devices: number): void {
    this.#total += devices
  }

  /** A member evicted one device. */
  removed(): void {
    this.#total--
  }

  #reclaim(requester: BudgetMember, device: unknown): boolean {
    if (requester.evictNewDevice(device)) return true
    for (const m of this.#members) if (m !== requester && m.evictNewDevice(device)) return true
    if (requester.evictOldestDevice(device)) return true
    for (const m of this.#members) if (m !== requester && m.evictOldestDevice(device)) return true
    return false
  }
}
