import { cpuDelta, cpuTimeOf } from '../harness/cpu.ts'
import { runLoad } from '../harness/load.ts'
import { counterDelta, requestJson, totalOf, userOf } from '../harness/http.ts'
import { rmSync } from 'node:fs'
import { SIM_KEY, sleep, startGateway, startPortkey, startSimulator, stopAll, tempDir, type GatewayService, type Service, type SimulatorService } from '../harness/processes.ts'
import { monotonicUs, summarizeProfile } from '../harness/profile.ts'
import { median, percentile, round } from '../harness/stats.ts'
import { barChart } from '../report/svg.ts'
import { defineScenario, type ScenarioContext } from './types.ts'

const ROUNDS = 3
const SECONDS = 3
const WARMUP_SECONDS = 2
const CONCURRENCY = 50
const PROFILE_SECONDS = 10

type TargetKey = 'directItems' | 'gateway' | 'gatewayUncached' | 'gatewayOwn' | 'directResponse' | 'portkey'

/**
 * Row labels. The goal is judged on `gatewayUncached`: issue 9 defines the measured request as the
 * messages read "(JWT check, ownership, rate limit, upstream call)", and only that gateway makes the
 * upstream call on every request. `gateway` answers repeated reads from its message cache (no upstream
 * call): shown for scale, never the verdict. Applied when rendering, so older results files read the same.
 */
const LABELS: Record<TargetKey, string> = {
  directItems: 'simulator direct: GET /v1/conversations/{id}/items',
  gatewayUncached: 'gateway: GET /api/openai/threads/{id}/messages, one upstream call (message cache off) — the goal\'s request',
  gateway: 'gateway: the same, repeated read answered from the message cache (no upstream call) — not the goal\'s request',
  gatewayOwn: 'gateway: GET /api/openai/threads/{id} (no upstream call)',
  directResponse: 'simulator direct: GET /v1/responses/{id}',
  portkey: 'Portkey 1.15.2: GET /v1/responses/{id}'
}

/** `server`: the process answering the request, whose CPU time is read. */
interface Target { key: TargetKey, label: string, floor: TargetKey | null, url: string, headers: Record<string, string>, server: number }

interface TargetFigures {
  label: string
  floor: TargetKey | null
  c1: { n: number, p50: number, p90: number, p99: number, mean: number, cpuUserMsPerRequest: number, cpuSystemMsPerRequest: number }
  c50: { rps: number, rounds: number[], statusCounts: Record<string, number> }
}

interface Added { p50Ms: number, p99Ms: number, rpsShare: number }

export interface OverheadFigures {
  rounds: number
  secondsPerMeasurement: number
  targets: Record<TargetKey, TargetFigures>
  added: { gateway: Added, gatewayUncached: Added, gatewayOwn: Added, portkey: Added }
  gatewayUpstreamCallsPerRequest: number
  /** Older results files lack it. */
  uncachedUpstreamCallsPerRequest?: number
}

async function fixtures (sim: SimulatorService, gateway: GatewayService) {
  const user = userOf(gateway, 'bench-overhead')
  // A thread with a user and an assistant message: the conversation then has 2 items.
  const threadId = await user.thread('Hello, what should I study next?')
  const run = await user.post(`/threads/${threadId}/runs`, { assistant_type: 'mentor' })
  if (run.status !== 200) throw new Error(`run answered ${run.status}`)
  const simAuth = { authorization: `Bearer ${SIM_KEY}` }
  const created = await requestJson<{ id: string }>(`${sim.v1}/responses`, {
    method: 'POST', headers: simAuth, body: { model: 'gpt-4.1', input: 'Hello, what should I study next?', background: true }
  })
  for (let i = 0; i < 50; i++) {
    const got = await requestJson<{ status: string }>(`${sim.v1}/responses/${created.body.id}`, { headers: simAuth })
    if (got.body.status === 'completed') break
    await sleep(50)
  }
  return { user, threadId, responseId: created.body.id, simAuth }
}

async function measure (ctx: ScenarioContext): Promise<OverheadFigures> {
  let sim: SimulatorService | undefined
  let gateway: GatewayService | undefined
  let uncached: GatewayService | undefined
  let portkey: Service | undefined
  const dir = tempDir()
  try {
    sim = await startSimulator({ generationMs: 50, queueMs: 0 })
    gateway = await startGateway(sim, { dir })
    // The same store and tokens with the message cache off: every read goes upstream (a first read).
    uncached = await startGateway(sim, { dir, jwtSecret: gateway.jwtSecret, env: { MESSAGE_CACHE_MB: '0' } })
    portkey = await startPortkey()
    const { user, threadId, responseId, simAuth } = await fixtures(sim, gateway)
    // The exact upstream request the gateway makes for a default page (limit 20 → 21 to learn has_more).
    const targets: Target[] = [
      { key: 'directItems', label: LABELS.directItems, floor: null, url: `${sim.v1}/conversations/${threadId}/items?order=desc&limit=21`, headers: simAuth, server: sim.pid },
      { key: 'gateway', label: LABELS.gateway, floor: 'directItems', url: `${gateway.url}/api/openai/threads/${threadId}/messages`, headers: user.headers, server: gateway.pid },
      { key: 'gatewayUncached', label: LABELS.gatewayUncached, floor: 'directItems', url: `${uncached.url}/api/openai/threads/${threadId}/messages`, headers: user.headers, server: uncached.pid },
      // No upstream call: what the gateway's own pipeline (JWT, rate limit, store, reply) costs.
      { key: 'gatewayOwn', label: LABELS.gatewayOwn, floor: 'directItems', url: `${gateway.url}/api/openai/threads/${threadId}`, headers: user.headers, server: gateway.pid },
      { key: 'directResponse', label: LABELS.directResponse, floor: null, url: `${sim.v1}/responses/${responseId}`, headers: simAuth, server: sim.pid },
      {
        key: 'portkey',
        label: LABELS.portkey,
        floor: 'directResponse',
        url: `${portkey.url}/v1/responses/${responseId}`,
        headers: { ...simAuth, 'x-portkey-provider': 'openai', 'x-portkey-custom-host': sim.v1 },
        server: portkey.pid
      }
    ]
    for (const target of targets) {
      const res = await requestJson(target.url, { headers: target.headers })
      if (res.status !== 200) throw new Error(`${target.label} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`)
    }
    ctx.log('warming up')
    for (const target of targets) await runLoad({ url: target.url, headers: target.headers, connections: 10, duration: WARMUP_SECONDS })

    const latencies = new Map<TargetKey, number[]>(targets.map(t => [t.key, []]))
    const rps = new Map<TargetKey, number[]>(targets.map(t => [t.key, []]))
    const statuses = new Map<TargetKey, Record<string, number>>(targets.map(t => [t.key, {}]))
    const cpu = new Map<TargetKey, { userMs: number, systemMs: number, requests: number }>(targets.map(t => [t.key, { userMs: 0, systemMs: 0, requests: 0 }]))
    const upstreamCalls = new Map<TargetKey, { upstream: number, responses: number }>([['gateway', { upstream: 0, responses: 0 }], ['gatewayUncached', { upstream: 0, responses: 0 }]])
    for (let round = 0; round < ROUNDS; round++) {
      // Rotating the order spreads the machine's drift over all targets.
      const order = targets.map((_, i) => targets[(i + round) % targets.length])
      for (const target of order) {
        ctx.log(`round ${round + 1}/${ROUNDS}: ${target.label}`)
        const before = target.key === 'gateway' || target.key === 'gatewayUncached' ? (await sim.stats()).counters : null
        const cpuBefore = cpuTimeOf(target.server)
        const c1 = await runLoad({ url: target.url, headers: target.headers, connections: 1, duration: SECONDS, keepLatencies: true })
        const used = cpuDelta(cpuBefore, cpuTimeOf(target.server))
        if (used) {
          const acc = cpu.get(target.key)!
          acc.userMs += used.userMs
          acc.systemMs += used.systemMs
          acc.requests += c1.responses
        }
        const c50 = await runLoad({ url: target.url, headers: target.headers, connections: CONCURRENCY, duration: SECONDS })
        if (before) {
          const calls = upstreamCalls.get(target.key)!
          calls.upstream += totalOf(counterDelta(before, (await sim.stats()).counters))
          calls.responses += c1.responses + c50.responses
        }
        latencies.get(target.key)!.push(...c1.latencies)
        rps.get(target.key)!.push(c50.rps)
        const counts = statuses.get(target.key)!
        for (const r of [c1, c50]) for (const [code, n] of Object.entries(r.statusCounts)) counts[code] = (counts[code] ?? 0) + n
      }
    }
    const figuresOf = (t: Target): TargetFigures => {
      const l = latencies.get(t.key)!
      const c = cpu.get(t.key)!
      return {
        label: t.label,
        floor: t.floor,
        c1: {
          n: l.length,
          p50: round(median(l), 4),
          p90: round(percentile(l, 90), 4),
          p99: round(percentile(l, 99), 4),
          mean: round(l.reduce((a, b) => a + b, 0) / l.length, 4),
          cpuUserMsPerRequest: round(c.userMs / Math.max(1, c.requests), 4),
          cpuSystemMsPerRequest: round(c.systemMs / Math.max(1, c.requests), 4)
        },
        c50: { rps: round(median(rps.get(t.key)!), 0), rounds: rps.get(t.key)!, statusCounts: statuses.get(t.key)! }
      }
    }
    const figures = Object.fromEntries(targets.map(t => [t.key, figuresOf(t)])) as Record<TargetKey, TargetFigures>
    const added = (key: TargetKey, floor: TargetKey): Added => ({
      p50Ms: round(figures[key].c1.p50 - figures[floor].c1.p50, 4),
      p99Ms: round(figures[key].c1.p99 - figures[floor].c1.p99, 4),
      rpsShare: round(figures[key].c50.rps / figures[floor].c50.rps, 3)
    })
    return {
      rounds: ROUNDS,
      secondsPerMeasurement: SECONDS,
      targets: figures,
      added: { gateway: added('gateway', 'directItems'), gatewayUncached: added('gatewayUncached', 'directItems'), gatewayOwn: added('gatewayOwn', 'directItems'), portkey: added('portkey', 'directResponse') },
      gatewayUpstreamCallsPerRequest: round(upstreamCalls.get('gateway')!.upstream / Math.max(1, upstreamCalls.get('gateway')!.responses), 3),
      uncachedUpstreamCallsPerRequest: round(upstreamCalls.get('gatewayUncached')!.upstream / Math.max(1, upstreamCalls.get('gatewayUncached')!.responses), 3)
    }
  } finally {
    await stopAll([sim, gateway, uncached, portkey])
    rmSync(dir, { recursive: true, force: true })
  }
}

const fmt = (n: number) => n.toFixed(3)

export default defineScenario<OverheadFigures>({
  name: 'overhead',
  title: '1. Overhead on a proxied read',
  description: 'The request issue 9 defines: `GET /api/openai/threads/:id/messages` through the gateway — JWT check, rate limit, ' +
    'ownership lookup in SQLite, one upstream `GET /v1/conversations/{id}/items` and mapping — against the same upstream call made ' +
    'directly to the simulator. The gateway normally answers a repeated read of an unchanged thread from its message cache without ' +
    'calling upstream, so the goal is judged on a gateway with the cache off (`MESSAGE_CACHE_MB=0`, same store and tokens), where ' +
    'every read makes the upstream call (as a first read, or one after a write, does); the cached repeat read is measured alongside ' +
    'and reported separately. The Portkey AI Gateway 1.15.2 forwards `GET /v1/responses/{id}` to the same simulator, against that ' +
    'call made directly (its generic passthrough fails for conversation items). Added latency = the proxy\'s percentile − the direct call\'s percentile at concurrency 1; ' +
    `throughput at concurrency ${CONCURRENCY} as a share of the direct call. ${ROUNDS} rounds of ${SECONDS} s per target and concurrency, targets in rotating order, ` +
    'all processes on the same 2 cores as the load generator.',
  expectedSeconds: 100,
  run: measure,

  goals (f) {
    const goal = 'Overhead median ≤ 1 ms and below Portkey\'s in the same run'
    const pk = f.added.portkey.p50Ms
    const cpu = (k: TargetKey) => fmt(f.targets[k].c1.cpuUserMsPerRequest + f.targets[k].c1.cpuSystemMsPerRequest)
    const cached = `for scale, not the verdict: a repeated read answered from the message cache (${f.gatewayUpstreamCallsPerRequest} upstream calls per request) ` +
      `adds ${fmt(f.added.gateway.p50Ms)} ms (p99 ${fmt(f.added.gateway.p99Ms)} ms), CPU ${cpu('gateway')} ms per request`
    // Results files from before the cache-off gateway was measured hold no figure for the goal's request.
    if (!f.added.gatewayUncached || !f.targets.gatewayUncached) {
      return [{ goal, met: null, evidence: `this results file has no read that goes upstream through the gateway; ${cached}` }]
    }
    const up = f.added.gatewayUncached
    const reasons = [
      ...(up.p50Ms > 1 ? [`${fmt(up.p50Ms)} ms is over 1 ms`] : []),
      ...(up.p50Ms >= pk ? [`${fmt(up.p50Ms)} ms is not below Portkey's ${fmt(pk)} ms`] : [])
    ]
    return [{
      goal,
      met: reasons.length === 0,
      evidence: `the messages read with its upstream call (${f.uncachedUpstreamCallsPerRequest ?? '?'} upstream calls per request) adds ` +
        `${fmt(up.p50Ms)} ms at the median (p99 ${fmt(up.p99Ms)} ms); Portkey adds ${fmt(pk)} ms (p99 ${fmt(f.added.portkey.p99Ms)} ms)` +
        (reasons.length ? ` — ${reasons.join(', and ')}` : '') +
        `; CPU per request: gateway ${cpu('gatewayUncached')} ms, Portkey ${cpu('portkey')} ms; ${cached}`
    }]
  },

  render (f) {
    const t = f.targets
    const row = (key: TargetKey) => {
      const x = t[key]
      const floor = x.floor ? t[x.floor] : null
      return [
        LABELS[key], fmt(x.c1.p50), fmt(x.c1.p99),
        floor ? `+${fmt(x.c1.p50 - floor.c1.p50)}` : '—', floor ? `+${fmt(x.c1.p99 - floor.c1.p99)}` : '—',
        `${fmt(x.c1.cpuUserMsPerRequest + x.c1.cpuSystemMsPerRequest)} (${fmt(x.c1.cpuSystemMsPerRequest)} sys)`,
        x.c50.rps, floor ? (x.c50.rps / floor.c50.rps).toFixed(2) : '1.00'
      ]
    }
    return {
      tables: [{
        columns: ['request', 'c=1 p50 (ms)', 'c=1 p99 (ms)', 'added p50 (ms)', 'added p99 (ms)', 'server CPU per request, c=1 (ms)', `c=${CONCURRENCY} req/s`, 'share of direct'],
        rows: (['directItems', 'gatewayUncached', 'gateway', 'gatewayOwn', 'directResponse', 'portkey'] as TargetKey[]).filter(k => t[k]).map(row)
      }],
      svg: barChart({
        title: 'Overhead on a proxied read: latency added over the direct upstream call (c=1)',
        subtitle: `vs the same upstream call made directly, same run; p99 labels add the c=${CONCURRENCY} throughput as a share of direct`,
        unit: 'ms added',
        series: ['median', 'p99'],
        groups: [
          ...(f.added.gatewayUncached ? [{ label: 'gateway, upstream read (goal)', bars: [{ series: 'median', value: f.added.gatewayUncached.p50Ms }, { series: 'p99', value: f.added.gatewayUncached.p99Ms, label: `${fmt(f.added.gatewayUncached.p99Ms)} ms · ${(f.added.gatewayUncached.rpsShare * 100).toFixed(0)} % req/s` }] }] : []),
          { label: 'gateway, cached repeat read', bars: [{ series: 'median', value: f.added.gateway.p50Ms }, { series: 'p99', value: f.added.gateway.p99Ms, label: `${fmt(f.added.gateway.p99Ms)} ms · ${(f.added.gateway.rpsShare * 100).toFixed(0)} % req/s` }] },
          { label: 'gateway, no upstream call', bars: [{ series: 'median', value: f.added.gatewayOwn.p50Ms }, { series: 'p99', value: f.added.gatewayOwn.p99Ms }] },
          { label: 'Portkey 1.15.2', bars: [{ series: 'median', value: f.added.portkey.p50Ms }, { series: 'p99', value: f.added.portkey.p99Ms, label: `${fmt(f.added.portkey.p99Ms)} ms · ${(f.added.portkey.rpsShare * 100).toFixed(0)} % req/s` }] }
        ],
        reference: { value: 1, label: 'goal: median ≤ 1 ms' }
      }),
      notes: [
        `Each row pools ${f.rounds} × ${f.secondsPerMeasurement} s at c=1 (${(t.gatewayUncached ?? t.gateway).c1.n} samples for the goal's request); response times are autocannon's per-response hrtime, not its 1 ms histogram. ` +
        `req/s is the median of the ${f.rounds} rounds. Upstream calls per messages request: ` +
        (f.uncachedUpstreamCallsPerRequest !== undefined ? `${f.uncachedUpstreamCallsPerRequest} with the cache off (the goal's request), ` : '') +
        `${f.gatewayUpstreamCallsPerRequest} for the cached repeat read.`,
        'The cached repeat read is a separate figure, not the verdict: every write to a conversation goes through the gateway and bumps the ' +
        'thread\'s revision, so a page read at an unchanged revision is served from memory (`MESSAGE_CACHE_MB`) without calling upstream — ' +
        'what most of an SPA\'s re-reads cost' +
        (f.added.gatewayUncached ? ` (+${fmt(f.added.gateway.p50Ms)} ms at the median against +${fmt(f.added.gatewayUncached.p50Ms)} ms for the read that goes upstream)` : '') +
        ', but it measures a request without the upstream call the goal is about. ' +
        '"Server CPU" is the user + system CPU time of the process answering (the simulator for direct calls, the gateway, Portkey) ' +
        'per request, from /proc/<pid>/stat: it barely depends on how busy the machine is, so it is the steadiest cost figure here; ' +
        'system time is the kernel\'s share (socket reads and writes on loopback).',
        'The "no upstream call" row (`GET /threads/{id}`: JWT check, rate limit, SQLite ownership lookup, helmet headers, serialization) ' +
        'splits the overhead: the rest of the upstream read\'s added latency is the upstream call made through the `openai` SDK ' +
        'and Node\'s fetch, plus mapping the items' +
        (f.added.gatewayUncached ? ` (+${fmt(f.added.gatewayUncached.p50Ms - f.added.gatewayOwn.p50Ms)} ms at the median here).` : '.')
      ]
    }
  },

  // The goal's request: the messages read that goes upstream, on a gateway with the message cache off.
  async profile (ctx) {
    const sim = await startSimulator({ generationMs: 50, queueMs: 0 })
    let gateway: GatewayService | undefined
    try {
      gateway = await startGateway(sim, { cpuProfile: true, env: { MESSAGE_CACHE_MB: '0' } })
      const { user, threadId } = await fixtures(sim, gateway)
      const url = `${gateway.url}/api/openai/threads/${threadId}/messages`
      await runLoad({ url, headers: user.headers, connections: 10, duration: WARMUP_SECONDS })
      ctx.log(`profiling the gateway (message cache off): c=1 for ${PROFILE_SECONDS} s`)
      const before = (await sim.stats()).counters
      const startUs = monotonicUs()
      const load = await runLoad({ url, headers: user.headers, connections: 1, duration: PROFILE_SECONDS })
      const endUs = monotonicUs()
      const perRequest = round(totalOf(counterDelta(before, (await sim.stats()).counters)) / Math.max(1, load.responses), 3)
      // A profile of reads that skip the upstream call would explain the wrong request.
      if (perRequest < 0.9) throw new Error(`the profiled reads made ${perRequest} upstream calls each, not 1`)
      await gateway.stop()
      if (!gateway.cpuProfile) throw new Error('the gateway wrote no CPU profile')
      return summarizeProfile(gateway.cpuProfile, `GET /api/openai/threads/:id/messages with the message cache off (the goal's request, ${perRequest} upstream calls each) ` +
        `at c=1 for ${PROFILE_SECONDS} s (${load.responses} requests, after a ${WARMUP_SECONDS} s warm-up at c=10)`, { startUs, endUs })
    } finally {
      await stopAll([sim, gateway])
    }
  }
})
