// The engine's per-device record: what detectors see of the device, detector states, window bookkeeping and the alert slots.
import type { DeviceInfo } from './detector.ts'
import type { DeviceNames } from './names.ts'
import type { DeviceFeatures } from './peers.ts'

/** One object per device (the DeviceInfo detectors read is the record itself: no second object). */
export interface DeviceRecord extends DeviceInfo, DeviceFeatures {
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
  /** The names its DNS answers gave addresses (src/engine/names.ts), allocated on the first answer. */
  names: DeviceNames | null
}
