import { describe, expect, it } from 'vitest'
import { volumeSpike } from '../../../detectors/volume-spike.ts'
import type { EgressEvent } from '../../../src/types.ts'
import { at, egress } from '../../helpers/events.ts'
import { detectorFindings, minutesOf } from '../../helpers/run.ts'

const MB = 1_000_000

/** One flow of `bytes` a minute over minutes [from, to). */
const steady = (deviceId: string, from: number, to: number, bytes: number, model = 'test-model'): EgressEvent[] =>
  range(from, to).map((m) => egress({ deviceId, model, ts: at(m), bytesOut: bytes }))

const upload = (minute: number, bytes: number, deviceId = 'dev-1'): EgressEvent =>
  egress({ deviceId, ts: at(minute), dstIp: '185.220.101.4', bytesOut: bytes })

describe('volume-spike', () => {
  it('reports an upload far above the device\'s own baseline in the window it happens', () => {
    // 0.1 MB a minute for two hours, then 60 MB in minute 125.
    const found = detectorFindings(volumeSpike, [...steady('dev-1', 0, 126, 0.1 * MB), upload(125.5, 60 * MB)])
    expect(minutesOf(found)).toEqual([125])
    expect(found[0]!.finding).toMatchObject({
      severity: 'high', // 61 MB is more than 10 x the 6 MB threshold
      score: 1,
      evidence: expect.objectContaining({
        bytesOut: 61 * MB,
        baselineBytes: 1 * MB, // ten minutes of 0.1 MB
        madBytes: 0,
        thresholdBytes: 6 * MB, // ratio 6 x the baseline, above the 5 MB floor
        baselineSource: 'device',
        horizonMinutes: 10,
      }),
      destinations: [],
    })
  })

  it('does not judge a device without history while its model has no measured level (a fleet\'s first minutes)', () => {
    expect(detectorFindings(volumeSpike, [upload(3, 50 * MB, 'first'), upload(3, 12 * MB, 'second')])).toEqual([])
  })

  it('judges a device without history by its model prior and the 5 MB floor, high from ten times the threshold', () => {
    const found = detectorFindings(volumeSpike, [
      upload(3, 12 * MB, 'twelve'),
      upload(3, 4.9 * MB, 'under'),
      upload(3, 49.9 * MB, 'almost'),
      upload(3, 50 * MB, 'fifty'),
    ], { minModelBuckets: 0 })
    expect(found.map((f) => [f.deviceId, f.minute, f.finding.severity]))
      .toEqual([['twelve', 3, 'medium'], ['almost', 3, 'medium'], ['fifty', 3, 'high']])
    expect(found[0]!.finding).toEqual({
      severity: 'medium',
      score: expect.closeTo(0.5 + Math.log2(12 / 5) / 6, 9),
      summary: 'sent 12.0 MB in 10 min, baseline 0.00 MB (threshold 5.0 MB)',
      evidence: {
        bytesOut: 12 * MB,
        baselineBytes: 0,
        madBytes: 0,
        thresholdBytes: 5 * MB,
        baselineSource: 'model',
        horizonMinutes: 10,
        indicator: 'bytes-out',
      },
      destinations: [],
    })
  })

  it('stops reporting a steady heavy uploader once its first bucket is measured', () => {
    expect(detectorFindings(volumeSpike, steady('cam-1', 0, 180, 2 * MB))).toEqual([]) // its model is unmeasured
    // With the cold-model floor on, 2 MB a minute crosses 5 MB from minute 2. The bucket closed at minute 9
    // is clipped at that threshold and becomes its model's level in the fleet view two epochs on (it is
    // learned in epoch 0, read from epoch 2), so from minute 20 the bar is 6 x 5 MB.
    const found = detectorFindings(volumeSpike, steady('cam-1', 0, 180, 2 * MB), { minModelBuckets: 0 })
    expect(minutesOf(found, 'cam-1')).toEqual(range(2, 20))
    expect(found.at(-1)!.finding.evidence.baselineSource).toBe('model')
  })

  it('takes its model\'s high level as a floor for a new device, so a model-wide backup is not an incident', () => {
    const cams = range(0, 20).flatMap((i) => steady(`cam-${i}`, 0, 180, 1 * MB, 'cam'))
    const found = detectorFindings(volumeSpike, [
      ...cams,
      ...steady('cam-new', 120, 180, 0.7 * MB, 'cam'),
      ...steady('bell-1', 120, 180, 0.7 * MB, 'doorbell'),
    ], { minModelBuckets: 0 })
    expect(minutesOf(found, 'cam-new')).toEqual([])
    // The doorbell's model has no history: 8 x 0.7 MB crosses the 5 MB floor at minute 127.
    expect(minutesOf(found, 'bell-1')[0]).toBe(127)
  })

  it('keeps its baseline through a spike: the next spike meets the same threshold', () => {
    const found = detectorFindings(volumeSpike, [
      ...steady('dev-1', 0, 200, 0.3 * MB),
      upload(125.5, 60 * MB),
      upload(185.5, 25 * MB),
    ])
    const first = found.find((f) => f.minute >= 125)!
    const second = found.find((f) => f.minute >= 180)!
    expect([found[0]!.minute, first.minute, second.minute]).toEqual([125, 125, 185])
    expect(second.finding.evidence.baselineSource).toBe('device')
    expect(second.finding.evidence.baselineBytes).toBe(first.finding.evidence.baselineBytes)
    expect(second.finding.evidence.thresholdBytes).toBe(first.finding.evidence.thresholdBytes)
  })

  it('honours minBytes, ratio and minHistory overrides', () => {
    expect(detectorFindings(volumeSpike, [upload(3, 12 * MB)], { minModelBuckets: 0 })).not.toEqual([])
    expect(detectorFindings(volumeSpike, [upload(3, 12 * MB)], { minModelBuckets: 0, minBytes: 20 * MB })).toEqual([])

    const spike = [...steady('dev-1', 0, 126, 0.1 * MB), upload(125.5, 60 * MB)]
    expect(detectorFindings(volumeSpike, spike, { ratio: 100 })).toEqual([])

    // One bucket of (winsorised) history is enough to accept the heavy uploader from minute 10.
    expect(minutesOf(detectorFindings(volumeSpike, steady('dev-1', 0, 60, 2 * MB), { minHistory: 1, minModelBuckets: 0 }))).toEqual(range(2, 10))
  })

  // Regression: the bucket ring has room for the lookahead, so a flow ten windows later does not overwrite
  // the window being evaluated (and a flow every minute is summed over all ten windows, not eight).
  it('reports an upload from a device whose flows are ten minutes apart', () => {
    const events = [...range(0, 21).map((i) => egress({ ts: at(i * 10), bytesOut: 0.1 * MB })), upload(130.5, 60 * MB)]
    expect(minutesOf(detectorFindings(volumeSpike, events))[0]).toBe(130)
  })
})

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i)
}
