// The `egress-sentinel` command: subcommands, help, and the mapping of errors to exit codes.
import { Command, CommanderError } from 'commander'
import { DETECTORS } from '../../detectors/index.ts'
import { redactWebhookTarget, resolveWebhookTargets } from '../config/webhooks.ts'
import { loadConfig } from '../config/load.ts'
import { exitCodeOf, isAppError } from '../errors.ts'
import { registerCorrelate } from './correlate.ts'
import { registerAlerts } from './alerts.ts'
import { registerProduce } from './produce.ts'
import { registerReplay } from './replay.ts'
import { registerRun } from './run.ts'
import { VERSION } from '../version.ts'


const buildProgram = (): Command => {
  const program = new Command()
    .name('egress-sentinel')
    .description('Outbound-traffic anomaly detection for IoT fleets: spam bursts, new destinations, fan-out, volume spikes.')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride()
  registerReplay(program)
  registerProduce(program)
  registerRun(program)
  registerCorrelate(program)
  registerAlerts(program)
  program
    .command('list-detectors')
    .description('list the registered detectors with their ids, versions and what they catch')
    .action(() => {
      for (const d of DETECTORS) {
        const off = d.enabledByDefault === false ? ' (off by default)' : ''
        process.stdout.write(`${d.id}\tv${d.version}\t${d.title}${off}: ${d.description}\n`)
      }
    })
  program
    .command('check-config')
    .description(
      "validate a configuration file as run does (webhook targets with their ${VAR}s expanded from this environment: https URLs, " +
        'whsec_ secrets, addresses) and print the effective configuration as JSON (webhook secrets and URL paths hidden, ${VAR}s as written); exit 2 naming the setting otherwise',
    )
    .argument('[file]', 'YAML or JSON configuration; the defaults when absent')
    .action((file: string | undefined) => {
      const config = loadConfig(file, DETECTORS)
      // run's own checks of the targets, on the values run would use.
      resolveWebhookTargets(config.webhooks.targets, process.env)
      const shown = { ...config, webhooks: { targets: config.webhooks.targets.map(redactWebhookTarget) } }
      process.stdout.write(JSON.stringify(shown, null, 2) + '\n')
    })
  return program
}

/** Runs the CLI; returns the process exit code (0 ok, 1 runtime failure, 2 usage or config). */
export const main = async (argv: readonly string[]): Promise<number> => {
  const program = buildProgram()
  try {
    await program.parseAsync(argv as string[])
    return 0
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; commander already printed usage errors.
      return err.exitCode === 0 ? 0 : 2
    }
    process.stderr.write(`egress-sentinel: ${isAppError(err) ? err.message : (err as Error).stack ?? String(err)}\n`)
    return exitCodeOf(err)
  }
}
