// Domain types shared by every layer. Imports nothing internal.

/** IANA protocol numbers for the three names the contract accepts. */
export const PROTO_NUMBERS = { icmp: 1, tcp: 6, udp: 17 } as const

/**
 * One outbound flow, as decoded from any input format. `ts` is the epoch milliseconds of event
 * time the engine places the flow at: a canonical record's `ts` (the flow's start, as the contract
 * says), a collector's record at its flow's end (see `placeFlow` in src/decode/fields.ts); `proto`
 * is the IANA number.
 */
export interface EgressEvent {
  readonly type: 'egress'
  readonly ts: number
  readonly deviceId: string
  readonly srcIp: string | undefined
  readonly dstIp: string
  readonly dstPort: number
  readonly proto: number
  readonly bytesOut: number
  readonly bytesIn: number | undefined
  readonly packetsOut: number | undefined
  readonly durationMs: number | undefined
  /**
   * The record continues a flow an earlier record reported (an exporter's active-timeout report of
   * a TCP connection, which carries no SYN): its bytes count, but it opens no new flow for the
   * detectors that count flows.
   */
  readonly continued: boolean
  /** DNS name, TLS SNI or MX host, when the collector knows it. */
  readonly dstHost: string | undefined
  readonly model: string | undefined
  readonly firmware: string | undefined
  /** Fixtures only: `benign` or an attack tag. Detectors never read it. */
  readonly label: string | undefined
}

/** Device-reported counters; `metrics` is an open map of finite numbers. */
export interface TelemetryEvent {
  readonly type: 'telemetry'
  readonly ts: number
  readonly deviceId: string
  readonly model: string | undefined
  readonly firmware: string | undefined
  readonly metrics: Readonly<Record<string, number>>
  readonly label: string | undefined
}

/**
 * A DNS answer a device received (Zeek `dns.log`, or a canonical `dns` record): the addresses
 * `query` resolved to, for `ttlSeconds`. Names the device's later flows to those addresses.
 */
export interface DnsEvent {
  readonly type: 'dns'
  readonly ts: number
  readonly deviceId: string
  readonly srcIp: string | undefined
  readonly query: string
  readonly answers: readonly string[]
  readonly ttlSeconds: number | undefined
  readonly model: string | undefined
  readonly firmware: string | undefined
  readonly label: string | undefined
}

export type DeviceEvent = EgressEvent | TelemetryEvent | DnsEvent

export type Severity = 'low' | 'medium' | 'high' | 'critical'
export const SEVERITIES: readonly Severity[] = ['low', 'medium', 'high', 'critical']

/** Detector-specific evidence: flat, JSON-serialisable, stable key order. */
export type Evidence = Readonly<Record<string, string | number | boolean | readonly string[] | readonly number[] | null>>

/**
 * `alert`: behaviour to act on; `notice`: an expected change worth knowing (a model's devices taking
 * up a host with new firmware), which no one is paged for and `evaluate` does not score. Severity
 * says impact only, whatever the kind.
 */
export type AlertKind = 'alert' | 'notice'
export const ALERT_KINDS: readonly AlertKind[] = ['alert', 'notice']

/** What a detector reports for one device at one window close. */
export interface Finding {
  /** `alert` when absent. */
  readonly kind?: AlertKind
  readonly severity: Severity
  /** In [0, 1]. */
  readonly score: number
  readonly summary: string
  readonly evidence: Evidence
  /** Destinations involved (host names or IPs), for suppression by destination. */
  readonly destinations: readonly string[]
}

export type AlertStatus = 'firing' | 'resolved'

/** The alert record of the contract (alerts topic, replay NDJSON, webhooks). */
export interface Alert {
  readonly id: string
  readonly scope: 'device'
  /** Fixed when the alert fires. */
  readonly kind: AlertKind
  readonly deviceId: string
  readonly detector: string
  readonly status: AlertStatus
  /**
   * 1 when it fires, one more each time its severity rises while it fires (an escalation: a new
   * firing record) and at resolution.
   */
  readonly revision: number
  readonly severity: Severity
  /** The severity of the previous revision (null on the first): a paging target sends the first record that reaches its threshold. */
  readonly previousSeverity: Severity | null
  readonly score: number
  /** ISO-8601, event time. */
  readonly startsAt: string
  /** ISO-8601, event time; set on resolved records. */
  readonly endsAt: string | null
  /** ISO-8601, event time at which the alert fired (end of the window that confirmed it). */
  readonly detectedAt: string
  /** ISO-8601, event time of this revision: `detectedAt` when it fires, the window that raised it for an escalation, `endsAt` at resolution. */
  readonly updatedAt: string
  readonly summary: string
  readonly model: string | null
  /** The device's firmware when the alert fired, when known. */
  readonly firmware: string | null
  /** The detector's version (bumped whenever its findings change for the same input). */
  readonly detectorVersion: number
  /** Hash of the configuration that shaped the finding: engine, alert lifecycle, suppressions and this detector's settings. */
  readonly configHash: string
  readonly evidence: Evidence
}

/** A record of the alerts topic: a device alert or a campaign. */
export type AlertRecord = Alert | CampaignRecord

/**
 * The kind of a device record written before alerts had one: model-shift's rollout adoptions were
 * the notices (severity low, rule `rollout`), everything else an alert.
 */
export const legacyKind = (a: { readonly detector: string; readonly evidence: Readonly<Record<string, unknown>> }): AlertKind =>
  a.detector === 'model-shift' && a.evidence.rule === 'rollout' ? 'notice' : 'alert'

/** A record's kind: a rollout is the fleet's notice; a device record from before kinds has its `legacyKind`. */
export const kindOf = (r: AlertRecord): AlertKind => (r.scope === 'fleet' ? (r.kind === 'rollout' ? 'notice' : 'alert') : (r.kind ?? legacyKind(r)))

/**
 * A fleet-scope record on the alerts topic: many devices showing one behaviour (a campaign).
 * `id` is stable for the campaign; each record of it has the next `revision`.
 */
export interface CampaignRecord {
  readonly id: string
  readonly scope: 'fleet'
  /** `campaign`: many devices showing one behaviour; `rollout`: a notice, many devices of a model taking up a host with new firmware. */
  readonly kind: 'campaign' | 'rollout'
  /** `<detector> <indicator>`, e.g. `smtp-burst smtp/direct`. */
  readonly behaviour: string
  readonly detector: string
  readonly status: AlertStatus
  /** 1 when it opens, one more with every device that joins and at resolution. */
  readonly revision: number
  readonly severity: Severity
  /** The severity of the previous revision (null on the first): a paging target sends the revision that first reaches its threshold. */
  readonly previousSeverity: Severity | null
  readonly score: number
  /** ISO-8601 event time: the earliest member's onset. */
  readonly startsAt: string
  /** ISO-8601 event time of the last member activity; set on the resolved record. */
  readonly endsAt: string | null
  /** ISO-8601 event time at which it opened. */
  readonly detectedAt: string
  /** ISO-8601 event time of this revision. */
  readonly updatedAt: string
  readonly summary: string
  /** The model a model-scope campaign is limited to; null when it spans models. */
  readonly model: string | null
  readonly deviceCount: number
  /** Members' models, most devices first. */
  readonly models: readonly string[]
  /** Members' firmware versions. */
  readonly firmware: readonly string[]
  /** The shared behaviours, ports and destinations, most devices first (at most 10). */
  readonly indicators: readonly string[]
  readonly evidence: Evidence
}
