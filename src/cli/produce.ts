// `produce`: writes fixture files into a Kafka topic, keyed by deviceId, as fast as possible or at --speed.
import type { Command } from 'commander'
import { AppError } from '../errors.ts'
import { createKafka, createProducer, explainConnect, kafkaSecurity, parseBrokers, requireTopics } from '../kafka/client.ts'
import { produceFiles } from '../kafka/produce.ts'
import { DEFAULT_MAX_LINE_BYTES } from '../sources/file.ts'
import { parseFormat } from './shared.ts'

interface ProduceFlags {
  topic: string
  brokers?: string
  speed: string
  format: string
  maxLineBytes: string
  quiet?: boolean
}

const parseSpeed = (text: string): number => {
  const speed = Number(text)
  if (!Number.isFinite(speed) || speed < 0) throw new AppError('EGD_USAGE', `--speed: expected a number >= 0 (0: as fast as possible), got "${text}"`)
  return speed
}

const parseMaxLineBytes = (text: string): number => {
  const n = Number(text)
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(n) || n < 1) throw new AppError('EGD_USAGE', `--max-line-bytes: expected a whole number of bytes >= 1, got "${text}"`)
  return n
}

export const registerProduce = (program: Command): void => {
  program
    .command('produce')
    .description('write fixture files into a Kafka topic, one record per line, keyed by deviceId (undecodable lines keep a null key)')
    .argument('<inputs...>', 'NDJSON / Zeek / gzipped files or directories')
    .requiredOption('-t, --topic <topic>', 'topic to write to (it must exist)')
    .option('-b, --brokers <list>', 'host:port[,host:port…] (default: $KAFKA_BROKERS)')
    .option('-s, --speed <x>', 'event time runs x times faster than the wall clock; 0 = as fast as possible', '0')
    .option('-f, --format <format>', 'input format, to read each record\'s deviceId: auto, canonical, pmacct, goflow2, zeek, nfdump', 'auto')
    .option('--max-line-bytes <n>', 'a longer line (bytes, without its line end) is not sent, only counted as oversize', String(DEFAULT_MAX_LINE_BYTES))
    .option('-q, --quiet', 'no summary on stderr')
    .addHelpText('after', '\nEnvironment: KAFKA_BROKERS; KAFKA_TLS, KAFKA_TLS_CA_FILE; KAFKA_SASL_MECHANISM (plain, scram-sha-256, scram-sha-512), KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE')
    .action(async (inputs: string[], flags: ProduceFlags) => {
      const speed = parseSpeed(flags.speed)
      const format = parseFormat(flags.format)
      const maxLineBytes = parseMaxLineBytes(flags.maxLineBytes)
      const settings = { brokers: parseBrokers(flags.brokers), clientId: 'egress-sentinel-produce', security: kafkaSecurity() }
      const kafka = createKafka(settings)
      await explainConnect(settings, () => requireTopics(kafka, [flags.topic]))
      const producer = createProducer(kafka)
      await explainConnect(settings, () => producer.connect())
      const started = performance.now()
      try {
        const s = await produceFiles({ producer, topic: flags.topic, inputs, format, speed, maxLineBytes })
        if (!flags.quiet) {
          const seconds = (performance.now() - started) / 1000
          process.stderr.write(
            `produced ${s.records} records to ${flags.topic} in ${s.batches} batches, ${seconds.toFixed(2)} s ` +
              `(${Math.round(s.records / Math.max(seconds, 1e-3))} records/s); ${s.oversize} oversize (over ${maxLineBytes} bytes), not sent; ${s.undecodable} undecodable, sent with a null key\n`,
          )
        }
      } finally {
        await producer.disconnect()
      }
    })
}
