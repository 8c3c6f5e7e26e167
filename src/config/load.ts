// Loads the configuration: YAML or JSON file → zod parse → errors that name the field → deep-frozen Config.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import type { ConfigFiles, DetectorDef } from '../engine/detector.ts'
import { AppError } from '../errors.ts'
import { OwnerTable } from '../engine/owners.ts'
import { buildConfigSchema } from './schema.ts'
import type { Config } from './schema.ts'

const deepFreeze = <T>(value: T): T => {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}

/** The files a detector's settings name, relative to `baseDir` (the configuration file's folder). */
const configFiles = (baseDir: string): ConfigFiles => ({
  resolve: (path) => resolve(baseDir, path),
  readText: (path) => readFileSync(path, 'utf8'),
  list: (dir, suffix) => readdirSync(dir).filter((n) => n.endsWith(suffix)).sort(),
})

/**
 * Validates a raw configuration object; throws EGD_CONFIG listing every issue as `path: message`.
 * Files a detector's settings name (MUD profiles) are read, relative to `baseDir`, by its `readFiles`.
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
  // Settings that name files (a detector's `readFiles`), relative to the configuration file: read
  // now, so that a missing or bad file is a configuration error naming the setting.
  const written = (raw as { detectors?: Record<string, Record<string, unknown> | undefined> } | null | undefined)?.detectors
  const detectors = config.detectors as Record<string, { enabled: boolean } | undefined>
  const files = configFiles(baseDir)
  for (const def of defs) {
    const section = detectors[def.id]
    if (def.readFiles === undefined || section === undefined) continue
    try {
      detectors[def.id] = def.readFiles(section, files, written?.[def.id]) as { enabled: boolean }
    } catch (err) {
      throw new AppError('EGD_CONFIG', (err as Error).message, { cause: err })
    }
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
