// One root zod schema for the whole configuration, composed with each detector's own schema.
import { isIP } from 'node:net'
import { z } from 'zod'
import type { DetectorDef } from '../engine/detector.ts'
import { AppError } from '../errors.ts'
import { PRIVATE_NETWORKS, parseNetwork } from '../engine/net.ts'
import { isTimeZone } from '../decode/zone.ts'
import { MAX_LOOKAHEAD } from '../engine/window.ts'
import { webhooksSchema } from './webhooks.ts'

const isoTime = z.iso.datetime({ offset: true })

export const suppressionRuleSchema = z
  .strictObject({
    /** Exact device id, or a prefix ending in `*`. */
    deviceId: z.string().min(1).optional(),
    /** Detector id the rule applies to; all detectors when absent. */
    detector: z.string().min(1).optional(),
    /** CIDR, address, host name or `*.domain`; every destination of the finding must match. */
    destination: z.string().min(1).optional(),
    /** An autonomous system number: every destination of the finding must be owned by it (destinations.owners). */
    asn: z.number().int().min(0).max(4294967295).optional(),
    /** ISO-8601 event time at which the rule stops applying. */
    until: isoTime.optional(),
    /** Why the rule exists. */
    reason: z.string().optional(),
  })
  .refine((r) => r.deviceId !== undefined || r.detector !== undefined || r.destination !== undefined || r.asn !== undefined, {
    message: 'a suppression rule needs at least one of deviceId, detector, destination, asn',
  })

/**
 * Why a suppression rule's destination can match nothing, or null: a network must be a valid CIDR,
 * something shaped like an address a valid one, a name a host name or `*.domain`.
 */
const destinationProblem = (text: string): string | null => {
  if (text.includes('/')) return parseNetwork(text) === null ? `"${text}" is not a network: expected an address/prefix, e.g. 192.0.2.0/24` : null
  if (/^[\d.]+$/.test(text) || text.includes(':')) return isIP(text) === 0 ? `"${text}" is not an IP address` : null
  const host = text.startsWith('*.') ? text.slice(2) : text
  return /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*\.?$/.test(host) ? null : `"${text}" is neither a network, an address, a host name nor *.domain`
}

const engineSchema = z.strictObject({
  /** Base window length; detectors are evaluated at each window close. */
  windowSeconds: z.number().int().min(1).max(3600).default(60),
  /**
   * How late (behind the device's newest event) an event may arrive and still count. Collectors'
   * records are placed at their flow's end: this must cover the exporter's inactive timeout and the
   * export and collector delays (README, "Deploying with your collector"). Each window of it costs
   * every device memory (the detectors' lookahead) and delays its alerts by as much.
   */
  allowedLatenessSeconds: z.number().int().min(0).max(3600).default(60),
  /** A quiet device's open windows close once fleet event time is this far past its last event (at least allowedLatenessSeconds + windowSeconds). */
  idleFlushSeconds: z.number().int().min(0).default(300),
  /** A device silent this long (fleet event time) is forgotten, state and all. */
  deviceTtlHours: z.number().positive().default(24),
  /**
   * Hard cap on tracked devices in the whole process (every shard of `run`, every partition of a
   * replay). Beyond it devices still on probation go first (oldest first), then the least recently seen.
   */
  maxDevices: z.number().int().min(1).default(200_000),
  /** A device is on probation, first to go over maxDevices, until it has been seen over this many minutes of event time. */
  probationMinutes: z.number().min(0).max(24 * 60).default(10),
  /**
   * An event dated more than this after the wall clock is a dead letter (ts_future): one bad clock
   * cannot move its device's or its shard's time ahead. One within it moves its shard's time no
   * further than the wall clock. As Kafka bounds record timestamps by the broker's clock.
   */
  maxFutureSeconds: z.number().int().min(1).max(366 * 86_400).default(300),
  /** An event dated more than this before the wall clock is a dead letter (ts_past); 0: no bound (replays of old recordings need none). */
  maxAgeHours: z.number().min(0).default(0),
  /** Windows evaluated after a device's last event; later quiet windows pass in bulk as clean. */
  quietWindows: z.number().int().min(1).default(60),
})
  // Detectors account exactly for data observed up to MAX_LOOKAHEAD windows past the one they evaluate.
  .refine((e) => e.allowedLatenessSeconds <= MAX_LOOKAHEAD * e.windowSeconds, {
    message: `must not exceed ${MAX_LOOKAHEAD} × windowSeconds (detectors are exact for a lateness of up to ${MAX_LOOKAHEAD} windows)`,
    path: ['allowedLatenessSeconds'],
  })

/** Bounds on what any input record may cost, in `run` and in replay alike. */
const inputSchema = z.strictObject({
  /** A Kafka record (or a replayed line) larger than this is a dead letter (too_large), never decoded. */
  maxRecordBytes: z.number().int().min(1024).max(64 << 20).default(256 * 1024),
  /** Bytes of the original record a dead letter keeps (cut to fit the dead-letter topic's max.message.bytes in any case). */
  deadLetterRawBytes: z.number().int().min(0).max(1 << 20).default(64 * 1024),
  /** Replay of .gz files: fails once the decompressed bytes exceed this many times the compressed ones (plus 64 MiB): a gzip bomb. */
  maxGzipRatio: z.number().min(1).default(200),
  /**
   * The zone of time stamps a collector writes without one (pmacct without `timestamps_utc: true`
   * prints the collector host's local time): an IANA name such as Europe/Prague.
   */
  timeZone: z.string().refine(isTimeZone, { message: 'expected an IANA time zone name such as UTC or Europe/Prague' }).default('UTC'),
})

/** The fleet view: model-level knowledge merged over every shard (see src/engine/fleet.ts). */
const fleetSchema = z.strictObject({
  /**
   * Event-time period the fleet view moves by: data of epoch e is judged with what the whole fleet
   * knew up to epoch e - 2. Shorter epochs make fleet knowledge fresher and shards wait for each
   * other more often. A whole number of windows.
   */
  epochMinutes: z.number().int().min(1).max(24 * 60).default(10),
  /** Models the fleet view holds at most; past them, a new model gets no fleet knowledge (its devices are judged by their own history). */
  maxModels: z.number().int().min(1).max(1_000_000).default(1024),
})

const lifecycleSchema = z.strictObject({
  /** Consecutive bad windows before an alert fires. */
  fireAfter: z.number().int().min(1).default(2),
  /** Consecutive clean windows before a firing alert resolves. */
  resolveAfter: z.number().int().min(1).default(10),
})

/** Fleet-scope campaigns (`correlate`, `replay --campaigns`): many devices showing one behaviour. */
const campaignsSchema = z.strictObject({
  /** Devices that must show a behaviour within the window before a campaign opens. */
  minDevices: z.number().int().min(2).max(100_000).default(5),
  /** How far back (event time) a device's behaviour counts towards opening a campaign. */
  windowHours: z.number().positive().max(24 * 30).default(24),
  /** A campaign resolves once none of its devices has had an alert firing for this long. */
  quietHours: z.number().positive().max(24 * 30).default(6),
  /** `correlate --kafka`: how far behind its partition's newest alert an alert may still arrive (event time). */
  graceMinutes: z.number().min(0).max(24 * 60).default(30),
})

const networkString = z.string().refine((t) => parseNetwork(t) !== null, { message: 'expected an IP network (CIDR such as 192.168.0.0/16 or fd00::/8) or an address' })
const addressString = z.string().refine((t) => isIP(t) !== 0, { message: 'expected an IPv4 or IPv6 address' })

const deviceSchema = z.strictObject({
  model: z.string().min(1).optional(),
  firmware: z.string().min(1).optional(),
  /** The device's addresses (dual stack, several interfaces): their flows are this device's, under this entry's key. */
  addresses: z.array(addressString).min(1).optional(),
})

/** Which addresses are the fleet's devices. */
const devicesSchema = z.strictObject({
  /**
   * Source addresses that are devices (CIDRs or addresses, IPv4 and IPv6). A flow from any other
   * source is not a device's egress (an inbound scan, a reply, an outside host a sensor saw): it is
   * counted (skipped, reason `outside`), never judged. The default is private address space.
   */
  networks: z.array(networkString).default([...PRIVATE_NETWORKS]),
})

/** How destinations are known (src/engine/destinations.ts). */
const destinationsSchema = z.strictObject({
  /**
   * The owners of addresses (autonomous system and organisation), which identify a destination the
   * collector gives no name for: `builtin` (the @ip-location-db/asn table the package ships), `none`,
   * or the path of a CSV file of rows `first,last,asn,organisation` (addresses of either family) or of
   * a MaxMind DB file (`.mmdb`: GeoLite2-ASN, DB-IP ASN Lite, IPinfo ASN).
   */
  owners: z.string().min(1).default('builtin'),
  /**
   * How long a device's DNS answer names an address past its TTL, and past the last flow that used
   * the name (a session resolved once may last for days).
   */
  dnsGraceMinutes: z.number().min(0).max(7 * 24 * 60).default(60),
})

/** Inventory keys: a device id, an address, or a CIDR (its attributes for every device in it); an address listed by one device only. */
const inventorySchema = z.record(z.string().min(1), deviceSchema).superRefine((inventory, ctx) => {
  const owner = new Map<string, string>()
  for (const [key, entry] of Object.entries(inventory)) {
    if (key.includes('/') && parseNetwork(key) === null) ctx.addIssue({ code: 'custom', message: 'a key with "/" must be an IP network (CIDR)', path: [key] })
    // Shaped like an IPv4 address but not one (10.1.2.300), or with spaces around it: it would match no flow, nor any device id a collector sends.
    else if (/^\d+\.\d+\.\d+\.\d+$/.test(key) && isIP(key) === 0) ctx.addIssue({ code: 'custom', message: `"${key}" is not an IPv4 address, and no device id looks like one`, path: [key] })
    else if (key.trim() !== key) ctx.addIssue({ code: 'custom', message: 'a key with spaces around it matches nothing', path: [key] })
    ;(entry.addresses ?? []).forEach((a, i) => {
      const first = owner.get(a.toLowerCase())
      if (first !== undefined && first !== key) ctx.addIssue({ code: 'custom', message: `${a} is listed by ${first} too`, path: [key, 'addresses', i] })
      else owner.set(a.toLowerCase(), key)
    })
  }
})

/** Wraps a detector's strict schema with the switches every detector has. */
const detectorSection = (def: DetectorDef) => {
  const schema = def.configSchema as unknown
  if (!(schema instanceof z.ZodObject)) {
    throw new AppError('EGD_DETECTOR', `detector ${def.id}: configSchema must be a z.strictObject`)
  }
  return schema
    .extend({
      /** Turn the detector off. */
      enabled: z.boolean().default(def.enabledByDefault ?? true),
      /** Overrides alerts.fireAfter for this detector (some detectors set their own default). */
      fireAfter: def.fireAfter === undefined ? z.number().int().min(1).optional() : z.number().int().min(1).default(def.fireAfter),
      /** Overrides alerts.resolveAfter for this detector. */
      resolveAfter: z.number().int().min(1).optional(),
    })
    .prefault({})
}

/** The correlator's settings in milliseconds. */
export const campaignSettings = (c: z.output<typeof campaignsSchema>) => ({
  minDevices: c.minDevices,
  windowMs: c.windowHours * 3_600_000,
  quietMs: c.quietHours * 3_600_000,
})

export const buildConfigSchema = (defs: readonly DetectorDef[]) =>
  z.strictObject({
    engine: engineSchema.prefault({}),
    fleet: fleetSchema.prefault({}),
    input: inputSchema.prefault({}),
    alerts: lifecycleSchema
      .extend({ suppress: z.array(suppressionRuleSchema).default([]) })
      .prefault({}),
    detectors: z.strictObject(Object.fromEntries(defs.map((d) => [d.id, detectorSection(d)]))).prefault({}),
    campaigns: campaignsSchema.prefault({}),
    devices: devicesSchema.prefault({}),
    destinations: destinationsSchema.prefault({}),
    /** Device attributes by device id, address or CIDR, for collectors that do not send them (pmacct, goflow2, Zeek). */
    inventory: inventorySchema.default({}),
    /** Where `run` sends alert records besides the alerts topic; replay and evaluate ignore it. */
    webhooks: webhooksSchema.prefault({}),
  })
    // A rule that can never match would silence nothing while looking as if it did.
    .superRefine((c, ctx) => {
      const ids = defs.map((d) => d.id)
      c.alerts.suppress.forEach((r, i) => {
        const path = ['alerts', 'suppress', i]
        if (r.detector !== undefined && !ids.includes(r.detector)) {
          ctx.addIssue({ code: 'custom', message: `unknown detector "${r.detector}" (detectors: ${ids.join(', ')})`, path: [...path, 'detector'] })
        }
        const why = r.destination === undefined ? null : destinationProblem(r.destination)
        if (why !== null) ctx.addIssue({ code: 'custom', message: why, path: [...path, 'destination'] })
      })
    })
    .refine((c) => (c.fleet.epochMinutes * 60) % c.engine.windowSeconds === 0, {
      message: 'must be a whole number of engine.windowSeconds',
      path: ['fleet', 'epochMinutes'],
    })
    // Data of an epoch is judged with the fleet as of two epochs before: every shard must have
    // closed that epoch (its end passed by the lateness) by the time its clock enters this one.
    .refine((c) => c.engine.allowedLatenessSeconds < c.fleet.epochMinutes * 60, {
      message: 'must be less than fleet.epochMinutes',
      path: ['engine', 'allowedLatenessSeconds'],
    })

export type ConfigSchema = ReturnType<typeof buildConfigSchema>
export interface DetectorSettings {
  readonly enabled: boolean
  readonly fireAfter?: number | undefined
  readonly resolveAfter?: number | undefined
  readonly [key: string]: unknown
}
export type Config = Omit<z.output<ConfigSchema>, 'detectors'> & {
  readonly detectors: Readonly<Record<string, DetectorSettings>>
}
