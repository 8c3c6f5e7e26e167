// Alert records: stable ids and the contract's field order.
import { createHash } from 'node:crypto'
import { z } from 'zod'
import type { Alert, AlertKind, AlertStatus, Evidence, Severity } from '../types.ts'
import { ALERT_KINDS, legacyKind, SEVERITIES } from '../types.ts'

/**
 * The same device, detector and start always give the same id, so a replay reproduces ids and a
 * redelivered alert is recognisable as a duplicate.
 */
export const alertId = (deviceId: string, detector: string, startsAtMs: number): string =>
  createHash('sha256').update(`${deviceId}\n${detector}\n${startsAtMs}`).digest('hex').slice(0, 32)

export const isoTime = (ms: number): string => new Date(ms).toISOString()

export interface AlertFields {
  readonly id: string
  readonly kind: AlertKind
  readonly deviceId: string
  readonly model: string
  readonly firmware: string
  readonly detector: string
  readonly detectorVersion: number
  readonly configHash: string
  readonly status: AlertStatus
  readonly revision: number
  readonly severity: Severity
  readonly previousSeverity: Severity | null
  readonly score: number
  readonly startsAtMs: number
  readonly endsAtMs: number | null
  readonly detectedAtMs: number
  readonly updatedAtMs: number
  readonly summary: string
  readonly evidence: Evidence
}

/** Builds the record with keys in the documented order (the NDJSON output is diffed byte for byte). */
export const makeAlert = (f: AlertFields): Alert => ({
  id: f.id,
  scope: 'device',
  kind: f.kind,
  deviceId: f.deviceId,
  detector: f.detector,
  status: f.status,
  revision: f.revision,
  severity: f.severity,
  previousSeverity: f.previousSeverity,
  score: Math.round(f.score * 1000) / 1000,
  startsAt: isoTime(f.startsAtMs),
  endsAt: f.endsAtMs === null ? null : isoTime(f.endsAtMs),
  detectedAt: isoTime(f.detectedAtMs),
  updatedAt: isoTime(f.updatedAtMs),
  summary: f.summary,
  model: f.model === 'unknown' ? null : f.model,
  firmware: f.firmware === '' ? null : f.firmware,
  detectorVersion: f.detectorVersion,
  configHash: f.configHash,
  evidence: f.evidence,
})

const iso = z.iso.datetime({ offset: true })
const evidenceValue = z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(z.string()), z.array(z.number())])

/** A device alert record read back (alerts topic, replay output), as `correlate` takes it; unknown fields are ignored. */
export const deviceAlertSchema = z.object({
  id: z.string().min(1),
  scope: z.literal('device'),
  // Records from before kinds and revisions: their one firing record, of the kind `legacyKind` says.
  kind: z.enum(ALERT_KINDS).optional(),
  deviceId: z.string().min(1),
  detector: z.string().min(1),
  status: z.enum(['firing', 'resolved']),
  revision: z.number().int().min(1).default(1),
  severity: z.enum(SEVERITIES),
  previousSeverity: z.enum(SEVERITIES).nullable().default(null),
  score: z.number().min(0).max(1),
  startsAt: iso,
  endsAt: iso.nullable(),
  detectedAt: iso,
  updatedAt: iso.optional(),
  summary: z.string(),
  model: z.string().nullable(),
  firmware: z.string().nullable().default(null),
  detectorVersion: z.number().int().default(0),
  configHash: z.string().default(''),
  evidence: z.record(z.string(), evidenceValue),
}).transform((a) => ({
  ...a,
  kind: a.kind ?? legacyKind(a),
  updatedAt: a.updatedAt ?? (a.status === 'firing' ? a.detectedAt : a.endsAt ?? a.detectedAt),
}))
