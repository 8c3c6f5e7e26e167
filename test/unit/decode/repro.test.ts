// The lines of fixtures/collectors/repro/ (one per decoding gap seen in real collector output) decode as the tool meant them.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createLineDecoder } from '../../../src/decode/formats.ts'

const REPRO = fileURLToPath(new URL('../../../fixtures/collectors/repro/', import.meta.url))

/** Each line of a repro file through the auto decoder: the event's protocol and addresses, or the outcome. */
const decoded = (file: string) => {
  const decoder = createLineDecoder('auto')
  return readFileSync(`${REPRO}${file}`, 'utf8').trimEnd().split('\n').map((line) => {
    const r = decoder.decode(line)
    return r.ok === true && r.event.type === 'egress' ? { proto: r.event.proto, srcIp: r.event.srcIp, dstIp: r.event.dstIp, bytesOut: r.event.bytesOut } : r
  })
}

describe('real collector lines', () => {
  it('01: goflow2 2.2 writes ICMPv6 as IANA\'s keyword IPv6-ICMP: protocol 58', () => {
    expect(decoded('01-goflow2-proto-ipv6-icmp.json')).toEqual([{ proto: 58, srcIp: 'fe80::d2:4591:568e:c3d1', dstIp: 'ff02::16', bytesOut: 424 }])
  })

  it('02: goflow2 writes IGMP by its keyword: protocol 2', () => {
    expect(decoded('02-goflow2-proto-igmp.json')).toEqual([{ proto: 2, srcIp: '192.168.2.16', dstIp: '224.0.0.251', bytesOut: 32 }])
  })

  it('10: Zeek\'s unknown_transport is protocol 255', () => {
    expect(decoded('10-zeek-unknown-transport.CONSTRUCTED.json')).toEqual([{ proto: 255, srcIp: '192.168.1.5', dstIp: '203.0.113.9', bytesOut: 120 }])
  })
})
