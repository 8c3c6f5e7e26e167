// Checks that kafkajs' read_committed readers drop every record of an aborted transaction (the patch in patches/ is applied).
import { createRequire } from 'node:module'
import { AppError } from '../errors.ts'

type Filter = (batch: { messages: unknown[]; abortedTransactions: { producerId: string; firstOffset: string }[] }) => unknown[]

const record = (offset: number, producerId: string, abortMarker = false) => ({
  offset: String(offset),
  key: abortMarker ? Buffer.from([0, 0, 0, 0]) : null,
  batchContext: { producerId, inTransaction: true },
})

let checked = false

/**
 * kafkajs 2.2.4 (its last release) takes a fetch's aborted transactions as sorted by first offset;
 * the broker lists them in the order they ended, so a transaction aborted late (a shard fenced by its
 * new owner) but begun before another reached the reader: a restored state, a fleet contribution or
 * an alert that never happened. `npm install` applies patches/kafkajs+2.2.4.patch; a copy of kafkajs
 * without it is refused here, before anything reads a topic.
 */
export const requireAbortedFilter = (): void => {
  if (checked) return
  const require = createRequire(import.meta.url)
  const path = require.resolve('kafkajs/src/consumer/filterAbortedMessages.js')
  const filter = require(path) as Filter
  // Producer 2's transaction began first and ended last: the broker lists it second.
  const kept = filter({
    messages: [record(0, '2'), record(1, '1'), record(2, '1', true), record(3, '2', true)],
    abortedTransactions: [{ producerId: '1', firstOffset: '1' }, { producerId: '2', firstOffset: '0' }],
  }).filter((m) => (m as { key: Buffer | null }).key === null)
  if (kept.length > 0) {
    throw new AppError('EGD_KAFKA', `kafkajs at ${path} hands over records of aborted transactions: its patch (patches/kafkajs+2.2.4.patch) is not applied; run npm install, which applies it`)
  }
  checked = true
}
