// Names from DNS: a device's answers name the addresses it then talks to, for their TTL and a grace while in use.
import { describe, expect, it } from 'vitest'
import { newDestination } from '../../../detectors/new-destination.ts'
import { Destinations } from '../../../src/engine/destinations.ts'
import { MAX_NAMES, nameOf, recordAnswer } from '../../../src/engine/names.ts'
import { OwnerTable } from '../../../src/engine/owners.ts'
import type { DnsEvent } from '../../../src/types.ts'
import { MIN, at, egress } from '../../helpers/events.ts'
import { detectorFindings } from '../../helpers/run.ts'

const answer = (minute: number, query: string, answers: string[], ttlSeconds = 60): DnsEvent => ({
  type: 'dns', ts: at(minute), deviceId: 'dev-1', srcIp: undefined, query, answers, ttlSeconds, model: 'test-model', firmware: undefined, label: undefined,
})

describe('a device\'s names', () => {
  const GRACE = 10 * MIN

  it('name an address from its answer until its TTL and the grace have passed, longer while flows use it', () => {
    const names = recordAnswer(null, answer(0, 'api.vendor.example', ['203.0.113.7', '203.0.113.8']), GRACE)!
    expect(nameOf(names, '203.0.113.8', at(5), GRACE)).toBe('api.vendor.example')
    expect(nameOf(names, '203.0.113.9', at(5), GRACE)).toBeUndefined()
    // In use at 5 min: named until 15; unused, 203.0.113.7 lapses at 11 (1 min TTL + 10).
    expect(nameOf(names, '203.0.113.7', at(11.5), GRACE)).toBeUndefined()
    expect(nameOf(names, '203.0.113.8', at(14), GRACE)).toBe('api.vendor.example') // now until 24
    expect(nameOf(names, '203.0.113.8', at(23), GRACE)).toBe('api.vendor.example') // now until 33
    expect(nameOf(names, '203.0.113.8', at(34), GRACE)).toBeUndefined()
  })

  it('hold MAX_NAMES addresses at most, the one expiring first making room', () => {
    let names = null
    for (let i = 0; i < MAX_NAMES + 10; i++) names = recordAnswer(names, answer(i, `h${i}.example`, [`198.51.100.${i}`]), GRACE)
    expect(names!.addresses).toHaveLength(MAX_NAMES)
    expect(nameOf(names!, '198.51.100.0', at(MAX_NAMES + 10), GRACE)).toBeUndefined()
    expect(nameOf(names!, `198.51.100.${MAX_NAMES + 9}`, at(MAX_NAMES + 10), GRACE)).toBe(`h${MAX_NAMES + 9}.example`)
  })
})

describe('new-destination with names from DNS', () => {
  // A lock whose cloud endpoint answers from another provider's addresses from minute 130 on: the name stays.
  const owners = new Destinations(OwnerTable.of('52.88.0.0,52.89.255.255,16509,"Amazon.com, Inc."\n185.220.100.0,185.220.103.255,64512,Elsewhere Hosting'))
  const lock = (withDns: boolean) => Array.from({ length: 260 }, (_, m) => {
    const ip = m < 130 ? '52.89.250.177' : '185.220.101.4'
    const flow = egress({ ts: at(m + 0.5), dstIp: ip })
    return withDns && m % 10 === 0 ? [answer(m + 0.4, 'a1b2c3-ats.iot.us-east-1.amazonaws.com', [ip]), flow] : [flow]
  }).flat()

  it('knows the endpoint by the name the device resolved, wherever it answers from', () => {
    expect(detectorFindings(newDestination, lock(true), {}, { destinations: owners, nameGraceMs: 10 * MIN })).toEqual([])
  })

  it('without the answers, takes the move to another owner as a new destination', () => {
    const found = detectorFindings(newDestination, lock(false), {}, { destinations: owners, nameGraceMs: 10 * MIN })
    expect(found.length).toBeGreaterThan(0)
    expect(found[0]!.finding.destinations).toEqual(['AS64512'])
  })
})
