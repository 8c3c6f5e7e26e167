// Alert records read back (files, the alerts topic) for correlation: device alerts kept, campaign records skipped, anything else rejected with the field named.
import { deviceAlertSchema } from '../alerts/alert.ts'
import type { Alert } from '../types.ts'

export type AlertLine =
  | { readonly kind: 'alert'; readonly alert: Alert }
  | { readonly kind: 'fleet'; readonly id: string; readonly revision: number }
  | { readonly kind: 'invalid'; readonly error: string }

/** Decodes one alert record (JSON text). */
export const decodeAlertRecord = (text: string): AlertLine => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    return { kind: 'invalid', error: `not JSON: ${(err as Error).message}` }
  }
  if (value !== null && typeof value === 'object' && (value as { scope?: unknown }).scope === 'fleet') {
    const { id, revision } = value as { id?: unknown; revision?: unknown }
    if (typeof id === 'string' && typeof revision === 'number') return { kind: 'fleet', id, revision }
    return { kind: 'invalid', error: 'fleet record without id or revision' }
  }
  const r = deviceAlertSchema.safeParse(value)
  if (r.success) return { kind: 'alert', alert: r.data as Alert }
  const issue = r.error.issues[0]!
  return { kind: 'invalid', error: `${issue.path.join('.') || '(record)'}: ${issue.message}` }
}
