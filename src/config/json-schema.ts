// The configuration's JSON Schema, made from the zod schema `run` validates with (for editors: schema/config.schema.json).
import { z } from 'zod'
import type { DetectorDef } from '../engine/detector.ts'
import { buildConfigSchema } from './schema.ts'

/**
 * The JSON Schema of a configuration file as written (defaults may be left out). Checks zod
 * applies in code (a suppression rule's detector, cross-field rules) are not in it: `check-config`
 * has the last word.
 */
export const configJsonSchema = (defs: readonly DetectorDef[]): Record<string, unknown> => ({
  ...z.toJSONSchema(buildConfigSchema(defs), { io: 'input', unrepresentable: 'any' }),
  title: 'egress-sentinel configuration',
})
