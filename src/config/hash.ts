// Short, stable hashes of configuration values: the same settings give the same hash whatever their key order.
import { createHash } from 'node:crypto'

/** JSON with object keys sorted at every level (arrays keep their order). */
export const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  )

/** The first 16 hex digits of the SHA-256 of the canonical JSON. */
export const configHash = (value: unknown): string => createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16)
