import { runtimeSnapshot, type RuntimeSnapshot } from '../harness/gateway-metrics.ts'
import { startLoopProbe } from '../harness/loop-probe.ts'
import { pool, userOf, type BenchUser } from '../harness/http.ts'
import { rmSync } from 'node:fs'
import { sleep, startGateway, startSimulator, stopAll, tempDir, type GatewayService, type SimulatorService } from '../harness/processes.ts'
import { monotonicUs, summarizeProfile } from '../harness/profile.ts'
import { rssOf, sampleRss } from '../harness/rss.ts'
import { round, summarize, toMB, type Summary } from '../harness/stats.ts'
import { lineChart } from '../report/svg.ts'
import { defineScenario, type ScenarioContext } from './types.ts'

const RUNS = 1000
const USERS = 50
const GENERATION_MS = 30_000
/** Arrivals spread over this long (100 runs/s), as users clicking "send", not one packet of 1 000. */
const ARRIVAL_MS = 10_000
const RSS_GOAL_MB = 250
const ELD_GOAL_MS = 50
const SCRAPE_EVERY_MS = 2000
const ASSISTANT = 'mentor'

type Phase = 'arriving' | 'all waiting' | 'finishing'
/** One scrape window; floorP99Ms is an idle Node process's loop delay over the same window (machine noise). */
interface Window { t: number, phase: Phase, p99Ms: number, maxMs: number, floorP99Ms: number, handles: number, heapMB: number, upstreamActive: number }

export interface WaitingRunsFigures {
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
}

interface MemoryView { rssMB: number, heapUsedMB: number, heapTotalMB: number, externalMB: number }
const memoryView = (s: RuntimeSnapshot): MemoryView =>
  ({ rssMB: toMB(s.rssBytes), heapUsedMB: toMB(s.heapUsedBytes), heapTotalMB: toMB(s.heapTotalBytes), externalMB: toMB(s.externalBytes) })

interface RunOutcome { status: number, ok: boolean, ms: number }

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
    } catch {
      return { status: 0, ok: false, ms: NaN }
    }
  })
}

const gatewayEnv = (generationMs: number) => ({
  RUN_MAX_ACTIVE_PER_USER: String(Math.ceil(RUNS / USERS)),
  RUN_WAIT_TIMEOUT_MS: String(generationMs + 100_000),
  RUN_MAX_DURATION_MS: String(generationMs + 300_000)
})

/**
 * The 1 000 threads are created through a first gateway, which is then restarted on the same store:
 * the measured process holds only what the waiting runs need, not the garbage of the set-up traffic.
 */
async function prepared (sim: SimulatorService, generationMs: number, cpuProfile = false) {
  const dir = tempDir()
  const setup = await startGateway(sim, { dir, env: gatewayEnv(generationMs) })
  const subs = Array.from({ length: USERS }, (_, i) => `bench-wait-${i}`)
  const perUser = Math.ceil(RUNS / USERS)
  let threads: string[][]
  try {
    threads = await pool(subs, USERS, sub => {
      const user = userOf(setup, sub)
      return pool(Array.from({ length: perUser }, (_, i) => i), 2, () => user.thread(`[slow:${generationMs}] Explain recursion.`))
    })
  } finally {
    await setup.stop()
  }
  const gateway = await startGateway(sim, { dir, jwtSecret: setup.jwtSecret, cpuProfile, env: gatewayEnv(generationMs) })
  return { gateway, users: subs.map(sub => userOf(gateway, sub)), threads, dir }
}

async function measure (ctx: ScenarioContext): Promise<WaitingRunsFigures> {
  let sim: SimulatorService | undefined
  let gateway: GatewayService | undefined
  let dir: string | undefined
  const probe = startLoopProbe()
  try {
    sim = await startSimulator()
    ctx.log(`creating ${RUNS} threads for ${USERS} users, then restarting the gateway on that store`)
    const ready = await prepared(sim, GENERATION_MS)
    ;({ gateway, dir } = ready)
    await sleep(1000)
    const idleRss = rssOf(gateway.pid)
    // Both histograms start now: prom-client's resets on every scrape, the probe's on every read.
    const [idleSnapshot] = await Promise.all([runtimeSnapshot(gateway.url), probe.read()])
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
    const outcomes = await startRuns(ready.users, ready.threads, ARRIVAL_MS)
    clearInterval(watcher)
    clearInterval(scraper)
    await scrape('finishing', 0)
    const rss = rssSampler.stop()
    const statusCounts: Record<string, number> = {}
    for (const o of outcomes) statusCounts[o.status] = (statusCounts[o.status] ?? 0) + 1
    const worst = (p: Phase, key: 'p99Ms' | 'floorP99Ms' = 'p99Ms') => Math.max(0, ...windows.filter(w => w.phase === p).map(w => w[key]))
    return {
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

export default defineScenario<WaitingRunsFigures>({
  name: 'waiting-runs',
  title: '3. Many waiting runs',
  description: `${RUNS} chat turns in flight at once (${USERS} users × ${RUNS / USERS} threads, \`RUN_MAX_ACTIVE_PER_USER=${RUNS / USERS}\`): ` +
    `each a \`POST …/runs\` that waits while the simulator generates for ${GENERATION_MS / 1000} s (\`RUN_WAIT_TIMEOUT_MS\` above that); ` +
    `the requests arrive over ${ARRIVAL_MS / 1000} s (${Math.round(RUNS / (ARRIVAL_MS / 1000))}/s), so for the rest of the generation all ${RUNS} wait together. ` +
    'The threads are created through a first gateway process, which is then restarted on the same SQLite file, so the measured process ' +
    'starts idle (its RSS then is the floor). Measured on the gateway process: peak RSS (sampled every 100 ms plus the kernel\'s ' +
    `high-water mark), event-loop delay p99 from prom-client's histogram scraped every ${SCRAPE_EVERY_MS / 1000} s (it resets on each ` +
    'scrape: each point is one window; the verdict takes the worst window while every run is in progress upstream, and the arrival and ' +
    'finishing windows are shown beside it), and whether every run completed. prom-client samples the loop every 10 ms, so an idle loop ' +
    'already reads about 10 ms.',
  expectedSeconds: 75,
  run: measure,

  goals (f) {
    const waiting = f.worstP99Ms['all waiting']
    return [{
      goal: `${RUNS} waiting runs under ${RSS_GOAL_MB} MB RSS with event-loop delay p99 under ${ELD_GOAL_MS} ms, all completing`,
      met: f.peakRssMB < RSS_GOAL_MB && waiting > 0 && waiting < ELD_GOAL_MS && f.completed === f.runs,
      evidence: `peak RSS ${f.peakRssMB} MB (idle ${f.idleRssMB} MB, ${f.perRunKB} kB per run); loop delay p99 ${waiting} ms in the worst window ` +
        `with all ${RUNS} waiting (${f.worstP99Ms.arriving} ms while they arrived, ${f.worstP99Ms.finishing} ms while they finished; ` +
        `an idle Node process on the same machine read ${f.floorWorstP99Ms['all waiting']} ms in the same windows); ` +
        `${f.completed}/${f.runs} completed, up to ${f.maxUpstreamActive} in progress upstream at once`
    }]
  },

  render (f) {
    return {
      tables: [{
        columns: ['process', 'runs', 'completed', 'max in progress upstream', 'idle RSS (MB)', 'peak RSS (MB)', 'per run (kB)', 'heap used, max (MB)',
          'loop p99 arriving (ms)', 'loop p99 all waiting (ms)', 'loop p99 finishing (ms)', 'loop max (ms)', 'lag p50 / max (ms)'],
        rows: [
          ['gateway', f.runs, f.completed, f.maxUpstreamActive, f.idleRssMB, f.peakRssMB, f.perRunKB, f.heapAtPeakMB,
            f.worstP99Ms.arriving, f.worstP99Ms['all waiting'], f.worstP99Ms.finishing, f.maxDelayMs, `${f.lagMs.p50} / ${f.lagMs.max}`],
          ['idle Node process, same windows (floor)', '', '', '', '', '', '', '',
            f.floorWorstP99Ms.arriving, f.floorWorstP99Ms['all waiting'], f.floorWorstP99Ms.finishing, '', '']
        ]
      }, {
        caption: 'Where the memory is: idle, and in the window with the most heap used (prom-client\'s process metrics)',
        columns: ['gateway', 'RSS (MB)', 'V8 heap reserved (MB)', 'V8 heap used (MB)', 'external: buffers (MB)', 'rest: code, stacks, native (MB)'],
        rows: (['idle', 'loaded'] as const).map(k => {
          const m = f.memory[k]
          return [k === 'idle' ? 'idle' : `${f.runs} runs in flight`, m.rssMB, m.heapTotalMB, m.heapUsedMB, m.externalMB, round(m.rssMB - m.heapTotalMB - m.externalMB, 1)]
        })
      }],
      svg: lineChart({
        title: `${f.runs} runs waiting on ${f.generationMs / 1000} s generations (arriving over ${f.arrivalMs / 1000} s)`,
        subtitle: `gateway process; ${f.completed}/${f.runs} completed; status codes ${JSON.stringify(f.statusCounts)}`,
        xLabel: 'seconds since the first run was requested',
        panels: [
          { label: 'RSS', unit: 'MB', series: [{ name: 'gateway RSS', points: f.rss }], reference: { value: RSS_GOAL_MB, label: `goal < ${RSS_GOAL_MB} MB` } },
          {
            label: 'Event-loop delay p99 per window',
            unit: 'ms',
            series: [
              // A window shorter than the 10 ms sampling interval has no sample and reads 0.
              { name: 'loop delay p99', points: f.windows.filter(w => w.p99Ms > 0).map(w => [w.t / 1000, w.p99Ms]) },
              { name: 'idle process (floor)', points: f.windows.filter(w => w.floorP99Ms > 0).map(w => [w.t / 1000, w.floorP99Ms]), dashed: true }
            ],
            reference: { value: ELD_GOAL_MS, label: `goal < ${ELD_GOAL_MS} ms` }
          },
          { label: 'Runs in progress upstream', unit: 'responses', series: [{ name: 'in progress', points: f.upstreamActive.map(([t, n]) => [t / 1000, n]) }] }
        ]
      }),
      notes: [
        `Lag is response time − ${f.generationMs / 1000} s. Per-run memory is (peak − idle) / runs: it covers both sockets of a run (browser ↔ gateway, ` +
        'gateway ↔ upstream stream), the SDK\'s stream reader, the waiter and the driver state. V8 keeps reserved heap well above ' +
        'what is in use between major collections, so RSS follows the reserved figure, not the used one.'
      ]
    }
  },

  async profile (ctx) {
    const sim = await startSimulator()
    let gateway: GatewayService | undefined
    let dir: string | undefined
    const generationMs = 15_000
    try {
      const ready = await prepared(sim, generationMs, true)
      ;({ gateway, dir } = ready)
      const startUs = monotonicUs()
      const outcomes = await startRuns(ready.users, ready.threads, ARRIVAL_MS)
      const endUs = monotonicUs()
      ctx.log(`profiled ${outcomes.length} runs of ${generationMs / 1000} s`)
      await gateway.stop()
      if (!gateway.cpuProfile) throw new Error('the gateway wrote no CPU profile')
      return summarizeProfile(gateway.cpuProfile, `${outcomes.length} runs of ${generationMs / 1000} s arriving over ${ARRIVAL_MS / 1000} s`, { startUs, endUs })
    } finally {
      await stopAll([sim, gateway])
      if (dir) rmSync(dir, { recursive: true, force: true })
    }
  }
})
