// Loads the configuration: YAML or JSON file → zod parse → errors that name the field → deep-frozen Config.
import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import type { DetectorDef } from '../engine/detector.ts'
import { AppError } from '../errors.ts'
import { buildConfigSchema } from './schema.ts'
import type { Config } from './schema.ts'

const deepFreeze = <T>(value: T): T => {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}

/** Validates a raw configuration object; throws EGD_CONFIG listing every issue as `path: message`. */
export const parseConfig = (raw: unknown, defs: readonly DetectorDef[], source = 'config'): Config => {
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
  return deepFreeze(result.data as Config)
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
  return parseConfig(raw, defs, path)
}
