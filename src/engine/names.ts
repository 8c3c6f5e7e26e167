// The names a device's DNS answers gave the addresses it then talks to: per device, bounded, expiring with their TTL (and a grace while in use).
import type { DnsEvent } from '../types.ts'

/** Addresses a device keeps names for at most; past it the one that expires first makes room. */
export const MAX_NAMES = 64

/** A device's names: parallel arrays, by address (a few dozen at most: a scan is cheaper than a map). */
export interface DeviceNames {
  addresses: string[]
  names: string[]
  /** Event time (ms) after which the name no longer applies. */
  until: number[]
}

/**
 * Takes a DNS answer: each address it gave is named `query` until its TTL and `graceMs` have
 * passed (devices keep using an address well past its TTL: a long-lived MQTT session resolves once).
 */
export const recordAnswer = (current: DeviceNames | null, e: DnsEvent, graceMs: number): DeviceNames | null => {
  if (e.answers.length === 0) return current
  const names = current ?? { addresses: [], names: [], until: [] }
  const until = e.ts + (e.ttlSeconds ?? 0) * 1000 + graceMs
  for (const address of e.answers) {
    const i = names.addresses.indexOf(address)
    if (i >= 0) {
      names.names[i] = e.query
      if (until > names.until[i]!) names.until[i] = until
    } else if (names.addresses.length < MAX_NAMES) {
      names.addresses.push(address)
      names.names.push(e.query)
      names.until.push(until)
    } else {
      let soonest = 0
      for (let k = 1; k < names.until.length; k++) if (names.until[k]! < names.until[soonest]!) soonest = k
      names.addresses[soonest] = address
      names.names[soonest] = e.query
      names.until[soonest] = until
    }
  }
  return names
}

/**
 * The name a device's answers gave `address` at `ts`, or undefined. A name in use stays until
 * `graceMs` after its last use.
 */
export const nameOf = (names: DeviceNames, address: string, ts: number, graceMs: number): string | undefined => {
  const i = names.addresses.indexOf(address)
  if (i < 0 || ts > names.until[i]!) return undefined
  const until = ts + graceMs
  if (until > names.until[i]!) names.until[i] = until
  return names.names[i]
}

/** A copy for a checkpoint (null for none). */
export const copyNames = (names: DeviceNames | null | undefined): DeviceNames | null =>
  names === null || names === undefined ? null : { addresses: names.addresses.slice(), names: names.names.slice(), until: names.until.slice() }
