// Writes schema/config.schema.json, the configuration's JSON Schema for editors, from the zod schema.
//   node dist/scripts/config-schema.js [--out schema/config.schema.json]
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { Command } from 'commander'
import { DETECTORS } from '../detectors/index.ts'
import { configJsonSchema } from '../src/config/json-schema.ts'

const program = new Command('config-schema')
  .description("write the configuration's JSON Schema (made from the zod schema run validates with)")
  .option('--out <file>', 'where to write it', 'schema/config.schema.json')
  .action((flags: { out: string }) => {
    const out = resolve(flags.out)
    mkdirSync(dirname(out), { recursive: true })
    writeFileSync(out, `${JSON.stringify(configJsonSchema(DETECTORS), null, 2)}\n`)
    process.stderr.write(`config-schema: ${out}\n`)
  })
program.parse()
