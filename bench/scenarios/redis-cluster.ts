import { pool, userOf } from '../harness/http.ts'
import { runLoad } from '../harness/load.ts'
import { startGateway, startSimulator, stopAll, type GatewayService, type Service, type SimulatorService } from '../harness/processes.ts'
import { startRedis, startRedisCluster } from '../harness/redis.ts'
import { median, percentile, round, summarize, type Summary } from '../harness/stats.ts'
import { barChart } from '../report/svg.ts'
import { followedTurn } from './cross-instance.ts'
import { defineScenario, type ScenarioContext } from './types.ts'

const TURNS = 40
const WARMUP_TURNS = 8
const CONCURRENCY = 4
const GENERATION_MS = 300
const LAG_GOAL_MS = 10
const READERS = 16
const READ_CONNECTIONS = 16
const READ_SECONDS = 4
const READ_ROUNDS = 2
const READ_GOAL_RATIO = 0.8

type Topology = 'single' | 'cluster'
const TOPOLOGIES: Topology[] = ['single', 'cluster']
const NAMES: Record<Topology, string> = { single: 'one Redis', cluster: 'Redis Cluster, 3 primaries' }

export interface TopologyFigures {
  /** When the waiter on the driving instance got the ended run, from the start of the turn. */
  sameMs: Summary
  /** The same on the other instance, which learns of the end through pub/sub. */
  otherMs: Summary
  /** Other minus same, per turn. */
  lagMs: Summary
  failures: number
  /** `GET /threads/{id}` of 16 users on both instances at once: req/s summed over them, median of the rounds. */
  readsPerSecond: number
  readP50Ms: number
  readP99Ms: number
  /** Answers other than 200, and connection errors. */
  readFailures: number
}

export interface RedisClusterFigures {
  turns: number
  single: TopologyFigures
  cluster: TopologyFigures
  nonconforming: number
}

interface Setup { a: GatewayService, b: GatewayService, redis: Service, readers: Array<{ headers: Record<string, string>, path: string }> }

async function setUp (sim: SimulatorService, topology: Topology, services: Service[]): Promise<Setup> {
  let redis: Service
  let where: Record<string, string>
  if (topology === 'single') {
    const server = await startRedis()
    redis = server
    where = { REDIS_URL: server.redisUrl }
  } else {
    const cluster = await startRedisCluster()
    redis = cluster
    where = { REDIS_CLUSTER_NODES: cluster.nodes }
  }
  services.push(redis)
  const env = { STORE: 'redis', ...where, RUN_MAX_ACTIVE_PER_USER: '100' }
  const a = await startGateway(sim, { env })
  services.push(a)
  const b = await startGateway(sim, { env, jwtSecret: a.jwtSecret })
  services.push(b)
  // Users spread over the cluster's slots (each user's threads share one, services/store/redis/homes.ts).
  const readers = await pool(Array.from({ length: READERS }, (_, i) => i), 8, async i => {
    const user = userOf(a, `bench-reader-${i}`)
    return { headers: user.headers, path: `/api/openai/threads/${await user.thread('Hello.')}` }
  })
  return { a, b, redis, readers }
}

/** Both instances read at once, one autocannon each, cycling through the readers' threads. */
async function reads ({ a, b, readers }: Setup) {
  const requests = readers.map(r => ({ method: 'GET' as const, path: r.path, headers: r.headers }))
  const loads = await Promise.all([a, b].map(gw => runLoad({ url: gw.url, connections: READ_CONNECTIONS, duration: READ_SECONDS, requests, keepLatencies: true })))
  const latencies = loads.flatMap(l => Array.from(l.latencies))
  return {
    rps: loads.reduce((n, l) => n + l.rps, 0),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    failures: loads.reduce((n, l) => n + l.errors + l.timeouts + Object.entries(l.statusCounts).filter(([code]) => code !== '200').reduce((m, [, c]) => m + c, 0), 0)
  }
}

async function measure (ctx: ScenarioContext): Promise<RedisClusterFigures> {
  const services: Service[] = []
  try {
    const sim = await startSimulator({ queueMs: 0 })
    services.push(sim)
    const setups = {} as Record<Topology, Setup>
    for (const topology of TOPOLOGIES) {
      ctx.log(`starting two gateways on ${NAMES[topology]}`)
      setups[topology] = await setUp(sim, topology, services)
    }

    const r2 = (s: Summary) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, round(v, 2)])) as unknown as Summary
    const figures = {} as Record<Topology, TopologyFigures>
    for (const topology of TOPOLOGIES) {
      const { a, b } = setups[topology]
      const user = userOf(a, `bench-turns-${topology}`)
      const turn = (threadId: string) => followedTurn(a, b, user, threadId)
      ctx.log(`${NAMES[topology]}: ${WARMUP_TURNS} warm-up turns, then ${TURNS} turns of ${GENERATION_MS} ms waited for on both instances`)
      await pool(await pool(Array.from({ length: WARMUP_TURNS }, () => 0), 8, () => user.thread(`[slow:${GENERATION_MS}] warm up`)), CONCURRENCY, turn)
      const threads = await pool(Array.from({ length: TURNS }, () => 0), 8, () => user.thread(`[slow:${GENERATION_MS}] What should I study next?`))
      const results = await pool(threads, CONCURRENCY, turn)
      figures[topology] = {
        sameMs: r2(summarize(results.map(r => r.same.ms))),
        otherMs: r2(summarize(results.map(r => r.other.ms))),
        lagMs: r2(summarize(results.map(r => r.other.ms - r.same.ms))),
        failures: results.filter(r => !r.same.ok || !r.other.ok).length,
        readsPerSecond: 0,
        readP50Ms: 0,
        readP99Ms: 0,
        readFailures: 0
      }
    }

    // Reads in alternating rounds, so a noisy moment of the machine does not fall on one topology only.
    const rounds: Record<Topology, Array<Awaited<ReturnType<typeof reads>>>> = { single: [], cluster: [] }
    for (const topology of TOPOLOGIES) {
      ctx.log(`${NAMES[topology]}: warming up the reads`)
      await reads(setups[topology])
    }
    for (let round = 1; round <= READ_ROUNDS; round++) {
      for (const topology of TOPOLOGIES) {
        ctx.log(`${NAMES[topology]}: reads, round ${round} of ${READ_ROUNDS} (${READ_SECONDS} s, ${READ_CONNECTIONS} connections per instance)`)
        rounds[topology].push(await reads(setups[topology]))
      }
    }
    for (const topology of TOPOLOGIES) {
      const measured = rounds[topology]
      Object.assign(figures[topology], {
        readsPerSecond: round(median(measured.map(m => m.rps)), 1),
        readP50Ms: round(median(measured.map(m => m.p50)), 2),
        readP99Ms: round(median(measured.map(m => m.p99)), 2),
        readFailures: measured.reduce((n, m) => n + m.failures, 0)
      })
    }
    return { turns: TURNS, ...figures, nonconforming: (await sim.stats()).nonconforming.count }
  } finally {
    await stopAll(services)
  }
}

const ms = (n: number) => n.toFixed(1)

export default defineScenario<RedisClusterFigures>({
  name: 'redis-cluster',
  title: '7b. Redis Cluster beside one Redis',
  description: 'Two gateway processes on one Redis, and two on a Redis Cluster of three primaries (`REDIS_CLUSTER_NODES`, no replicas), ' +
    'side by side on the same simulator. A chat turn followed from another instance, as in scenario 7: each turn starts a run on A ' +
    `(\`wait: false\`) and long-polls it on A and on B at once; B learns of the end through pub/sub (${TURNS} turns of ${GENERATION_MS} ms, ` +
    `${CONCURRENCY} at a time). Then the read throughput: \`GET /api/openai/threads/{id}\` of ${READERS} users (spread over the cluster's slots), ` +
    `on both instances at once with ${READ_CONNECTIONS} connections each, ${READ_ROUNDS} rounds of ${READ_SECONDS} s alternating between the topologies.`,
  expectedSeconds: 60,
  run: measure,

  goals (f) {
    return [{
      goal: `On a cluster, a turn followed from another instance ends within ${LAG_GOAL_MS} ms (p50) of one followed on the driving instance`,
      met: f.cluster.lagMs.p50 <= LAG_GOAL_MS && f.cluster.failures === 0,
      evidence: `cluster: other − same instance p50 ${ms(f.cluster.lagMs.p50)} ms, p90 ${ms(f.cluster.lagMs.p90)} ms; one Redis: p50 ${ms(f.single.lagMs.p50)} ms` +
        (f.cluster.failures ? `; ${f.cluster.failures} turns did not complete on both` : '')
    }, {
      goal: `Reads on a cluster keep at least ${READ_GOAL_RATIO * 100} % of the throughput on one Redis (same machine, same gateways)`,
      met: f.cluster.readsPerSecond >= READ_GOAL_RATIO * f.single.readsPerSecond && f.cluster.readFailures === 0,
      evidence: `${f.cluster.readsPerSecond} req/s on the cluster, ${f.single.readsPerSecond} on one Redis ` +
        `(${Math.round(100 * f.cluster.readsPerSecond / f.single.readsPerSecond)} %)` + (f.cluster.readFailures ? `; ${f.cluster.readFailures} failed reads` : '')
    }]
  },

  render (f) {
    const row = (topology: Topology) => {
      const t = f[topology]
      return [NAMES[topology], ms(t.sameMs.p50), ms(t.otherMs.p50), ms(t.lagMs.p50), ms(t.lagMs.p90), t.readsPerSecond, ms(t.readP50Ms), ms(t.readP99Ms)]
    }
    return {
      tables: [{
        columns: ['', 'turn, driving instance p50 (ms)', 'turn, other instance p50 (ms)', 'lag p50 (ms)', 'lag p90 (ms)', 'reads (req/s)', 'read p50 (ms)', 'read p99 (ms)'],
        rows: TOPOLOGIES.map(row)
      }],
      svg: barChart({
        title: 'Reads per second through two gateways: one Redis and a three-primary cluster',
        subtitle: `GET /api/openai/threads/{id}, ${READERS} users, ${READ_CONNECTIONS} connections per instance, median of ${READ_ROUNDS} rounds`,
        unit: 'req/s',
        series: TOPOLOGIES.map(t => NAMES[t]),
        groups: [{
          label: 'reads',
          bars: TOPOLOGIES.map(t => ({ series: NAMES[t], value: f[t].readsPerSecond, label: `${f[t].readsPerSecond} req/s` }))
        }]
      }),
      notes: [
        'Everything runs on one machine, so the cluster cannot show more capacity than one Redis here: what these figures show is what the ' +
        'cluster costs the gateway (routing by slot, a record\'s home found through a pointer cached per process, pub/sub delivered across the ' +
        'cluster bus). ' +
        `Failed reads: ${f.single.readFailures} on one Redis, ${f.cluster.readFailures} on the cluster. ` +
        `Requests the gateways sent that failed the simulator's OpenAPI validation: ${f.nonconforming}.`
      ]
    }
  }
})
