// Loads the configuration: YAML or JSON file → zod parse → errors that name the field → deep-frozen Config.
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import type { DetectorDef } from '../engine/detector.ts'
import { AppError } from '../errors.ts'
import { OwnerTable } from '../engine/owners.ts'
import { loadMudProfiles } from './mud.ts'
import { buildConfigSchema } from './schema.ts'
import type { Config } from './schema.ts'

const deepFreeze = <T>(value: T): T => {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}

/**
 * Validates a raw configuration object; throws EGD_CONFIG listing every issue as `path: message`.
 * MUD files named in `detectors.mud-violation` are read (relative to `baseDir`) into its `loaded`.
 */
export const parseConfig = (raw: unknown, defs: readonly DetectorDef[], source = 'config', baseDir = process.cwd()): Config => {
  const ids = new Set<string>()
  for (const d of defs) {
    if (ids.has(d.id)) throw new AppError('EGD_DETECTOR', `duplicate detector id ${d.id}`)
    ids.add(d.id)
  }
  const result = buildConfigSchema(defs).safeParse(raw ?? {})
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`)
    throw new AppError('EGD_CONFIG', `invalid configuration in ${source}:\n${lines.join('\n')}`)
  }
  const config = result.data as Config
  const mud = config.detectors['mud-violation'] as { enabled: boolean; profiles?: Record<string, string>; directory?: string; loaded?: unknown[] } | undefined
  if (mud !== undefined && (Object.keys(mud.profiles ?? {}).length > 0 || mud.directory !== undefined)) {
    // Profiles switch the detector on, unless the configuration says `enabled: false`.
    const section = (raw as { detectors?: Record<string, { enabled?: unknown } | undefined> } | null | undefined)?.detectors?.['mud-violation']
    if (section?.enabled === undefined) mud.enabled = true
    mud.loaded = [...(mud.loaded ?? []), ...loadMudProfiles({ profiles: mud.profiles ?? {}, directory: mud.directory }, baseDir)]
    // Read now: the effective configuration holds the profiles, not where they were read from, so
    // the same profiles give the same configuration hash wherever the files live.
    mud.profiles = {}
    delete mud.directory
  }
  const owners = config.destinations.owners
  if (owners !== 'builtin' && owners !== 'none') {
    // A table of the user's, relative to the configuration file: read now, so that a missing or bad
    // file is a configuration error naming the setting (check-config runs this too).
    const path = resolve(baseDir, owners)
    try {
      OwnerTable.load(path)
    } catch (err) {
      throw new AppError('EGD_CONFIG', `invalid configuration in ${source}:\n  destinations.owners: ${(err as Error).message}`, { cause: err })
    }
    config.destinations.owners = path
  }
  return deepFreeze(config)
}

/** Reads `path` (YAML or JSON) when given, else the defaults. */
export const loadConfig = (path: string | undefined, defs: readonly DetectorDef[]): Config => {
  if (path === undefined) return parseConfig({}, defs, 'defaults')
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new AppError('EGD_CONFIG', `cannot read config file ${path}: ${(err as Error).message}`, { cause: err })
  }
  let raw: unknown
  try {
    raw = parseYaml(text)
  } catch (err) {
    throw new AppError('EGD_CONFIG', `config file ${path} is not valid YAML or JSON: ${(err as Error).message}`, { cause: err })
  }
  return parseConfig(raw, defs, path, dirname(path))
}
