// The fleet as a flow exporter sends it: a record when a flow goes idle or at the active timeout, in the order records leave.
import type { EgressEvent, FleetEvent } from '../generate-fleet.ts'

export interface ExporterTimeouts {
  /** A flow longer than this is reported at each active timeout, one record per stretch (ms). */
  readonly activeMs: number
  /** A flow's last record leaves this long after its last packet (the inactive timeout, ms). */
  readonly idleMs: number
}

/** nProbe's and many routers' settings: a minute's active timeout, 15 s of idleness. */
export const DEFAULT_TIMEOUTS: ExporterTimeouts = { activeMs: 60_000, idleMs: 15_000 }

/** A stretch's part of `total`: `share` of `whole` ms, rounded down (the last stretch takes the remainder). */
const portion = (total: number, share: number, whole: number): number => Math.floor((total * share) / whole)

/**
 * Each egress flow as the records an exporter sends for it, with the time each leaves: a flow of
 * `durationMs` up to the active timeout is one record, sent an idle timeout after its end; a longer
 * one is a record per active timeout (its bytes and packets in proportion to the stretch), each
 * sent at its stretch's end, the last an idle timeout later. Records keep the contract's meaning:
 * `ts` is the stretch's start, `durationMs` its length. Telemetry leaves when it is reported.
 * Returned in the order they leave (ties in the fleet's order): out of start order, as collectors
 * deliver them.
 */
export const asExported = (events: readonly FleetEvent[], timeouts: ExporterTimeouts = DEFAULT_TIMEOUTS): FleetEvent[] => {
  const { activeMs, idleMs } = timeouts
  const out: { readonly event: FleetEvent; readonly leaves: number; readonly order: number }[] = []
  for (const e of events) {
    if (e.type !== 'egress' || e.durationMs <= activeMs) {
      out.push({ event: e, leaves: e.type === 'egress' ? e.ts + e.durationMs + idleMs : e.ts, order: out.length })
      continue
    }
    const pieces = Math.ceil(e.durationMs / activeMs)
    let bytesOut = 0
    let bytesIn = 0
    let packetsOut = 0
    for (let k = 0; k < pieces; k++) {
      const last = k === pieces - 1
      const start = e.ts + k * activeMs
      const length = last ? e.durationMs - k * activeMs : activeMs
      const stretch: EgressEvent = {
        ...e,
        ts: start,
        bytesOut: last ? e.bytesOut - bytesOut : portion(e.bytesOut, length, e.durationMs),
        bytesIn: last ? e.bytesIn - bytesIn : portion(e.bytesIn, length, e.durationMs),
        packetsOut: last ? e.packetsOut - packetsOut : portion(e.packetsOut, length, e.durationMs),
        durationMs: length,
      }
      bytesOut += stretch.bytesOut
      bytesIn += stretch.bytesIn
      packetsOut += stretch.packetsOut
      out.push({ event: stretch, leaves: start + length + (last ? idleMs : 0), order: out.length })
    }
  }
  out.sort((a, b) => a.leaves - b.leaves || a.order - b.order)
  return out.map((r) => r.event)
}
