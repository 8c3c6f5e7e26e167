// The engine's per-device record: detector states, window bookkeeping and the alert slots.
import type { DeviceInfo } from './detector.ts'

export interface DeviceRecord {
  readonly info: DeviceInfo
  /** One state per active detector, by detector index. */
  readonly states: unknown[]
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
}
