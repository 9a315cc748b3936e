import { runtimeSnapshot, type RuntimeSnapshot } from '../harness/gateway-metrics.ts'
import { startLoopProbe } from '../harness/loop-probe.ts'
import { counterDelta, pool, totalOf, userOf, type BenchUser } from '../harness/http.ts'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { sleep, startGateway, startSimulator, stopAll, tempDir, type GatewayService, type SimulatorService } from '../harness/processes.ts'
import { monotonicUs, summarizeProfile } from '../harness/profile.ts'
import { rssOf, sampleRss } from '../harness/rss.ts'
import { round, summarize, toMB, type Summary } from '../harness/stats.ts'
import { lineChart } from '../report/svg.ts'
import { defineScenario, type ScenarioContext } from './types.ts'

const USERS = 50
const ELD_GOAL_MS = 50
const LAG_GOAL_MS = 50
const WEBHOOK_SECRET = `whsec_${randomBytes(24).toString('base64')}`

/**
 * The three measurements: 1 000 runs learning of their end from upstream streams (webhooks off, the
 * default), the same 1 000 with webhooks on and no upstream stream (RUN_MAX_UPSTREAM_STREAMS=0: every run
 * waits for its response.* webhook), and 5 000 such runs on one instance. Arrivals are spread (100 or
 * 250 runs/s, as users clicking "send", not one packet) and end before the first generation does, so
 * for a while every run waits at once.
 */
const VARIANTS = [
  { key: 'streams', label: '1000 runs, upstream streams (webhooks off)', runs: 1000, arrivalMs: 10_000, generationMs: 30_000, webhooks: false, rssGoalMB: 200 },
  // Generations shorter than RUN_WEBHOOK_POLL_MS (30 s): a longer one also gets the fallback read at 30 s (then one per 30 s).
  { key: 'webhooks-1000', label: '1000 runs, webhooks (no upstream streams)', runs: 1000, arrivalMs: 10_000, generationMs: 25_000, webhooks: true, rssGoalMB: 200 },
  { key: 'webhooks-5000', label: '5000 runs, webhooks (no upstream streams)', runs: 5000, arrivalMs: 20_000, generationMs: 25_000, webhooks: true, rssGoalMB: 500 }
] as const
type VariantKey = typeof VARIANTS[number]['key']
type Variant = typeof VARIANTS[number]
const SCRAPE_EVERY_MS = 2000
const ASSISTANT = 'mentor'

type Phase = 'arriving' | 'all waiting' | 'finishing'
/** One scrape window; floorP99Ms is an idle Node process's loop delay over the same window (machine noise). */
interface Window { t: number, phase: Phase, p99Ms: number, maxMs: number, floorP99Ms: number, handles: number, heapMB: number, upstreamActive: number }

export interface VariantFigures {
  key: VariantKey
  label: string
  webhooks: boolean
  rssGoalMB: number
  runs: number
  users: number
  generationMs: number
  arrivalMs: number
  completed: number
  statusCounts: Record<string, number>
  /** Runs in progress upstream, sampled each second (the simulator's active responses). */
  upstreamActive: Array<[number, number]>
  maxUpstreamActive: number
  /** Response time − generation time of the completed runs. */
  lagMs: Summary
  seconds: number
  /** RSS of the restarted gateway, idle with the 1 000 threads in its store: the memory floor. */
  idleRssMB: number
  peakRssMB: number
  perRunKB: number
  rss: Array<[number, number]>
  windows: Window[]
  /** Worst window p99 by phase (all waiting = every run in progress upstream). */
  worstP99Ms: Record<Phase, number>
  /** The idle probe's worst window p99 in the same phases. */
  floorWorstP99Ms: Record<Phase, number>
  maxDelayMs: number
  heapAtPeakMB: number
  /** Where the memory is, idle and in the window with the most heap used (prom-client's process metrics). */
  memory: { idle: MemoryView, loaded: MemoryView }
  /** Upstream requests during the runs, by operation (the simulator's counters), and per run. */
  upstream: Record<string, number>
  upstreamPerRun: number
  /** Response reads (GET /v1/responses/{id}) per run: with webhooks, the one read its webhook asks for. */
  readsPerRun: number
  /** The simulator's webhook delivery counters (webhooks on). */
  webhookStats: Record<string, number> | null
}

/** Figures of every variant; older results files hold one streamed variant's figures at the top level. */
export type WaitingRunsFigures = { variants: VariantFigures[] } | (Omit<VariantFigures, 'key' | 'label' | 'webhooks' | 'rssGoalMB' | 'upstream' | 'upstreamPerRun' | 'readsPerRun' | 'webhookStats'>)
const variantsOf = (f: WaitingRunsFigures): VariantFigures[] => 'variants' in f
  ? f.variants
  : [{ ...f, key: 'streams', label: '1000 runs, upstream streams (webhooks off)', webhooks: false, rssGoalMB: 250, upstream: {}, upstreamPerRun: NaN, readsPerRun: NaN, webhookStats: null }]

interface MemoryView { rssMB: number, heapUsedMB: number, heapTotalMB: number, externalMB: number }
const memoryView = (s: RuntimeSnapshot): MemoryView =>
  ({ rssMB: toMB(s.rssBytes), heapUsedMB: toMB(s.heapUsedBytes), heapTotalMB: toMB(s.heapTotalBytes), externalMB: toMB(s.externalBytes) })

interface RunOutcome { status: number | string, ok: boolean, ms: number }

/** Starts run i at i × arrivalMs / n; each request then waits for its run, as a browser tab would. */
async function startRuns (users: BenchUser[], threads: string[][], arrivalMs: number): Promise<RunOutcome[]> {
  // Users interleaved, so each user's runs are spread over the arrival period too.
  const jobs: Array<{ user: BenchUser, id: string }> = []
  for (let i = 0; i < Math.max(...threads.map(t => t.length)); i++) {
    threads.forEach((ids, u) => { if (ids[i]) jobs.push({ user: users[u], id: ids[i] }) })
  }
  const t0 = performance.now()
  return pool(jobs, jobs.length, async ({ user, id }, i) => {
    await sleep(Math.max(0, t0 + (i * arrivalMs) / jobs.length - performance.now()))
    try {
      const res = await user.post<{ status: string }>(`/threads/${id}/runs`, { assistant_type: ASSISTANT })
      return { status: res.status, ok: res.status === 200 && res.body.status === 'completed', ms: res.ms }
    } catch (err) {
      // Which failure (a connect timeout, a reset): shown among the status codes.
      const cause = (err as { cause?: { code?: string } }).cause
      return { status: cause?.code ?? (err as Error).name ?? 'error', ok: false, ms: NaN }
    }
  })
}

const gatewayEnv = (v: Variant, generationMs: number): Record<string, string> => ({
  RUN_MAX_ACTIVE_PER_USER: String(Math.ceil(v.runs / USERS)),
  RUN_WAIT_TIMEOUT_MS: String(generationMs + 100_000),
  RUN_MAX_DURATION_MS: String(generationMs + 300_000),
  // No load shedding: this scenario measures the loop delay itself and judges it; on a shared machine a
  // 503 from under-pressure would fail runs (or the set-up) for the machine's sake, not the gateway's.
  MAX_EVENT_LOOP_DELAY_MS: '0',
  // With webhooks, no run streams: each waits for its response.* webhook (polling only as the fallback).
  ...(v.webhooks ? { OPENAI_WEBHOOK_SECRET: WEBHOOK_SECRET, RUN_MAX_UPSTREAM_STREAMS: '0' } : {})
})

/** The set-up's requests, again after a 503 (under-pressure on a busy machine): only the measured phase counts. */
async function retried<T> (fn: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn()
    } catch (err) {
      if (i >= attempts || !String(err).includes(' 503')) throw err
      await sleep(500 * i)
    }
  }
}

/**
 * The 1 000 threads are created through a first gateway, which is then restarted on the same store:
 * the measured process holds only what the waiting runs need, not the garbage of the set-up traffic.
 */
async function prepared (v: Variant, sim: SimulatorService, generationMs: number, cpuProfile = false) {
  const dir = tempDir()
  const setup = await startGateway(sim, { dir, env: gatewayEnv(v, generationMs) })
  const subs = Array.from({ length: USERS }, (_, i) => `bench-wait-${i}`)
  const perUser = Math.ceil(v.runs / USERS)
  let threads: string[][]
  try {
    threads = await pool(subs, USERS, sub => {
      const user = userOf(setup, sub)
      return pool(Array.from({ length: perUser }, (_, i) => i), 2, () => retried(() => user.thread(`[slow:${generationMs}] Explain recursion.`)))
    })
  } finally {
    await setup.stop()
  }
  const gateway = await startGateway(sim, { dir, jwtSecret: setup.jwtSecret, cpuProfile, env: gatewayEnv(v, generationMs) })
  // OpenAI delivers to the gateway's public URL; here, the simulator to the measured process.
  await sim.configure({ webhooks: v.webhooks ? { url: `${gateway.url}/webhooks/openai`, secret: WEBHOOK_SECRET } : { url: null } })
  return { gateway, users: subs.map(sub => userOf(gateway, sub)), threads, dir }
}

async function measure (ctx: ScenarioContext): Promise<WaitingRunsFigures> {
  const variants: VariantFigures[] = []
  for (const v of VARIANTS) variants.push(await measureVariant(ctx, v))
  return { variants }
}

async function measureVariant (ctx: ScenarioContext, v: Variant): Promise<VariantFigures> {
  const RUNS = v.runs
  const ARRIVAL_MS = v.arrivalMs
  const GENERATION_MS = v.generationMs
  let sim: SimulatorService | undefined
  let gateway: GatewayService | undefined
  let dir: string | undefined
  const probe = startLoopProbe()
  try {
    sim = await startSimulator()
    ctx.log(`${v.label}: creating ${RUNS} threads for ${USERS} users, then restarting the gateway on that store`)
    const ready = await prepared(v, sim, GENERATION_MS)
    ;({ gateway, dir } = ready)
    await sleep(1000)
    const idleRss = rssOf(gateway.pid)
    // Both histograms start now: prom-client's resets on every scrape, the probe's on every read.
    const [idleSnapshot, , before] = await Promise.all([runtimeSnapshot(gateway.url), probe.read(), sim.stats()])
    let loadedSnapshot = idleSnapshot

    ctx.log(`starting ${RUNS} runs of ${GENERATION_MS / 1000} s over ${ARRIVAL_MS / 1000} s`)
    const t0 = performance.now()
    const since = () => Math.round(performance.now() - t0)
    const rssSampler = sampleRss(gateway.pid, 100)
    const windows: Window[] = []
    const upstreamActive: Array<[number, number]> = []
    let active = 0
    let started = false
    let finishing = false
    const phase = (): Phase => finishing ? 'finishing' : started ? 'all waiting' : 'arriving'
    const watcher = setInterval(() => {
      sim!.stats().then(s => {
        active = s.responses.active
        upstreamActive.push([since(), active])
        if (active >= RUNS) started = true
        if (started && active < RUNS) finishing = true
      }).catch(() => {})
    }, 1000)
    const scrape = async (p: Phase, a: number) => {
      const [s, floor] = await Promise.all([runtimeSnapshot(gateway!.url), probe.read()])
      if (s.heapUsedBytes > loadedSnapshot.heapUsedBytes) loadedSnapshot = s
      windows.push({ t: since(), phase: p, p99Ms: round(s.eventLoopP99Ms, 2), maxMs: round(s.eventLoopMaxMs, 2), floorP99Ms: round(floor.p99Ms, 2), handles: s.activeHandles, heapMB: toMB(s.heapUsedBytes), upstreamActive: a })
    }
    const scraper = setInterval(() => { scrape(phase(), active).catch(() => {}) }, SCRAPE_EVERY_MS)
    let outcomes: RunOutcome[]
    try {
      outcomes = await startRuns(ready.users, ready.threads, ARRIVAL_MS)
    } catch (err) {
      // The sampler's timers would keep the bench process alive after the failure is reported.
      rssSampler.stop()
      throw err
    } finally {
      clearInterval(watcher)
      clearInterval(scraper)
    }
    // Under a loaded machine the gateway may shed /metrics (503): the run's figures stand without this window.
    await scrape('finishing', 0).catch(() => {})
    const rss = rssSampler.stop()
    if (v.webhooks) await sleep(500)
    const after = await sim.stats()
    const upstream = counterDelta(before.counters, after.counters)
    const statusCounts: Record<string, number> = {}
    for (const o of outcomes) statusCounts[o.status] = (statusCounts[o.status] ?? 0) + 1
    const worst = (p: Phase, key: 'p99Ms' | 'floorP99Ms' = 'p99Ms') => Math.max(0, ...windows.filter(w => w.phase === p).map(w => w[key]))
    return {
      key: v.key,
      label: v.label,
      webhooks: v.webhooks,
      rssGoalMB: v.rssGoalMB,
      upstream,
      upstreamPerRun: round(totalOf(upstream) / outcomes.length, 3),
      readsPerRun: round((upstream['GET /v1/responses/{response_id}'] ?? 0) / outcomes.length, 3),
      webhookStats: v.webhooks ? after.webhooks as unknown as Record<string, number> : null,
      runs: outcomes.length,
      users: USERS,
      generationMs: GENERATION_MS,
      arrivalMs: ARRIVAL_MS,
      completed: outcomes.filter(o => o.ok).length,
      statusCounts,
      upstreamActive,
      maxUpstreamActive: Math.max(0, ...upstreamActive.map(a => a[1])),
      lagMs: Object.fromEntries(Object.entries(summarize(outcomes.filter(o => o.ok).map(o => o.ms - GENERATION_MS))).map(([k, v]) => [k, round(v, 1)])) as unknown as Summary,
      seconds: round((performance.now() - t0) / 1000, 1),
      idleRssMB: toMB(idleRss),
      peakRssMB: toMB(rss.peak),
      perRunKB: round((rss.peak - idleRss) / outcomes.length / 1000, 1),
      rss: rss.samples.filter((_, i) => i % 5 === 0).map(s => [round(s.t / 1000, 1), toMB(s.rss)]),
      windows,
      worstP99Ms: { arriving: worst('arriving'), 'all waiting': worst('all waiting'), finishing: worst('finishing') },
      floorWorstP99Ms: { arriving: worst('arriving', 'floorP99Ms'), 'all waiting': worst('all waiting', 'floorP99Ms'), finishing: worst('finishing', 'floorP99Ms') },
      maxDelayMs: Math.max(...windows.map(w => w.maxMs)),
      heapAtPeakMB: Math.max(...windows.map(w => w.heapMB)),
      memory: { idle: memoryView(idleSnapshot), loaded: memoryView(loadedSnapshot) }
    }
  } finally {
    await stopAll([sim, gateway])
    await probe.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  }
}

const lagGoalMet = (v: VariantFigures) => !v.webhooks || v.runs < 5000 || (v.lagMs.p50 <= LAG_GOAL_MS && v.readsPerRun <= 1.05)

export default defineScenario<WaitingRunsFigures>({
  name: 'waiting-runs',
  title: '3. Many waiting runs',
  description: `Chat turns in flight at once on one gateway process (${USERS} users, \`RUN_MAX_ACTIVE_PER_USER\` = runs / users), each a ` +
    '`POST …/runs` that waits while the simulator generates (`RUN_WAIT_TIMEOUT_MS` above that). Three measurements: ' +
    VARIANTS.map(v => `${v.label}, generating for ${v.generationMs / 1000} s, arriving over ${v.arrivalMs / 1000} s (${Math.round(v.runs / (v.arrivalMs / 1000))}/s)`).join('; ') + '. ' +
    'With webhooks, the gateway has `OPENAI_WEBHOOK_SECRET` and `RUN_MAX_UPSTREAM_STREAMS=0`, and the simulator delivers signed ' +
    '`response.*` webhooks to its `POST /webhooks/openai`: each run is a create, then one read when its webhook arrives (polling only ' +
    'as the fallback after `RUN_WEBHOOK_POLL_MS`, 30 s: the generations are shorter, or each run would also read once at 30 s). ' +
    'The threads are created through a first gateway process, which is then restarted on the same SQLite file, so the measured process ' +
    'starts idle (its RSS then is the floor). Measured on the gateway process: peak RSS (sampled every 100 ms plus the kernel\'s ' +
    `high-water mark), event-loop delay p99 from prom-client's histogram scraped every ${SCRAPE_EVERY_MS / 1000} s (it resets on each ` +
    'scrape: each point is one window; the verdict takes the worst window while every run is in progress upstream, and the arrival and ' +
    'finishing windows are shown beside it), upstream requests per run (the simulator\'s counters), completion lag (response time − ' +
    'generation time), and whether every run completed. prom-client samples the loop every 10 ms, so an idle loop already reads about 10 ms.',
  expectedSeconds: 330,
  run: measure,

  goals (figures) {
    return variantsOf(figures).map(f => {
      const waiting = f.worstP99Ms['all waiting']
      const big = f.webhooks && f.runs >= 5000
      return {
        goal: `${f.label}: under ${f.rssGoalMB} MB RSS with event-loop delay p99 under ${ELD_GOAL_MS} ms, all completing` +
          (big ? `, completion lag p50 ≤ ${LAG_GOAL_MS} ms and one response read per run (no polling)` : ''),
        met: f.peakRssMB < f.rssGoalMB && waiting > 0 && waiting < ELD_GOAL_MS && f.completed === f.runs && lagGoalMet(f),
        evidence: `peak RSS ${f.peakRssMB} MB (idle ${f.idleRssMB} MB, ${f.perRunKB} kB per run); loop delay p99 ${waiting} ms in the worst window ` +
          `with all ${f.runs} waiting (${f.worstP99Ms.arriving} ms while they arrived, ${f.worstP99Ms.finishing} ms while they finished; ` +
          `an idle Node process on the same machine read ${f.floorWorstP99Ms['all waiting']} ms in the same windows); ` +
          `${f.completed}/${f.runs} completed, up to ${f.maxUpstreamActive} in progress upstream at once; completion lag p50 ${f.lagMs.p50} ms (max ${f.lagMs.max}); ` +
          `upstream requests per run ${f.upstreamPerRun} (response reads ${f.readsPerRun}: the create, then ` +
          (f.webhooks ? 'one read per webhook)' : 'the stream tells the end)')
      }
    })
  },

  render (figures) {
    const all = variantsOf(figures)
    const main = all.at(-1)!
    return {
      tables: [{
        columns: ['process', 'runs', 'completed', 'max in progress upstream', 'idle RSS (MB)', 'peak RSS (MB)', 'per run (kB)', 'heap used, max (MB)',
          'loop p99 arriving (ms)', 'loop p99 all waiting (ms)', 'loop p99 finishing (ms)', 'loop max (ms)', 'lag p50 / max (ms)', 'upstream requests per run', 'response reads per run'],
        rows: all.flatMap(f => [
          [`gateway: ${f.label}`, f.runs, f.completed, f.maxUpstreamActive, f.idleRssMB, f.peakRssMB, f.perRunKB, f.heapAtPeakMB,
            f.worstP99Ms.arriving, f.worstP99Ms['all waiting'], f.worstP99Ms.finishing, f.maxDelayMs, `${f.lagMs.p50} / ${f.lagMs.max}`, f.upstreamPerRun, f.readsPerRun],
          ['idle Node process, same windows (floor)', '', '', '', '', '', '', '',
            f.floorWorstP99Ms.arriving, f.floorWorstP99Ms['all waiting'], f.floorWorstP99Ms.finishing, '', '', '', '']
        ])
      }, {
        caption: 'Where the memory is: idle, and in the window with the most heap used (prom-client\'s process metrics)',
        columns: ['gateway', 'RSS (MB)', 'V8 heap reserved (MB)', 'V8 heap used (MB)', 'external: buffers (MB)', 'rest: code, stacks, native (MB)'],
        rows: all.flatMap(f => (['idle', 'loaded'] as const).map(k => {
          const m = f.memory[k]
          return [k === 'idle' ? `${f.label}: idle` : `${f.label}: all in flight`, m.rssMB, m.heapTotalMB, m.heapUsedMB, m.externalMB, round(m.rssMB - m.heapTotalMB - m.externalMB, 1)]
        }))
      }, {
        caption: 'Upstream requests during the runs (the simulator\'s counters) and webhook deliveries',
        columns: ['gateway', 'upstream requests', 'webhooks: events / sent / acknowledged / retried / failed'],
        rows: all.map(f => [f.label, Object.entries(f.upstream).map(([k, n]) => `${k}: ${n}`).join(', ') || '—',
          f.webhookStats ? `${f.webhookStats.events} / ${f.webhookStats.sent} / ${f.webhookStats.acknowledged} / ${f.webhookStats.retried} / ${f.webhookStats.failed}` : '—'])
      }],
      svg: lineChart({
        title: `${main.runs} runs waiting on ${main.generationMs / 1000} s generations (arriving over ${main.arrivalMs / 1000} s), ${main.label}`,
        subtitle: `gateway process; ${main.completed}/${main.runs} completed; status codes ${JSON.stringify(main.statusCounts)}`,
        xLabel: 'seconds since the first run was requested',
        panels: [
          { label: 'RSS', unit: 'MB', series: all.map(f => ({ name: f.label, points: f.rss })), reference: { value: main.rssGoalMB, label: `goal < ${main.rssGoalMB} MB (${main.runs} runs)` } },
          {
            label: 'Event-loop delay p99 per window',
            unit: 'ms',
            series: [
              // A window shorter than the 10 ms sampling interval has no sample and reads 0.
              ...all.map(f => ({ name: f.label, points: f.windows.filter(w => w.p99Ms > 0).map(w => [w.t / 1000, w.p99Ms] as [number, number]) })),
              { name: 'idle process (floor)', points: main.windows.filter(w => w.floorP99Ms > 0).map(w => [w.t / 1000, w.floorP99Ms] as [number, number]), dashed: true }
            ],
            reference: { value: ELD_GOAL_MS, label: `goal < ${ELD_GOAL_MS} ms` }
          },
          { label: 'Runs in progress upstream', unit: 'responses', series: all.map(f => ({ name: f.label, points: f.upstreamActive.map(([t, n]) => [t / 1000, n] as [number, number]) })) }
        ]
      }),
      notes: [
        'Lag is response time − generation time. Per-run memory is (peak − idle) / runs: with streams it covers both sockets of a run (browser ↔ gateway, ' +
        'gateway ↔ upstream stream), the SDK\'s stream reader, the waiter and the driver state; with webhooks there is no upstream socket per run, only the ' +
        'browser\'s, the waiter and the driver state. V8 keeps reserved heap well above ' +
        'what is in use between major collections, so RSS follows the reserved figure, not the used one.',
        'Upstream requests per run count the create and the response reads; a run with webhooks cannot do with fewer than two: the webhook ' +
        'carries only the response id (OpenAI\'s payloads are thin), so its output and usage are read once. Streamed runs need one request, ' +
        'but hold an upstream connection each for the whole generation.',
        ...whyMissed(all)
      ]
    }
  },

  async profile (ctx, figures) {
    const v = VARIANTS.find(x => x.key === variantsOf(figures).find(f => !this.goals({ variants: [f] })[0]!.met)?.key) ?? VARIANTS[0]
    const sim = await startSimulator()
    let gateway: GatewayService | undefined
    let dir: string | undefined
    const generationMs = 15_000
    try {
      const ready = await prepared(v, sim, generationMs, true)
      ;({ gateway, dir } = ready)
      const startUs = monotonicUs()
      const outcomes = await startRuns(ready.users, ready.threads, v.arrivalMs)
      const endUs = monotonicUs()
      ctx.log(`profiled ${outcomes.length} runs of ${generationMs / 1000} s (${v.label})`)
      await gateway.stop()
      if (!gateway.cpuProfile) throw new Error('the gateway wrote no CPU profile')
      return summarizeProfile(gateway.cpuProfile, `${v.label}: ${outcomes.length} runs of ${generationMs / 1000} s arriving over ${v.arrivalMs / 1000} s`, { startUs, endUs })
    } finally {
      await stopAll([sim, gateway])
      if (dir) rmSync(dir, { recursive: true, force: true })
    }
  }
})

/** Why a memory or lag goal was missed, from the figures: how much of the goal the idle process already takes. */
function whyMissed (all: VariantFigures[]): string[] {
  const notes: string[] = []
  const overMemory = all.filter(f => f.peakRssMB >= f.rssGoalMB)
  if (overMemory.length > 0) {
    notes.push('Where a memory goal is missed: ' + overMemory.map(f => {
      const leftKB = round((f.rssGoalMB - f.idleRssMB) * 1000 / f.runs, 1)
      return `${f.label}: the idle process takes ${f.idleRssMB} MB of the ${f.rssGoalMB} MB (V8 heap in use ${f.memory.idle.heapUsedMB} MB, ` +
        `code, stacks and native ${round(f.memory.idle.rssMB - f.memory.idle.heapTotalMB - f.memory.idle.externalMB, 1)} MB), leaving ${leftKB} kB per run ` +
        `against the ${f.perRunKB} kB a run holds`
    }).join('; ') + '. The idle heap is mostly the loaded code of the dependencies (TypeBox and the openai SDK load several hundred ' +
      'modules each; in a heap snapshot of an idle gateway built to dist/, 20 of its 56 MB are strings, 8 MB of them module source text); ' +
      'the rest is mostly the node binary\'s resident pages.')
  }
  const late = all.filter(f => f.webhooks && f.runs >= 5000 && f.lagMs.p50 > LAG_GOAL_MS)
  for (const f of late) {
    notes.push(`${f.label}: completion lag p50 ${f.lagMs.p50} ms against ${LAG_GOAL_MS} ms. Each completion is a webhook (signature check), one response ` +
      `read upstream and a SQLite transaction that settles the run; the generations end within a few seconds of each other, so ${f.runs} of them ` +
      `queue on one process: the event loop's p99 was ${f.worstP99Ms.finishing} ms while they finished (${f.floorWorstP99Ms.finishing} ms on an idle process ` +
      'in the same windows), on cores shared with the simulator delivering the webhooks and the clients waiting.')
  }
  return notes
}
