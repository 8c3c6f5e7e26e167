// Copies real collector output (pmacct, softflowd → goflow2, nfdump, Zeek conn.logs made from public
// packet captures; see fixtures/collectors/README.md) into fixtures/collectors/, byte for byte, so
// that tests read what the tools wrote. Run after `npm run build`:
//   node dist/scripts/import-collectors.js [collectorsDir]
// collectorsDir defaults to ../shared/data/collectors relative to the repository root. Files are
// copied, never rewritten: a decoder is tested on exactly what the collector emitted.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** What is copied: folder of the collectors' data → the files of it (all of them when null). */
export const COPIED: Readonly<Record<string, readonly string[] | null>> = {
  // Every decoding gap seen, one line each.
  repro: null,
  // Real Zeek conn.logs: inbound connections (local_orig F), records written when connections end.
  'zeek-public': null,
  config: ['inventory.yaml'],
  // One pmacctd run over test7 written three ways: epoch seconds, UTC wall time, and the wall time of Europe/Prague; and its 1-minute history bins.
  // And a week of a benign Schlage lock and a benign Blink camera (pmacctd's 1-minute history bins).
  pmacct: [
    'test7-print-json-stitching-epoch.json', 'test7-print-json-stitching.json', 'test7-print-json-stitching-TZprague.json', 'test7-print-json-history.json',
    'tjoconnor-schlage-lock-01-print-json-history.json', 'tjoconnor-blink-cam-01-print-json-history.json',
  ],
  // One softflowd IPFIX export of test7 (-v 10 -a -A milli), collected by goflow2 and by nfcapd (nfdump -o json, one record a line, -o csv); and its biflow export (-b).
  goflow2: [
    'test7-softflowd-ipfix-a-milli.json', 'test7-softflowd-ipfix-a-milli-biflow.json',
    'tjoconnor-schlage-lock-01-softflowd-ipfix-a-milli.json', 'tjoconnor-blink-cam-01-softflowd-ipfix-a-milli.json',
  ],
  nfdump: ['test7-softflowd-ipfix-a-milli.ndjson', 'test7-softflowd-ipfix-a-milli.json', 'test7-softflowd-ipfix-a-milli.csv'],
  // A 170 s upload on the loopback, live, through pmacctd (stitching, history bins) and pmacctd's IPFIX exporter → goflow2; and what happened when.
  live: ['live2-lo-pmacctd-print-stitching.json', 'live2-lo-pmacctd-print-history.json', 'live2-traffic-timeline.txt', 'live3-lo-pmacctd-nfprobe-ipfix-goflow2.json', 'live3-traffic-timeline.txt'],
}

export const importCollectors = (from: string, to: string): string[] => {
  const copied: string[] = []
  for (const [folder, files] of Object.entries(COPIED)) {
    mkdirSync(path.join(to, folder), { recursive: true })
    for (const name of files ?? readdirSync(path.join(from, folder)).sort()) {
      copyFileSync(path.join(from, folder, name), path.join(to, folder, name))
      copied.push(`${folder}/${name}`)
    }
  }
  return copied
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const root = fileURLToPath(new URL('../../', import.meta.url))
  const from = process.argv[2] ?? path.join(root, '../shared/data/collectors')
  for (const f of importCollectors(from, path.join(root, 'fixtures/collectors'))) process.stdout.write(`fixtures/collectors/${f}\n`)
}
