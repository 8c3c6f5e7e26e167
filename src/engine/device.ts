// The engine's devices: each one's record (what detectors see of it, window bookkeeping, alert slots), their numbers and detector states in rows, found by id, least recently seen first.
import type { DeviceInfo } from './detector.ts'
import type { DeviceNames } from './names.ts'
import type { DeviceFeatures } from './peers.ts'
import { Rows } from './rows.ts'
import { hashSeeded } from './window.ts'

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
/** The rows of the devices seen before and after it (the table's order), or -1. */
const OLDER = 7
const NEWER = 8
const WORDS = 9

/** A model and firmware, shared by the devices that report the pair. */
interface Profile {
  readonly model: string
  readonly firmware: string
}
/** A device's fields that most devices never set. */
interface Extra {
  alerts: unknown[] | null
  names: DeviceNames | null
}
/** Pairs a table shares at most before it starts its pool afresh (a stream of made-up firmware strings cannot grow it). */
const MAX_PROFILES = 4096

/**
 * An engine's devices: found by id, in the order they were last seen (least recently first: what
 * eviction and the sweeps read), their numbers in a row each and their detector states in a column
 * each, by row (a word of the row for a detector whose states are 32-bit integers). No object,
 * array or boxed number a device beyond its record: an open-addressing table of row numbers
 * (linear probing, seeded hashes) finds a device, and the order is a list through the rows. Like
 * the rows, the table keeps the room its largest count took.
 */
export class DeviceTable extends Rows {
  /** By detector index, then by row (empty for a detector whose states are words). */
  readonly states: unknown[][]
  /** By detector index: the word of its states in `stateWords`, or -1 (its states in `states`). */
  readonly stateWord: readonly number[]
  /** The states of the detectors whose states are 32-bit integers, `stateStride` words a row. */
  stateWords: Int32Array
  readonly stateStride: number
  /** Each row's device. */
  private readonly byRow: (Device | undefined)[]
  /** Row + 1 of a device (0: free), at its id's hash or past it. */
  private slots = new Int32Array(64)
  private held = 0
  private oldestRow = -1
  private newestRow = -1
  /** A random seed each table: ids cannot be chosen to collide in every process. */
  private readonly seed = (Math.random() * 0x100000000) | 0
  /** Model and firmware pairs by model, then firmware. */
  private profiles = new Map<string, Map<string, Profile>>()
  private profileCount = 0

  /** `detectors`: each detector's id, and whether its states are 32-bit integers (`Detector.rowState`). */
  constructor(private readonly detectors: readonly { readonly id: string; readonly rowState: boolean }[]) {
    super(DOUBLES, WORDS)
    let words = 0
    this.stateWord = detectors.map((d) => (d.rowState ? words++ : -1))
    this.stateStride = words
    this.stateWords = new Int32Array(this.capacity * words)
    // Each column starts with the elements kind of any value (it held an object once), so that one
    // load site reads every column the same way, whether its detector's states are objects or rows.
    const column = (): unknown[] => {
      const c: unknown[] = [this]
      c.pop()
      return c
    }
    this.states = detectors.map(column)
    this.byRow = column() as (Device | undefined)[]
  }

  /** A row of zeros, its states' words too. */
  override alloc(): number {
    const row = super.alloc()
    this.stateWords.fill(0, row * this.stateStride, (row + 1) * this.stateStride)
    return row
  }

  protected override grown(capacity: number): void {
    const words = new Int32Array(capacity * this.stateStride)
    words.set(this.stateWords)
    this.stateWords = words
  }

  /** Detector `i`'s state that is not a 32-bit integer, though it said its states are. */
  notAWord(i: number, state: unknown): Error {
    return new Error(`detector ${this.detectors[i]!.id} says its states are rows (32-bit integers) but gave ${typeof state === 'number' ? state : typeof state}`)
  }

  /** The one object of a model and firmware pair (for a device's record). */
  profile(model: string, firmware: string): Profile {
    let byFirmware = this.profiles.get(model)
    let p = byFirmware?.get(firmware)
    if (p !== undefined) return p
    if (this.profileCount >= MAX_PROFILES) {
      this.profiles = new Map()
      this.profileCount = 0
      byFirmware = undefined
    }
    if (byFirmware === undefined) this.profiles.set(model, (byFirmware = new Map()))
    p = { model, firmware }
    byFirmware.set(firmware, p)
    this.profileCount++
    return p
  }

  /** Devices in the table. */
  get count(): number {
    return this.held
  }

  get(id: string): Device | undefined {
    const { slots, byRow } = this
    const mask = slots.length - 1
    for (let h = hashSeeded(id, this.seed) & mask; ; h = (h + 1) & mask) {
      const s = slots[h]!
      if (s === 0) return undefined
      const d = byRow[s - 1]!
      if (d.id === id) return d
    }
  }

  /** Adds a device (made on this table, its id not in it) as the most recently seen. */
  add(d: Device): void {
    if ((this.held + 1) * 4 > this.slots.length * 3) this.resize(this.slots.length * 2)
    this.place(d)
    this.byRow[d.row] = d
    this.link(d.row)
    this.held++
  }

  /** Takes a device out (its row stays its own until `Device.release`). */
  remove(d: Device): void {
    const { slots, byRow } = this
    const mask = slots.length - 1
    let hole = hashSeeded(d.id, this.seed) & mask
    while (slots[hole] !== d.row + 1) {
      if (slots[hole] === 0) throw new Error(`device ${d.id} is not in the table`)
      hole = (hole + 1) & mask
    }
    // Backward shift: each later entry of the run that may sit in the hole (its home is not
    // between the hole and it) moves in, and leaves its own place as the next hole.
    for (let j = (hole + 1) & mask; slots[j] !== 0; j = (j + 1) & mask) {
      const home = hashSeeded(byRow[slots[j]! - 1]!.id, this.seed) & mask
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        slots[hole] = slots[j]!
        hole = j
      }
    }
    slots[hole] = 0
    this.unlink(d.row)
    byRow[d.row] = undefined
    this.held--
  }

  /** Makes a device the most recently seen. */
  touch(d: Device): void {
    if (this.newestRow === d.row) return
    this.unlink(d.row)
    this.link(d.row)
  }

  /** Every device, least recently seen first; `visit` may remove the device it is given (no other). */
  *values(): Generator<Device, void, undefined> {
    for (let row = this.oldestRow; row >= 0; ) {
      const newer = this.i[row * WORDS + NEWER]!
      yield this.byRow[row]!
      row = newer
    }
  }

  private place(d: Device): void {
    const { slots } = this
    const mask = slots.length - 1
    let h = hashSeeded(d.id, this.seed) & mask
    while (slots[h] !== 0) h = (h + 1) & mask
    slots[h] = d.row + 1
  }

  private resize(capacity: number): void {
    this.slots = new Int32Array(capacity)
    for (let row = this.oldestRow; row >= 0; row = this.i[row * WORDS + NEWER]!) this.place(this.byRow[row]!)
  }

  /** Appends a row at the newest end of the order. */
  private link(row: number): void {
    const { i } = this
    i[row * WORDS + OLDER] = this.newestRow
    i[row * WORDS + NEWER] = -1
    if (this.newestRow >= 0) i[this.newestRow * WORDS + NEWER] = row
    else this.oldestRow = row
    this.newestRow = row
  }

  private unlink(row: number): void {
    const { i } = this
    const older = i[row * WORDS + OLDER]!
    const newer = i[row * WORDS + NEWER]!
    if (older >= 0) i[older * WORDS + NEWER] = newer
    else this.oldestRow = newer
    if (newer >= 0) i[newer * WORDS + OLDER] = older
    else this.newestRow = older
  }
}

/**
 * The engine's record of a device: its id, its model and firmware pair (shared), its alert slots
 * and names (one object once it has either) as fields, its numbers and detector states in its
 * engine's `DeviceTable`. Each number starts as a new device's, each state undefined (0 for a
 * state in a word) until the engine sets it; `release` gives the row back when the engine drops
 * the device.
 */
export class Device implements DeviceRecord {
  /** Its model and firmware: one object for the devices of each pair (`DeviceTable.profile`). */
  private profile: Profile
  /** Its alert slots and names, once it has either (most devices never have). */
  private extra: Extra | null = null
  /** Its row in the table (the table's to read). */
  readonly row: number

  constructor(
    private readonly rows: DeviceTable,
    readonly id: string,
    model: string,
    firmware: string,
  ) {
    this.profile = rows.profile(model, firmware)
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

  get model(): string {
    return this.profile.model
  }
  set model(v: string) {
    this.profile = this.rows.profile(v, this.profile.firmware)
  }
  get firmware(): string {
    return this.profile.firmware
  }
  set firmware(v: string) {
    this.profile = this.rows.profile(this.profile.model, v)
  }
  get alerts(): unknown[] | null {
    return this.extra === null ? null : this.extra.alerts
  }
  set alerts(v: unknown[] | null) {
    if (this.extra !== null) this.extra.alerts = v
    else if (v !== null) this.extra = { alerts: v, names: null }
  }
  get names(): DeviceNames | null {
    return this.extra === null ? null : this.extra.names
  }
  set names(v: DeviceNames | null) {
    if (this.extra !== null) this.extra.names = v
    else if (v !== null) this.extra = { alerts: null, names: v }
  }

  /** Its state of detector `i`. */
  state(i: number): unknown {
    const t = this.rows
    const k = t.stateWord[i]!
    return k < 0 ? t.states[i]![this.row] : t.stateWords[this.row * t.stateStride + k]
  }

  setState(i: number, state: unknown): void {
    const t = this.rows
    const k = t.stateWord[i]!
    if (k < 0) t.states[i]![this.row] = state
    else if (typeof state === 'number' && (state | 0) === state) t.stateWords[this.row * t.stateStride + k] = state
    else throw t.notAWord(i, state)
  }

  /** Gives the row back, its states to the collector: the record must not be read again. */
  release(): void {
    const t = this.rows
    for (let k = 0; k < t.states.length; k++) if (t.stateWord[k]! < 0) t.states[k]![this.row] = undefined
    t.release(this.row)
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
