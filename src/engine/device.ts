// The engine's per-device record: what detectors see of the device, detector states, window bookkeeping and the alert slots.
import type { DeviceInfo } from './detector.ts'
import type { DeviceNames } from './names.ts'
import type { DeviceFeatures } from './peers.ts'
import { Rows } from './rows.ts'

/** One object per device (the DeviceInfo detectors read is the record itself: no second object). */
export interface DeviceRecord extends DeviceInfo, DeviceFeatures {
  /** Largest event time seen (ms). */
  maxTs: number
  /** First window not yet evaluated. */
  nextWindow: number
  /** Latest window that received an event. */
  lastDataWindow: number
  /** Engine event counter at the last LRU touch (see Engine.touch). */
  touchedAt: number
  /** True while the device has windows that only the fleet watermark can close. */
  pending: boolean
  /** Owned by the alert stage: per-detector lifecycle slots, allocated on the first finding. */
  alerts: unknown[] | null
  /** The names its DNS answers gave addresses (src/engine/names.ts), allocated on the first answer. */
  names: DeviceNames | null
}

// A device's numbers in its engine's rows: times and counters as 64-bit floats (event times and
// byte counts pass 2^31), the features' packed counts, hours and epochs as 32-bit integers.
const MAX_TS = 0
const FIRST_SEEN = 1
const FIRMWARE_CHANGED_AT = 2
const TOUCHED_AT = 3
const NEXT_WINDOW = 4
const LAST_DATA_WINDOW = 5
const BYTES_NOW = 6
const BYTES_BEFORE = 7
const DOUBLES = 8
const FEATURE_HOUR = 0
const COUNTS_NOW = 1
const COUNTS_BEFORE = 2
const SHARED = 3
const SHARED_EPOCH = 4
const SHARED_BEFORE = 5
const PENDING = 6
const WORDS = 7

/**
 * Where an engine keeps its devices' numbers and detector states: a row of numbers a device, and a
 * column of states a detector, by the device's row (no array and no boxed number per device).
 */
export class DeviceTable extends Rows {
  /** By detector index, then by row. */
  readonly states: unknown[][]

  constructor(detectors: number) {
    super(DOUBLES, WORDS)
    // Each column starts with the elements kind of any value (it held an object once), so that one
    // load site reads every column the same way, whether its detector's states are objects or rows.
    this.states = Array.from({ length: detectors }, () => {
      const column: unknown[] = [this]
      column.pop()
      return column
    })
  }
}

/**
 * The engine's record of a device: its names and objects as fields, its numbers and detector states
 * in its engine's `DeviceTable`. Each number starts as a new device's, each state undefined;
 * `release` gives the row back when the engine drops the device.
 */
export class Device implements DeviceRecord {
  alerts: unknown[] | null = null
  names: DeviceNames | null = null
  private readonly row: number

  constructor(
    private readonly rows: DeviceTable,
    readonly id: string,
    public model: string,
    public firmware: string,
  ) {
    this.row = rows.alloc()
    const f = this.rows.f
    const d = this.row * DOUBLES
    f[d + MAX_TS] = -Infinity
    f[d + FIRMWARE_CHANGED_AT] = -Infinity
    const i = this.rows.i
    const w = this.row * WORDS
    i[w + FEATURE_HOUR] = -1
    i[w + SHARED] = -1
    i[w + SHARED_BEFORE] = -1
  }

  /** Its state of detector `i`. */
  state(i: number): unknown {
    return this.rows.states[i]![this.row]
  }

  setState(i: number, state: unknown): void {
    this.rows.states[i]![this.row] = state
  }

  /** Gives the row back, its states to the collector: the record must not be read again. */
  release(): void {
    for (const column of this.rows.states) column[this.row] = undefined
    this.rows.release(this.row)
  }

  get maxTs(): number {
    return this.rows.f[this.row * DOUBLES + MAX_TS]!
  }
  set maxTs(v: number) {
    this.rows.f[this.row * DOUBLES + MAX_TS] = v
  }
  get firstSeen(): number {
    return this.rows.f[this.row * DOUBLES + FIRST_SEEN]!
  }
  set firstSeen(v: number) {
    this.rows.f[this.row * DOUBLES + FIRST_SEEN] = v
  }
  get firmwareChangedAt(): number {
    return this.rows.f[this.row * DOUBLES + FIRMWARE_CHANGED_AT]!
  }
  set firmwareChangedAt(v: number) {
    this.rows.f[this.row * DOUBLES + FIRMWARE_CHANGED_AT] = v
  }
  get touchedAt(): number {
    return this.rows.f[this.row * DOUBLES + TOUCHED_AT]!
  }
  set touchedAt(v: number) {
    this.rows.f[this.row * DOUBLES + TOUCHED_AT] = v
  }
  get nextWindow(): number {
    return this.rows.f[this.row * DOUBLES + NEXT_WINDOW]!
  }
  set nextWindow(v: number) {
    this.rows.f[this.row * DOUBLES + NEXT_WINDOW] = v
  }
  get lastDataWindow(): number {
    return this.rows.f[this.row * DOUBLES + LAST_DATA_WINDOW]!
  }
  set lastDataWindow(v: number) {
    this.rows.f[this.row * DOUBLES + LAST_DATA_WINDOW] = v
  }
  get bytesNow(): number {
    return this.rows.f[this.row * DOUBLES + BYTES_NOW]!
  }
  set bytesNow(v: number) {
    this.rows.f[this.row * DOUBLES + BYTES_NOW] = v
  }
  get bytesBefore(): number {
    return this.rows.f[this.row * DOUBLES + BYTES_BEFORE]!
  }
  set bytesBefore(v: number) {
    this.rows.f[this.row * DOUBLES + BYTES_BEFORE] = v
  }
  get featureHour(): number {
    return this.rows.i[this.row * WORDS + FEATURE_HOUR]!
  }
  set featureHour(v: number) {
    this.rows.i[this.row * WORDS + FEATURE_HOUR] = v
  }
  get countsNow(): number {
    return this.rows.i[this.row * WORDS + COUNTS_NOW]!
  }
  set countsNow(v: number) {
    this.rows.i[this.row * WORDS + COUNTS_NOW] = v
  }
  get countsBefore(): number {
    return this.rows.i[this.row * WORDS + COUNTS_BEFORE]!
  }
  set countsBefore(v: number) {
    this.rows.i[this.row * WORDS + COUNTS_BEFORE] = v
  }
  get shared(): number {
    return this.rows.i[this.row * WORDS + SHARED]!
  }
  set shared(v: number) {
    this.rows.i[this.row * WORDS + SHARED] = v
  }
  get sharedEpoch(): number {
    return this.rows.i[this.row * WORDS + SHARED_EPOCH]!
  }
  set sharedEpoch(v: number) {
    this.rows.i[this.row * WORDS + SHARED_EPOCH] = v
  }
  get sharedBefore(): number {
    return this.rows.i[this.row * WORDS + SHARED_BEFORE]!
  }
  set sharedBefore(v: number) {
    this.rows.i[this.row * WORDS + SHARED_BEFORE] = v
  }
  get pending(): boolean {
    return this.rows.i[this.row * WORDS + PENDING] === 1
  }
  set pending(v: boolean) {
    this.rows.i[this.row * WORDS + PENDING] = v ? 1 : 0
  }
}
