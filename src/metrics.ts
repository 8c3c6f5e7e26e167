// The service's Prometheus metrics: names, labels and help are a contract (the dashboards in grafana/ and the rules in prometheus/ query them).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** What gauges read at scrape time. */
export interface MetricsSource {
  devicesTracked(): number
  /** Calls `visit` once per alert firing now. */
  forEachOpenAlert(visit: (alert: OpenAlertView) => void): void
  /** Calls `visit` once per webhook target with the records it holds. */
  forEachWebhookTarget(visit: (target: string, depth: number) => void): void
  /** Detection shards (partition numbers: partition p of every input) this member owns, restored. */
  shards(): number
  ready(): boolean
  /** What the fleet views of this member's shards refused at their caps (fleet.maxModels, keys per model). */
  fleetRefused(): { readonly models: number; readonly keys: number }
  /** Shards of this member whose partitions are paused until the fleet view has what their next event needs. */
  fleetWaiting(): number
  /** Event time (ms) up to which every shard of the fleet has published, as this member's view holds it; -Infinity before any. */
  fleetCompleteMs(): number
}

export interface OpenAlertView {
  readonly deviceId: string
  readonly detector: string
  readonly kind: string
  readonly severity: string
  readonly score: number
}

export type ServiceMetrics = ReturnType<typeof createMetrics>

/** Result label of webhook deliveries: one per attempt (success, retry, failed), and dead_letter per record given up. */
export const WEBHOOK_RESULTS = ['success', 'retry', 'failed', 'dead_letter'] as const

/** The `k` highest-scoring devices among the alerts firing, each once with its highest score. */
export const topDevices = (source: Pick<MetricsSource, 'forEachOpenAlert'>, k: number): OpenAlertView[] => {
  const best = new Map<string, OpenAlertView>()
  source.forEachOpenAlert((a) => {
    const seen = best.get(a.deviceId)
    if (seen === undefined || a.score > seen.score || (a.score === seen.score && a.detector < seen.detector)) best.set(a.deviceId, a)
  })
  return [...best.values()]
    .sort((x, y) => y.score - x.score || (x.deviceId < y.deviceId ? -1 : x.deviceId > y.deviceId ? 1 : 0))
    .slice(0, k)
}

/**
 * Builds the registry. Labels never hold a device id or an address: their values are topics,
 * partitions, detectors, severities, reasons, results and webhook target names, all bounded. The
 * one exception is `egress_top_device_score`, at most `topK` series (0 turns it off).
 */
export const createMetrics = (source: MetricsSource, version: string, topK = 20) => {
  const registers = [new Registry()]
  const registry = registers[0]!
  collectDefaultMetrics({ register: registry })

  new Gauge({
    name: 'egress_build_info',
    help: 'Always 1; the labels say which build runs.',
    labelNames: ['version', 'node'],
    registers,
  }).set({ version, node: process.version }, 1)

  const events = new Counter({
    name: 'egress_events_total',
    help: 'Input records by source topic and result: accepted (taken by the engine), late (behind the watermark, dropped), rejected (sent to the dead-letter topic: undecodable, too large, outside the clock bounds), skipped (no event in it: blank, a header, a marker).',
    labelNames: ['source', 'result'],
    registers,
  })
  const dlq = new Counter({
    name: 'egress_dlq_total',
    help: 'Records sent to the dead-letter topic, by reason.',
    labelNames: ['reason'],
    registers,
  })
  const skipped = new Counter({
    name: 'egress_records_skipped_total',
    help: 'Input records (or lines of one) that carry no event for the engine, by reason: blank, header (a Zeek # line), marker (a collector\'s start/end record), outside (a flow whose source is not one of the fleet\'s devices: devices.networks, or Zeek\'s local_orig F), continuation (a line of a pretty-printed record, replay only).',
    labelNames: ['reason'],
    registers,
  })
  const evicted = new Counter({
    name: 'egress_devices_evicted_total',
    help: 'Devices forgotten with their state, counted as their shard commits, by reason: ttl (silent too long), capacity_new (over engine.maxDevices, still on probation), capacity_learned (over the cap, with learned state: the cap is too small for the fleet).',
    labelNames: ['reason'],
    registers,
  })
  for (const reason of ['ttl', 'capacity_new', 'capacity_learned']) evicted.inc({ reason }, 0)
  const consumerCrashes = new Counter({
    name: 'egress_consumer_crashes_total',
    help: 'Times the input consumer failed, by whether kafkajs restarts it itself (restart="true") or the service replaces it (restart="false").',
    labelNames: ['restart'],
    registers,
  })
  const alerts = new Counter({
    name: 'egress_alerts_total',
    help: 'Alert records committed to the alerts topic, by detector, severity, status (firing; escalated: a later firing record of a higher severity; resolved) and kind (alert or notice).',
    labelNames: ['detector', 'severity', 'status', 'kind'],
    registers,
  })
  new Gauge({
    name: 'egress_alerts_firing',
    help: 'Alerts firing now on the shards this member owns, by detector, severity (the latest) and kind (alert or notice).',
    labelNames: ['detector', 'severity', 'kind'],
    registers,
    collect() {
      const counts = new Map<string, number>()
      source.forEachOpenAlert(({ detector, severity, kind }) => {
        // Alerts restored from checkpoints made before kinds are alerts.
        const key = `${detector}\u0000${severity}\u0000${(kind as string | undefined) ?? 'alert'}`
        counts.set(key, (counts.get(key) ?? 0) + 1)
      })
      this.reset()
      for (const [key, n] of counts) {
        const [detector, severity, kind] = key.split('\u0000') as [string, string, string]
        this.set({ detector, severity, kind }, n)
      }
    },
  })
  new Gauge({
    name: 'egress_devices_tracked',
    help: 'Devices with state in memory on this member.',
    registers,
    collect() {
      this.set(source.devicesTracked())
    },
  })
  new Gauge({
    name: 'egress_shards',
    help: 'Detection shards (partition numbers: partition p of every input topic) this member owns and has restored.',
    registers,
    collect() {
      this.set(source.shards())
    },
  })
  new Gauge({
    name: 'egress_fleet_refused',
    help: 'What the fleet views of this member\'s shards refused at their caps: an epoch\'s contribution of a model past fleet.maxModels (one per model and epoch), a key past a detector\'s cap per model. Their devices are judged without that fleet knowledge. Grows only while a cap is reached.',
    labelNames: ['what'],
    registers,
    collect() {
      const r = source.fleetRefused()
      this.set({ what: 'models' }, r.models)
      this.set({ what: 'keys' }, r.keys)
    },
  })
  new Gauge({
    name: 'egress_fleet_waiting_shards',
    help: 'Shards of this member whose input partitions are paused until every shard has published the epochs their next event is judged with (another shard, here or on another member, is behind). Back-pressure, not a failure; lasting, it points at the slowest member (see egress_consumer_lag).',
    registers,
    collect() {
      this.set(source.fleetWaiting())
    },
  })
  new Gauge({
    name: 'egress_fleet_view_seconds',
    help: 'Event time (Unix seconds) up to which every shard of the fleet has published to the fleet view, as this member holds it. time() minus it is how old the fleet knowledge is: 20 to 30 minutes at the default 10-minute epochs when the fleet keeps up.',
    registers,
    collect() {
      const ms = source.fleetCompleteMs()
      if (Number.isFinite(ms)) this.set(ms / 1000)
    },
  })
  const modelsRecords = new Counter({
    name: 'egress_models_records_total',
    help: 'Records written to the models topic: contributions to the fleet view, shard progress, snapshots, tombstones.',
    registers,
  })
  new Gauge({
    name: 'egress_ready',
    help: '1 when the member is ready (group joined, shards restored, consuming: fetches coming, no lasting rebalance, no crash; not stopping), else 0.',
    registers,
    collect() {
      this.set(source.ready() ? 1 : 0)
    },
  })
  const eventLag = new Histogram({
    name: 'egress_event_lag_seconds',
    help: 'Processing time minus event time, per accepted event.',
    buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 21600, 86400, 604800],
    registers,
  })
  const consumerLag = new Gauge({
    name: 'egress_consumer_lag',
    help: 'Records between the group\'s committed offset and the end of each input partition this member owns: set after each commit and read from the broker every 15 s (so it grows while a member is stalled).',
    labelNames: ['topic', 'partition'],
    registers,
  })
  const batchSeconds = new Histogram({
    name: 'egress_batch_duration_seconds',
    help: 'Time to process one fetched batch: decode, detect and commit its transaction.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  })
  const batchRecords = new Histogram({
    name: 'egress_batch_records',
    help: 'Records per fetched batch.',
    buckets: [1, 10, 100, 1000, 5000, 10000, 25000, 50000],
    registers,
  })
  const transactions = new Counter({
    name: 'egress_transactions_total',
    help: 'Batch transactions (alerts, dead letters, state, offsets) by result: committed or aborted.',
    labelNames: ['result'],
    registers,
  })
  const stateRecords = new Counter({
    name: 'egress_state_records_total',
    help: 'Records written to the state changelog (devices, tombstones, shard records).',
    registers,
  })
  const restoredDevices = new Counter({
    name: 'egress_state_restored_devices_total',
    help: 'Devices restored from the state changelog on partition assignment.',
    registers,
  })
  const restoreSeconds = new Histogram({
    name: 'egress_state_restore_duration_seconds',
    help: 'Time to fence and restore the shards of one assignment.',
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers,
  })
  const rebalances = new Counter({
    name: 'egress_rebalances_total',
    help: 'Consumer group joins of this member (the first one included).',
    registers,
  })
  if (topK > 0) {
    new Gauge({
      name: 'egress_top_device_score',
      help: `Score of the ${topK} highest-scoring devices among the alerts firing on this member, each with the detector of its highest score. The only metric with a device label: its series are bounded by ${topK}.`,
      labelNames: ['device_id', 'detector'],
      registers,
      collect() {
        this.reset()
        for (const a of topDevices(source, topK)) this.set({ device_id: a.deviceId, detector: a.detector }, a.score)
      },
    })
  }
  const webhookDeliveries = new Counter({
    name: 'egress_webhook_deliveries_total',
    help: 'Webhook attempts by target and result (success: 2xx; retry: failed, another follows; failed: failed, none follows), and dead_letter for each alert record sent to the dead-letter topic instead.',
    labelNames: ['target', 'result'],
    registers,
  })
  new Gauge({
    name: 'egress_webhook_queue_depth',
    help: 'Alert records a webhook target holds: queued, in flight, waiting to retry.',
    labelNames: ['target'],
    registers,
    collect() {
      source.forEachWebhookTarget((target, depth) => this.set({ target }, depth))
    },
  })
  const webhookSeconds = new Histogram({
    name: 'egress_webhook_duration_seconds',
    help: 'Time of one webhook attempt, request to answer (or failure), by target.',
    labelNames: ['target'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  })
  return {
    registry,
    webhookDeliveries,
    webhookSeconds,
    events,
    skipped,
    evicted,
    consumerCrashes,
    dlq,
    alerts,
    eventLag,
    consumerLag,
    batchSeconds,
    batchRecords,
    transactions,
    stateRecords,
    modelsRecords,
    restoredDevices,
    restoreSeconds,
    rebalances,
  }
}
