import { pool, requestJson, userOf, type BenchUser } from '../harness/http.ts'
import { startGateway, startSimulator, stopAll, type GatewayService, type SimulatorService } from '../harness/processes.ts'
import { startRedis } from '../harness/redis.ts'
import { round, summarize, type Summary } from '../harness/stats.ts'
import { barChart } from '../report/svg.ts'
import { defineScenario, type ScenarioContext } from './types.ts'

const TURNS = 60
const WARMUP_TURNS = 8
const CONCURRENCY = 4
const GENERATION_MS = 300
const LAG_GOAL_MS = 10
const ASSISTANT = 'mentor'

export interface CrossInstanceFigures {
  turns: number
  /** When the waiter on the driving instance got the ended run, from the start of the turn. */
  sameMs: Summary
  /** The same for the waiter on the other instance. */
  otherMs: Summary
  /** Other minus same, per turn: what waiting on another instance costs. */
  lagMs: Summary
  failures: number
  nonconforming: number
}

/** One turn: started on A; waited for on A (which drives it) and on B at the same time. */
export async function followedTurn (a: GatewayService, b: GatewayService, user: BenchUser, threadId: string) {
  const started = performance.now()
  const run = await user.post<{ id: string }>(`/threads/${threadId}/runs`, { assistant_type: ASSISTANT, wait: false })
  const waitOn = async (gateway: GatewayService) => {
    const res = await requestJson<{ status: string }>(`${gateway.url}/api/openai/threads/${threadId}/runs/${run.body.id}?wait=30000`, { headers: user.headers })
    return { ms: performance.now() - started, ok: res.status === 200 && res.body.status === 'completed' }
  }
  const [same, other] = await Promise.all([waitOn(a), waitOn(b)])
  return { same, other }
}

async function measure (ctx: ScenarioContext): Promise<CrossInstanceFigures> {
  let sim: SimulatorService | undefined
  let redis: Awaited<ReturnType<typeof startRedis>> | undefined
  let a: GatewayService | undefined
  let b: GatewayService | undefined
  try {
    sim = await startSimulator({ queueMs: 0 })
    redis = await startRedis()
    const env = { STORE: 'redis', REDIS_URL: redis.redisUrl, RUN_MAX_ACTIVE_PER_USER: '100' }
    a = await startGateway(sim, { env })
    b = await startGateway(sim, { env, jwtSecret: a.jwtSecret })
    const user = userOf(a, 'bench-cross-instance')
    const turn = (threadId: string) => followedTurn(a!, b!, user, threadId)

    ctx.log(`warming up: ${WARMUP_TURNS} turns`)
    const warm = await pool(Array.from({ length: WARMUP_TURNS }, () => 0), 8, () => user.thread(`[slow:${GENERATION_MS}] warm up`))
    await pool(warm, CONCURRENCY, turn)
    ctx.log(`${TURNS} turns of ${GENERATION_MS} ms, each waited for on both instances`)
    const threads = await pool(Array.from({ length: TURNS }, () => 0), 8, () => user.thread(`[slow:${GENERATION_MS}] What should I study next?`))
    const results = await pool(threads, CONCURRENCY, turn)
    const r2 = (s: Summary) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, round(v, 2)])) as unknown as Summary
    return {
      turns: TURNS,
      sameMs: r2(summarize(results.map(r => r.same.ms))),
      otherMs: r2(summarize(results.map(r => r.other.ms))),
      lagMs: r2(summarize(results.map(r => r.other.ms - r.same.ms))),
      failures: results.filter(r => !r.same.ok || !r.other.ok).length,
      nonconforming: (await sim.stats()).nonconforming.count
    }
  } finally {
    await stopAll([sim, redis, a, b])
  }
}

const ms = (n: number) => n.toFixed(1)

export default defineScenario<CrossInstanceFigures>({
  name: 'cross-instance',
  title: '7. A chat turn followed from another instance',
  description: 'Two gateway processes on one Redis store (`STORE=redis`). Each turn starts a run on instance A (`wait: false`; A drives it) ' +
    'and long-polls it at once on A and on B (`GET …/runs/:id?wait=30000`). The difference between the two answers\' arrival, per turn, is what ' +
    'waiting on an instance that does not drive the run costs: B learns of the run\'s end from the store\'s change feed (Redis pub/sub), ' +
    `not by polling. ${TURNS} turns of ${GENERATION_MS} ms, ${CONCURRENCY} at a time.`,
  expectedSeconds: 30,
  run: measure,

  goals (f) {
    return [{
      goal: `A turn followed from another instance ends within ${LAG_GOAL_MS} ms (p50) of one followed on the driving instance`,
      met: f.lagMs.p50 <= LAG_GOAL_MS && f.failures === 0,
      evidence: `other − same instance: p50 ${ms(f.lagMs.p50)} ms, p90 ${ms(f.lagMs.p90)} ms, max ${ms(f.lagMs.max)} ms over ${f.turns} turns` +
        (f.failures ? `; ${f.failures} turns did not complete on both` : '')
    }]
  },

  render (f) {
    const row = (label: string, s: Summary) => [label, ms(s.p50), ms(s.p90), ms(s.mean), ms(s.max)]
    return {
      tables: [{
        columns: ['', 'p50 (ms)', 'p90 (ms)', 'mean (ms)', 'max (ms)'],
        rows: [row('waited on the driving instance (A)', f.sameMs), row('waited on the other instance (B)', f.otherMs), row('difference B − A, per turn', f.lagMs)]
      }],
      svg: barChart({
        title: 'A chat turn waited for on the driving instance and on another one',
        subtitle: 'time from the start of the turn to the ended run, p50; same turns, same run',
        unit: 'ms',
        series: ['driving instance', 'other instance'],
        groups: [{
          label: `T = ${GENERATION_MS} ms`,
          bars: [
            { series: 'driving instance', value: f.sameMs.p50, label: `${ms(f.sameMs.p50)} ms` },
            { series: 'other instance', value: f.otherMs.p50, label: `${ms(f.otherMs.p50)} ms` }
          ]
        }]
      }),
      notes: [
        'Before the change feed, the other instance re-read the run from the store every 250 ms (about +75 ms per turn was measured). ' +
        `Requests the gateways sent that failed the simulator's OpenAPI validation: ${f.nonconforming}.`
      ]
    }
  }
})
