// `run`: the Kafka service, until SIGTERM or SIGINT (graceful: finish the batch, commit, flush, exit 0).
import type { Command } from 'commander'
import { DETECTORS } from '../../detectors/index.ts'
import { loadConfig } from '../config/load.ts'
import { serviceSettings } from '../config/service.ts'
import { startHealthServer } from '../http/server.ts'
import { startService } from '../service.ts'
import type { Service } from '../service.ts'
import { AppError, isAppError } from '../errors.ts'
import { logger, setLogger, stderrLogger } from '../log.ts'

/** Connection attempts at start back off up to this. */
const MAX_CONNECT_DELAY_MS = 30_000

/** A graceful stop must be done within this (orchestrators kill after 30 s). */
const STOP_BUDGET_MS = 25_000

/** A stop that outlasts its budget (a broker that never answers a commit) ends the process at once, exit 1. */
const stopDeadline = (): void => {
  setTimeout(() => {
    logger().error(`not stopped after ${STOP_BUDGET_MS / 1000} s, exiting now`)
    process.exit(1)
  }, STOP_BUDGET_MS).unref()
}

/**
 * Everything is committed and closed once the stop summary is out, and the process should end by
 * itself. kafkajs may keep a socket after `disconnect()` when a request was in flight (a shard fenced
 * as it stopped: tulios/kafkajs#1438), which would hold the process until the stop budget ends it
 * with exit 1. So what still holds it after a grace is named, and the process ends with exit 0.
 */
const LINGER_GRACE_MS = 2_000
const exitWhenLingering = (): void => {
  setTimeout(() => {
    const held = process.getActiveResourcesInfo().filter((r) => r !== 'Timeout')
    logger().warn(`stopped, but ${held.length > 0 ? held.join(', ') : 'something'} still held the process (a Kafka client's socket, tulios/kafkajs#1438); exiting`)
    process.exit(0)
  }, LINGER_GRACE_MS).unref()
}

/**
 * The HTTP endpoints' server, or a usage error (exit 2) naming the setting when its address cannot
 * be taken: a port in use, a privileged port, a host address this machine does not have.
 */
const listening = async <T>(host: string, port: number, start: () => Promise<T>): Promise<T> => {
  try {
    return await start()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const at = `${host}:${port}`
    if (code === 'EADDRINUSE') throw new AppError('EGD_USAGE', `EGRESS_HTTP_PORT: ${at} is already in use (another process listens there; choose a free port, or 0 for any)`, { cause: err })
    if (code === 'EACCES') throw new AppError('EGD_USAGE', `EGRESS_HTTP_PORT: ${at} needs privileges this process does not have (use a port from 1024 up)`, { cause: err })
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new AppError('EGD_USAGE', `EGRESS_HTTP_HOST: ${host} is not an address of this machine (${code})`, { cause: err })
    throw err
  }
}

interface RunFlags {
  config?: string
  brokers?: string
}

export const registerRun = (program: Command): void => {
  program
    .command('run')
    .description(
      'consume egress events and telemetry from Kafka, detect, and produce alerts and dead letters, exactly once: ' +
        "each batch's alerts, dead letters, device state (to the compacted state topic) and input offsets commit in one transaction, " +
        'and a restart or rebalance restores the state. One shard per partition number reads partition p of the events and the telemetry topic; ' +
        'every shard and member shares one fleet view through the models topic, so the alerts are those of replay --partitions <n>. ' +
        "Alert records also go to the configuration's webhooks.targets, each following the alerts topic in group <group>.webhook.<name>. " +
        'Environment: KAFKA_BROKERS, EGRESS_TOPIC_EVENTS, EGRESS_TOPIC_TELEMETRY, EGRESS_TOPIC_ALERTS, EGRESS_TOPIC_DLQ, ' +
        'EGRESS_TOPIC_STATE, EGRESS_TOPIC_MODELS (the fleet view, compacted, one partition), EGRESS_GROUP_ID, EGRESS_SESSION_TIMEOUT_SECONDS, EGRESS_HTTP_HOST, EGRESS_HTTP_PORT (/livez, /readyz, /healthz, /metrics), ' +
        'EGRESS_METRICS_TOKEN or EGRESS_METRICS_TOKEN_FILE (bearer token for /metrics), EGRESS_METRICS_TOP_DEVICES (series of egress_top_device_score, default 20, 0: none), ' +
        'EGRESS_COMMIT_INTERVAL_MS (a shard commits this often, default 500, and at once when caught up holding alerts or dead letters), EGRESS_STALL_TIMEOUT_SECONDS (not ready after this long without a fetch, rebalancing, or waiting for a fleet view that does not move; default 30), ' +
        'EGRESS_INPUT_FORMAT (the events topic\'s format: auto, canonical, pmacct, goflow2, zeek, nfdump; each record decoded on its own; telemetry is read as auto); ' +
        'EGRESS_LOG_LEVEL (the stderr lines shown: error, warn, info (default), debug; the Kafka client\'s own are warnings at most, its detail debug); KAFKA_TLS, KAFKA_TLS_CA_FILE; KAFKA_SASL_MECHANISM ' +
        '(plain, scram-sha-256, scram-sha-512), KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE',
    )
    .option('-c, --config <file>', 'detection configuration file (YAML or JSON); defaults apply without it')
    .option('-b, --brokers <list>', 'host:port[,host:port…] (default: $KAFKA_BROKERS)')
    .action(async (flags: RunFlags) => {
      const log = stderrLogger('egress-sentinel run')
      setLogger(log)
      const config = loadConfig(flags.config, DETECTORS)
      const settings = serviceSettings(flags, process.env, config.webhooks.targets)
      // Signals are heard from the start: one during start-up stops the service as soon as it is up.
      // A second one, or a stop that outlasts its budget, ends the process at once (exit 1).
      const stopRequested = new Promise<void>((resolve) => {
        let signalled = false
        const onSignal = (signal: string): void => {
          if (signalled) {
            log.warn(`${signal} again, exiting now`)
            process.exit(1)
          }
          signalled = true
          log.info(`${signal}, stopping`)
          stopDeadline()
          resolve()
        }
        process.on('SIGTERM', () => onSignal('SIGTERM'))
        process.on('SIGINT', () => onSignal('SIGINT'))
      })
      // /livez answers from the start; /readyz is 503 (and /metrics 503) until the service is up.
      let service: Service | null = null
      const http = await listening(settings.http.host, settings.http.port, () =>
        startHealthServer(settings.http.host, settings.http.port, {
          ready: () => service?.ready() ?? false,
          detail: () => service?.detail() ?? 'starting',
          metrics: async () => {
            if (service === null) throw new Error('not started')
            return { contentType: service.metrics.registry.contentType, body: await service.metrics.registry.metrics() }
          },
          metricsToken: settings.http.metricsToken,
        }),
      )
      log.info(`http on ${http.address} (connecting to ${settings.brokers.join(',')})`)
      let stopped = false
      void stopRequested.then(() => (stopped = true))
      // Brokers that do not answer at start are tried again, 1 s, 2 s, 4 s … 30 s apart, until they
      // answer or a signal comes; anything else they say (a missing topic, refused credentials) ends run.
      for (let attempt = 1; service === null; attempt++) {
        try {
          service = await startService(config, settings, DETECTORS)
        } catch (err) {
          if (stopped) {
            await http.close()
            log.info(`stopped before the service started (${(err as Error).message})`)
            exitWhenLingering()
            return
          }
          if (!isAppError(err, 'EGD_KAFKA_UNREACHABLE')) {
            await http.close()
            throw err
          }
          const delay = Math.min(MAX_CONNECT_DELAY_MS, 1000 * 2 ** (attempt - 1))
          log.warn(`${err.message}; trying again in ${delay / 1000} s (attempt ${attempt})`)
          await Promise.race([new Promise((resolve) => setTimeout(resolve, delay)), stopRequested])
          if (stopped) {
            await http.close()
            log.info('stopped before the brokers answered')
            exitWhenLingering()
            return
          }
        }
      }
      log.info(
        `group ${settings.groupId}, reading ${settings.topics.events} and ${settings.topics.telemetry}, ` +
          `alerts to ${settings.topics.alerts}, dead letters to ${settings.topics.dlq}, state in ${settings.topics.state}` +
          `${settings.webhooks.length > 0 ? `, webhooks to ${settings.webhooks.map((w) => `${w.name} (${w.format})`).join(', ')}` : ''}; http on ${http.address}`,
      )
      // A consumer that keeps failing ends the process (exit 1) for an orchestrator to restart.
      const failure = await Promise.race([stopRequested.then(() => null), service.failed])
      if (failure !== null) {
        log.error(`${failure.message}; stopping`)
        stopDeadline()
      }
      try {
        await service.stop()
      } finally {
        await http.close()
      }
      if (failure !== null) throw failure
      const c = service.counters
      const webhookDead = c.webhookDeadLetters > 0 ? `, ${c.webhookDeadLetters} of them undeliverable webhook records` : ''
      log.info(`stopped after ${c.records} records, ${c.events} events, ${c.alerts} alerts, ${c.deadLetters + c.webhookDeadLetters} dead letters${webhookDead} (${c.restoredDevices} devices restored)`)
      exitWhenLingering()
    })
}
