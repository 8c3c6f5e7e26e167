// What infected devices do: droppers, command and control, spam, scanning and uploads, modelled on real IoT malware families.
import { MINUTE, MX_DOMAINS, mxHost, RESOLVERS, SECOND, scanTarget, submissionHost, synFlow, tcpFlow } from './flows.ts'
import type { Dest, Traffic } from './flows.ts'
import { zipfTable } from './rng.ts'
import type { AttackPlan, DeviceSpec } from './scenarios.ts'

/** Recipient domains are heavy-tailed: the big providers take most of any spam run. */
const MX_POPULARITY = zipfTable(MX_DOMAINS, 1.0)
const BIG_PROVIDERS = 20

/** Campaign `c`'s recipient list maps popularity ranks to domains: the big providers are the same for everyone, the tail differs. */
const domainOf = (rank: number, campaign: number): number =>
  rank < BIG_PROVIDERS ? rank : BIG_PROVIDERS + ((rank - BIG_PROVIDERS) * 1237 + campaign * 613) % (MX_DOMAINS - BIG_PROVIDERS)

const mailServer = (t: Traffic, domain: number, port: 25 | 465 | 587): Dest =>
  port === 25 ? mxHost(domain, t.rng.chance(0.85) ? 1 : 2) : submissionHost(domain, port)

/**
 * One spam SMTP session. Real runs see silence (port 25 filtered, host gone), rejections and
 * greylisting after the banner (550/554/450 to a listed sender), and deliveries of one or a few
 * messages of 1–20 KB each.
 */
const smtpSession = (t: Traffic, ts: number, d: Dest, deliverP: number): void => {
  const u = t.rng.next()
  if (u < 0.08) {
    t.push(synFlow(ts, d, t.rng.int(1, 3), 'none'))
    return
  }
  if (u < 0.08 + 0.92 * (1 - deliverP)) {
    const out = t.rng.int(90, 420)
    const inn = t.rng.int(220, 900)
    t.push(tcpFlow(ts, d, out, inn, t.duration(out, inn) + t.rng.lognormal(400, 0.8)))
    return
  }
  const mails = t.rng.chance(0.25) ? t.rng.int(2, 4) : 1
  let out = 350
  for (let i = 0; i < mails; i++) out += Math.min(20_000, Math.max(1000, t.rng.lognormal(5500, 0.7)))
  out = Math.min(out, 20_400)
  const inn = t.rng.int(450, 1100) + mails * 120
  t.push(tcpFlow(ts, d, out, inn, t.duration(out, inn) + t.rng.lognormal(900, 0.6), mails))
}

/**
 * `perMinute` spam connections a minute (Poisson, drifting) over [from, to), ramping up over the
 * first minutes. Throttled engines (low and slow) never open more than `cap` a minute.
 */
const spamRun = (t: Traffic, plan: AttackPlan, from: number, to: number, perMinute: number, next: () => number, ports: 'mx' | 'mixed', cap = Infinity): void => {
  let drift = 0 // log-scale AR(1): the rate wanders around perMinute instead of walking away
  for (let m = from, k = 0; m < to; m += MINUTE, k++) {
    drift = 0.8 * drift + t.rng.normal(0, 0.15)
    const ramp = Math.min(1, (k + 1) / 3)
    const stall = t.rng.chance(0.04) ? 0.1 : 1 // waiting for the next batch of recipients
    const n = Math.min(cap, t.rng.poisson(perMinute * Math.exp(drift) * ramp * stall))
    for (let i = 0; i < n; i++) {
      const port = ports === 'mx' ? 25 : t.rng.weighted([[25, 85], [587, 10], [465, 5]] as const)
      smtpSession(t, Math.min(to - 1, m + t.rng.int(0, MINUTE - 1)), mailServer(t, next(), port), plan.kind === 'spam-slow' ? 0.75 : 0.55)
    }
  }
}

const zipfDomains = (t: Traffic, campaign: number) => (): number => domainOf(t.rng.zipf(MX_POPULARITY), campaign)

/** The first malicious flow, exactly at infection: the dropper fetching the bot binary (busybox wget from a raw IP). */
const drop = (t: Traffic, plan: AttackPlan, binary: number): void => {
  const out = t.rng.int(120, 260)
  t.push(tcpFlow(plan.infectedAt, plan.infra.loader, out, binary, t.duration(out, binary)))
}

/** Polls of an HTTP C&C gate for jobs, every few minutes, until the end. */
const gatePolls = (t: Traffic, plan: AttackPlan, periodMs: number): void => {
  t.dns(plan.infectedAt + t.rng.int(2, 6) * SECOND, 1)
  t.every(periodMs, 0.3, (ts) => {
    const out = t.rng.int(300, 700)
    const inn = t.rng.int(200, 1500)
    t.push(tcpFlow(ts, plan.infra.c2, out, inn, t.duration(out, inn)))
  }, plan.infectedAt + 5 * SECOND)
}

/** The spam template and recipient batch, fetched from the gate before a run. */
const template = (t: Traffic, plan: AttackPlan, at: number): void => {
  const inn = t.rng.lognormal(120_000, 0.6)
  t.push(tcpFlow(at - t.rng.int(5, 20) * SECOND, plan.infra.c2, t.rng.int(400, 800), inn, t.duration(600, inn)))
}

const spamBurst = (t: Traffic, plan: AttackPlan): void => {
  drop(t, plan, t.rng.lognormal(140_000, 0.4))
  gatePolls(t, plan, t.rng.int(3, 8) * MINUTE)
  const runs = plan.repeat === null ? [plan.activeAt] : [plan.activeAt, plan.repeat.from]
  for (const from of runs) {
    template(t, plan, from)
    const to = from === plan.activeAt ? from + plan.activeMs : (plan.repeat?.to ?? from)
    spamRun(t, plan, from, to, from === plan.activeAt ? plan.rate : plan.rate * 0.6, zipfDomains(t, plan.campaign), 'mixed')
  }
}

/** Low and slow: a few connections a minute for hours, walking down a recipient list (few repeats). */
const spamSlow = (t: Traffic, plan: AttackPlan): void => {
  drop(t, plan, t.rng.lognormal(140_000, 0.4))
  gatePolls(t, plan, t.rng.int(5, 12) * MINUTE)
  let cursor = t.rng.int(0, MX_DOMAINS)
  const zipf = zipfDomains(t, plan.campaign)
  const next = (): number => (t.rng.chance(0.3) ? zipf() : domainOf(BIG_PROVIDERS + (cursor++ % (MX_DOMAINS - BIG_PROVIDERS)), plan.campaign))
  template(t, plan, plan.activeAt)
  let m = plan.activeAt
  const end = plan.activeAt + plan.activeMs
  while (m < end) {
    const run = t.rng.lognormal(50, 0.6) * MINUTE
    spamRun(t, plan, m, Math.min(end, m + run), plan.rate, next, 'mx', 10)
    m += run + t.rng.lognormal(6, 0.7) * MINUTE
  }
}

/** Sessions of spam with pauses; `sessionMin`/`pauseMin` are median lengths in minutes and `rate` is redrawn per session. */
const spamSessions = (t: Traffic, plan: AttackPlan, sessionMin: number, pauseMin: number, rate: () => number, fetch: (at: number) => void): void => {
  const next = zipfDomains(t, plan.campaign)
  let m = plan.activeAt
  while (m < plan.activeAt + plan.activeMs && m < t.to) {
    const length = t.rng.lognormal(sessionMin, 0.5) * MINUTE
    fetch(m)
    spamRun(t, plan, m, Math.min(t.to, m + length), rate(), next, 'mx')
    m += length + t.rng.lognormal(pauseMin, 0.5) * MINUTE
  }
}

/** Spam whose flows nobody collects: the device agent's counters are the only witness. */
const spamTelemetry = (t: Traffic, plan: AttackPlan): void => {
  drop(t, plan, t.rng.lognormal(140_000, 0.4))
  gatePolls(t, plan, t.rng.int(3, 8) * MINUTE)
  spamSessions(t, plan, 90, 12, () => plan.rate * t.rng.lognormal(1, 0.2), (at) => template(t, plan, at))
}

/** The 2014 fridges: jobs arrive over the vendor's own (hijacked) API, mail goes straight to port 25, all day, in sessions. */
const compromisedModel = (t: Traffic, plan: AttackPlan): void => {
  spamSessions(t, plan, 6, 230, () => t.rng.float(5, 30), (at) => {
    const inn = t.rng.lognormal(60_000, 0.5)
    t.push(tcpFlow(at - t.rng.int(3, 15) * SECOND, plan.infra.c2, t.rng.int(600, 1400), inn, t.duration(1000, inn)))
  })
}

/**
 * Mirai-style scanning: one bare SYN (40 bytes, no options) per random address, mostly telnet
 * 23 and 10 % 2323; an SSH variant uses connect() with retries on 22/2222. A few addresses
 * answer; open ones get a brute-force attempt; a hit is reported to the collector on 48101.
 * The bot keeps its C&C connection alive with a ping a minute, before and after the scan.
 */
const scan = (t: Traffic, plan: AttackPlan): void => {
  const mirai = plan.variant === 'mirai'
  drop(t, plan, t.rng.lognormal(mirai ? 75_000 : 900_000, 0.3))
  t.dns(plan.infectedAt + t.rng.int(1, 4) * SECOND, 1, RESOLVERS[2]) // hard-coded public resolver
  t.every(MINUTE, 0.05, (ts) => t.ping(ts, plan.infra.c2, 6, 6), plan.infectedAt + 5 * SECOND)
  for (let m = plan.activeAt, k = 0; m < plan.activeAt + plan.activeMs; m += MINUTE, k++) {
    const n = t.rng.poisson(plan.rate * t.rng.lognormal(1, 0.15) * Math.min(1, (k + 1) / 2))
    for (let i = 0; i < n; i++) {
      const ts = m + t.rng.int(0, MINUTE - 1)
      const port = mirai ? (t.rng.chance(0.9) ? 23 : 2323) : t.rng.chance(0.85) ? 22 : 2222
      const target = scanTarget(t.rng, port)
      const u = t.rng.next()
      if (u < 0.985) t.push(synFlow(ts, target, mirai ? 1 : t.rng.int(1, 3), 'none', mirai ? 40 : 60))
      else if (u < 0.995) t.push(synFlow(ts, target, 1, 'rst', mirai ? 40 : 60))
      else {
        const out = mirai ? t.rng.int(250, 1400) : t.rng.int(1500, 4200)
        const inn = mirai ? t.rng.int(150, 1100) : t.rng.int(2000, 5200)
        t.push(tcpFlow(ts, target, out, inn, t.rng.int(3, 20) * SECOND))
        if (t.rng.chance(0.08)) t.push(tcpFlow(ts + t.rng.int(20, 25) * SECOND, plan.infra.report, t.rng.int(40, 90), 0, t.rttMs * 3))
      }
    }
  }
}

/**
 * Data theft: a tool fetched from a hosting name, an interactive session for a while, then a
 * long upload (hundreds of MB over an hour or more) to a drop host the device never used.
 */
const exfiltration = (t: Traffic, plan: AttackPlan, s: DeviceSpec): void => {
  const tool = s.model === 'peep-cam' ? t.rng.lognormal(300_000, 0.3) : t.rng.lognormal(14_000_000, 0.2)
  drop(t, plan, tool)
  const shellEnd = plan.infectedAt + t.rng.int(10, 40) * MINUTE
  for (let m = plan.infectedAt + t.rng.int(20, 50) * SECOND; m < shellEnd; m += MINUTE) {
    const out = t.rng.lognormal(2500, 1)
    const inn = t.rng.lognormal(900, 1)
    t.push(tcpFlow(m + t.rng.int(0, 20_000), plan.infra.c2, out, inn, t.rng.int(20, 59) * SECOND))
  }
  t.every(t.rng.int(5, 15) * MINUTE, 0.3, (ts) => t.ping(ts, plan.infra.c2, 200, 120), shellEnd)
  t.dns(plan.activeAt, 1)
  const total = plan.rate * (plan.activeMs / MINUTE)
  t.bulk(plan.activeAt + t.rng.int(200, 900), plan.infra.drop, total, plan.rate, 'out', 0.35)
}

/** Adds the attack's flows to the device's traffic. */
export const attackTraffic = (t: Traffic, s: DeviceSpec, plan: AttackPlan): void => {
  switch (plan.kind) {
    case 'spam-burst':
      return spamBurst(t, plan)
    case 'spam-slow':
      return spamSlow(t, plan)
    case 'spam-telemetry':
      return spamTelemetry(t, plan)
    case 'compromised-model':
      return compromisedModel(t, plan)
    case 'scan':
      return scan(t, plan)
    case 'exfiltration':
      return exfiltration(t, plan, s)
  }
}
