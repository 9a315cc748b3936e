import { counterDelta, pool, requestJson, totalOf, userOf } from '../harness/http.ts'
import { SIM_KEY, sleep, startGateway, startSimulator, stopAll, type GatewayService, type SimulatorService } from '../harness/processes.ts'
import { monotonicUs, summarizeProfile } from '../harness/profile.ts'
import { round, summarize, type Summary } from '../harness/stats.ts'
import { barChart } from '../report/svg.ts'
import { defineScenario, type ScenarioContext } from './types.ts'

/** Nominal generation times and runs per time; the seed's loop takes about T + 1 s per run. */
const PLAN = [{ t: 300, runs: 24 }, { t: 1000, runs: 16 }, { t: 5000, runs: 8 }]
const WARMUP_RUNS = 8
const CONCURRENCY = 4
const POLL_PERIOD_MS = 1000
const SEED_MAX_ATTEMPTS = 60
const MODEL = 'gpt-4.1'
const ASSISTANT = 'mentor'
const LAG_GOAL_MS = 50

type Method = 'floor' | 'gateway' | 'seed'
const METHODS: Method[] = ['floor', 'gateway', 'seed']
const LABELS: Record<Method, string> = {
  floor: 'direct streamed response (floor)',
  gateway: 'gateway POST /runs (wait)',
  seed: 'seed loop: create + GET every 1 s'
}

interface MethodFigures { lagMs: Summary, callsPerRun: number, failures: number, calls: Record<string, number> }
interface TFigures { t: number, runs: number, generationMs: number[], methods: Record<Method, MethodFigures> }
export interface ChatTurnFigures { concurrency: number, plan: TFigures[], nonconforming: number }

/**
 * Generation time of run i of n: T plus an offset spread evenly over one polling period, because real
 * completions do not line up with a 1 s poller's ticks (with exactly T = 1000 ms it would always be lucky).
 */
const generationOf = (t: number, i: number, n: number) => t + Math.round((i * POLL_PERIOD_MS) / n)
const prompt = (generationMs: number) => `[slow:${generationMs}] What should I study next?`
const simHeaders = { authorization: `Bearer ${SIM_KEY}` }

/** The floor: what any client waits for the same generation, reading the upstream's own stream. */
async function directStream (sim: SimulatorService, generationMs: number): Promise<{ ms: number, ok: boolean }> {
  const started = performance.now()
  const res = await fetch(`${sim.v1}/responses`, {
    method: 'POST',
    headers: { ...simHeaders, 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, input: prompt(generationMs), background: true, stream: true }),
    signal: AbortSignal.timeout(generationMs + 30_000)
  })
  let text = ''
  const decoder = new TextDecoder()
  for await (const chunk of res.body!) {
    text += decoder.decode(chunk as Uint8Array, { stream: true })
    if (text.includes('event: response.completed')) break
    if (text.length > 20_000) text = text.slice(-1000)
  }
  const ms = performance.now() - started
  await res.body?.cancel().catch(() => {})
  return { ms, ok: text.includes('event: response.completed') }
}

/** ../shared/seeds/polling-fix-report.md, on the Responses API: create, read once, then every 1 s up to 60 times. */
async function seedLoop (sim: SimulatorService, generationMs: number): Promise<{ ms: number, ok: boolean }> {
  const started = performance.now()
  const created = await requestJson<{ id: string }>(`${sim.v1}/responses`, {
    method: 'POST', headers: simHeaders, body: { model: MODEL, input: prompt(generationMs), background: true }
  })
  const get = () => requestJson<{ status: string }>(`${sim.v1}/responses/${created.body.id}`, { headers: simHeaders })
  let run = await get()
  let attempts = 0
  while ((run.body.status === 'queued' || run.body.status === 'in_progress') && attempts < SEED_MAX_ATTEMPTS) {
    await sleep(POLL_PERIOD_MS)
    run = await get()
    attempts++
  }
  return { ms: performance.now() - started, ok: run.body.status === 'completed' }
}

async function measureT (ctx: ScenarioContext, sim: SimulatorService, gateway: GatewayService, t: number, runs: number): Promise<TFigures> {
  const generations = Array.from({ length: runs }, (_, i) => generationOf(t, i, runs))
  const user = userOf(gateway, `bench-chat-${t}`)
  const threads = await pool(generations, 8, g => user.thread(prompt(g)))
  const drivers: Record<Method, (g: number, i: number) => Promise<{ ms: number, ok: boolean }>> = {
    floor: g => directStream(sim, g),
    gateway: async (_g, i) => {
      const res = await user.post<{ status: string }>(`/threads/${threads[i]}/runs`, { assistant_type: ASSISTANT })
      return { ms: res.ms, ok: res.status === 200 && res.body.status === 'completed' }
    },
    seed: g => seedLoop(sim, g)
  }
  const methods = {} as Record<Method, MethodFigures>
  for (const method of METHODS) {
    ctx.log(`T=${t} ms: ${runs} runs, ${LABELS[method]}`)
    const before = (await sim.stats()).counters
    const results = await pool(generations, CONCURRENCY, (g, i) => drivers[method](g, i))
    const calls = counterDelta(before, (await sim.stats()).counters)
    methods[method] = {
      lagMs: roundSummary(summarize(results.map((r, i) => r.ms - generations[i]))),
      callsPerRun: round(totalOf(calls) / runs, 2),
      failures: results.filter(r => !r.ok).length,
      calls
    }
  }
  return { t, runs, generationMs: generations, methods }
}

function roundSummary (s: Summary): Summary {
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, round(v, 2)])) as unknown as Summary
}

async function measure (ctx: ScenarioContext): Promise<ChatTurnFigures> {
  let sim: SimulatorService | undefined
  let gateway: GatewayService | undefined
  try {
    // queueMs 0: the upstream's own time is exactly the generation time T.
    sim = await startSimulator({ queueMs: 0 })
    gateway = await startGateway(sim, { env: { RUN_MAX_ACTIVE_PER_USER: '100', RUN_WAIT_TIMEOUT_MS: '60000' } })
    // First requests compile code paths in every process; they are not what a user waits for.
    ctx.log(`warming up: ${WARMUP_RUNS} runs of each kind`)
    const warm = userOf(gateway, 'bench-chat-warmup')
    const warmThreads = await pool(Array.from({ length: WARMUP_RUNS }, (_, i) => i), 8, () => warm.thread(prompt(100)))
    await pool(warmThreads, CONCURRENCY, id => warm.post(`/threads/${id}/runs`, { assistant_type: ASSISTANT }))
    await pool(warmThreads, CONCURRENCY, () => directStream(sim!, 100))
    await pool(warmThreads.slice(0, CONCURRENCY), CONCURRENCY, () => seedLoop(sim!, 100))
    const plan: TFigures[] = []
    for (const { t, runs } of PLAN) plan.push(await measureT(ctx, sim, gateway, t, runs))
    return { concurrency: CONCURRENCY, plan, nonconforming: (await sim.stats()).nonconforming.count }
  } finally {
    await stopAll([sim, gateway])
  }
}

const ms = (n: number) => `${n.toFixed(1)}`

export default defineScenario<ChatTurnFigures>({
  name: 'chat-turn',
  title: '2. A chat turn',
  description: 'One chat turn as the SPA makes it: `POST /api/openai/threads/:id/runs` that waits for the answer, with the simulator ' +
    'generating for T ms. Completion lag = response time − generation time. Baselines in the same run: the seed backend\'s loop ' +
    '(`../shared/seeds/polling-fix-report.md`: create, read, then read again every 1 s, at most 60 times) reimplemented against the ' +
    'simulator\'s Responses API (background response + `GET /v1/responses/{id}`), and the floor — a client reading the upstream\'s own ' +
    `stream. Upstream calls per run come from the simulator's counters. ${CONCURRENCY} runs in flight at a time. Each run's generation time is ` +
    'T plus an offset spread evenly over one 1 s polling period (T, T + 1000/n, …), since real completions do not line up with a poller\'s ' +
    'ticks; the simulator\'s queue time is 0, so the upstream takes exactly that long.',
  expectedSeconds: 80,
  run: measure,

  goals (f) {
    const gatewayWorst = Math.max(...f.plan.map(p => p.methods.gateway.lagMs.p50))
    const fewerCalls = f.plan.every(p => p.methods.gateway.callsPerRun < p.methods.seed.callsPerRun)
    const failures = f.plan.reduce((n, p) => n + p.methods.gateway.failures, 0)
    const per = f.plan.map(p => `T=${p.t}: lag p50 ${ms(p.methods.gateway.lagMs.p50)} ms (floor ${ms(p.methods.floor.lagMs.p50)}) vs seed ${ms(p.methods.seed.lagMs.p50)} ms (mean ${ms(p.methods.seed.lagMs.mean)}), ` +
      `${p.methods.gateway.callsPerRun} vs ${p.methods.seed.callsPerRun} upstream calls/run`).join('; ')
    return [{
      goal: `Completion lag p50 ≤ ${LAG_GOAL_MS} ms with fewer upstream calls than the seed's loop`,
      met: gatewayWorst <= LAG_GOAL_MS && fewerCalls && failures === 0,
      evidence: `${per}${failures ? `; ${failures} gateway runs did not complete` : ''}`
    }]
  },

  render (f) {
    const rows = f.plan.flatMap(p => METHODS.map(m => {
      const x = p.methods[m]
      const overFloor = m === 'floor' ? '—' : `${x.lagMs.p50 >= p.methods.floor.lagMs.p50 ? '+' : ''}${ms(x.lagMs.p50 - p.methods.floor.lagMs.p50)}`
      return [`T = ${p.t} ms (${p.generationMs[0]}–${p.generationMs.at(-1)})`, LABELS[m], ms(x.lagMs.p50), overFloor, ms(x.lagMs.p90), ms(x.lagMs.mean), ms(x.lagMs.max), x.callsPerRun, `${p.runs - x.failures}/${p.runs}`]
    }))
    return {
      tables: [{ columns: ['generation', 'client', 'lag p50 (ms)', 'p50 over the floor (ms)', 'lag p90 (ms)', 'lag mean (ms)', 'lag max (ms)', 'upstream calls/run', 'completed'], rows }],
      svg: barChart({
        title: 'A chat turn: completion lag (response time − generation time), p50',
        subtitle: 'bar labels: lag p50 · upstream calls per run (simulator counters); same run, same simulator',
        unit: 'ms of lag',
        series: METHODS.map(m => LABELS[m]),
        groups: f.plan.map(p => ({
          label: `T = ${p.t} ms`,
          bars: METHODS.map(m => ({ series: LABELS[m], value: p.methods[m].lagMs.p50, label: `${ms(p.methods[m].lagMs.p50)} ms · ${p.methods[m].callsPerRun} calls/run` }))
        })),
        reference: { value: LAG_GOAL_MS, label: `goal ≤ ${LAG_GOAL_MS} ms` }
      }),
      notes: [
        'The gateway creates each round as a streamed background response and sees `response.completed` the moment it happens, ' +
        'so it needs one upstream call per run; the seed\'s loop pays up to a full polling period and one call per second. ' +
        'The floor\'s own lag is the simulator\'s timer slop (a generation is a chain of ~25 timers) and CPU contention on the shared machine; ' +
        'a negative lag is a run that finished a few ms before its nominal time. ' +
        `Requests the gateway sent that failed the simulator's OpenAPI validation: ${f.nonconforming}.`
      ]
    }
  },

  async profile (ctx) {
    const sim = await startSimulator({ queueMs: 0 })
    let gateway: GatewayService | undefined
    try {
      gateway = await startGateway(sim, { cpuProfile: true, env: { RUN_MAX_ACTIVE_PER_USER: '100' } })
      const user = userOf(gateway, 'bench-chat-profile')
      const threads = await pool(Array.from({ length: 40 }, (_, i) => i), 8, () => user.thread(prompt(300)))
      const startUs = monotonicUs()
      await pool(threads, CONCURRENCY, id => user.post(`/threads/${id}/runs`, { assistant_type: ASSISTANT }))
      const endUs = monotonicUs()
      ctx.log('profiled 40 runs of 300 ms')
      await gateway.stop()
      if (!gateway.cpuProfile) throw new Error('the gateway wrote no CPU profile')
      return summarizeProfile(gateway.cpuProfile, `40 runs of T = 300 ms, ${CONCURRENCY} at a time`, { startUs, endUs })
    } finally {
      await stopAll([sim, gateway])
    }
  }
})
