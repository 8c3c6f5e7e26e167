// The connections of webhook deliveries: undici's own Agent (Node's bundled fetch takes no lookup of
// ours), checking each address a connection goes to against the target's allowPrivateNetworks.
import { lookup as dnsLookup } from 'node:dns'
import { isIP } from 'node:net'
import type { LookupFunction } from 'node:net'
import { Agent, buildConnector } from 'undici'
import { refusal } from './address.ts'

/**
 * net.connect's lookup: resolves as it would, then fails when any address the name resolves to is
 * refused. The check is on the very addresses the socket connects to (no second lookup that a DNS
 * answer could change in between: no rebinding gap), and on all of them, as connect may try each.
 */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err !== null) return callback(err, '')
    for (const a of addresses) {
      const refused = refusal(a.address)
      if (refused !== null) return callback(refused, '')
    }
    if (options.all === true) return callback(null, addresses)
    const first = addresses[0]
    if (first === undefined) return callback(Object.assign(new Error(`no address for the host`), { code: 'ENOTFOUND' }), '')
    callback(null, first.address, first.family)
  })
}

/**
 * A target's dispatcher. Without allowPrivateNetworks, names are resolved by `guardedLookup`, and an
 * IP literal, which net.connect uses without any lookup, is checked before connecting.
 */
export const createDispatcher = (allowPrivateNetworks: boolean): Agent => {
  if (allowPrivateNetworks) return new Agent()
  const connect = buildConnector({ lookup: guardedLookup })
  return new Agent({
    connect: (options, callback) => {
      const refused = isIP(options.hostname) === 0 ? null : refusal(options.hostname)
      if (refused !== null) return callback(refused, null)
      connect(options, callback)
    },
  })
}
