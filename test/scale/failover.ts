import type { Test } from 'tap'
import { Redis } from 'ioredis'
import { createRedisStore } from '../../services/store/redis-store.ts'
import type { RedisTarget } from '../../services/redis.ts'
import { api, type ApiReply } from '../helpers/redis.ts'
import type { GatewayProcess } from '../helpers/process.ts'
import type { Simulator } from '../../simulator/index.ts'
import { until } from '../helpers/until.ts'
import type { RedisProcess } from '../helpers/redis-topologies.ts'

/**
 * What both failover tests (Sentinel, Cluster) check around the death of a Redis primary, through two
 * real gateway instances: traffic while the primary is killed — every answer a 200 or a fast 503
 * SERVICE_UNAVAILABLE with Retry-After, never a 500 or a hang — then 200s again on both instances
 * without a restart; a run in flight across the switch completes once (one upstream response, settled
 * once); the run watch's pub/sub listens again on the new topology, so a waiter on one instance learns
 * of the end of a run driven by the other; new runs work; the ledger and the budget counters hold
 * exactly the runs' usage; rate limits are counted once across the instances.
 */
/** The gateways' settings in both failover tests: limits out of the way, leases and polls short so a switch shows quickly. */
export const failoverSettings = (budget: number): Record<string, string> => ({
  BUDGET_USER_DAILY_TOKENS: String(budget),
  RATE_LIMIT_MAX: '10000',
  RATE_LIMIT_RUNS_MAX: '10000',
  RUN_LEASE_MS: '1000',
  RUN_POLL_MAX_MS: '200',
  LOG_LEVEL: 'info'
})

/**
 * SIGKILLs a primary once what it acknowledged has reached its replica (replication is asynchronous: a
 * write in the last instant before a crash can be lost, README "Scaling out").
 */
export async function killOnceReplicated (primary: RedisProcess): Promise<void> {
  const client = new Redis({ port: primary.port, host: '127.0.0.1' })
  await client.call('WAIT', '1', '5000')
  client.disconnect()
  await primary.kill()
}

export async function primaryFailover (t: Test, { sim, target, gateways, user, budget, dataPorts, kill, recovered }: {
  sim: Simulator
  /** The topology, for a store of the test's own that listens to the change feed as an instance does. */
  target: RedisTarget
  /** The ports of the data servers (not the sentinels) alive now. */
  dataPorts: () => number[]
  /** The instances' BUDGET_USER_DAILY_TOKENS. */
  budget: number
  gateways: GatewayProcess[]
  user: string
  /** Kills the primary that serves `user`'s data; resolves once it is dead. */
  kill: () => Promise<void>
  /** Resolves once Redis has promoted the replica (as Redis itself tells). */
  recovered: () => Promise<void>
}): Promise<{ switchMs: number, unavailable: number, answered: number }> {
  const [a, b] = gateways as [GatewayProcess, GatewayProcess]
  const thread = await api(a.url, 'POST', '/api/openai/threads', { user, body: { messages: [{ role: 'user', content: 'Hello.' }] } })
  t.equal(thread.status, 201)
  const first = await api(b.url, 'POST', `/api/openai/threads/${thread.body.id}/runs`, { user, body: { assistant_type: 'mentor' } })
  t.equal(first.body.status, 'completed', 'a run before the failover')

  const busy = await api(a.url, 'POST', '/api/openai/threads', { user, body: { messages: [{ role: 'user', content: '[slow:4000] Still going?' }] } })
  const createdBefore = sim.counters()['POST /v1/responses'] ?? 0
  const inFlight = await api(a.url, 'POST', `/api/openai/threads/${busy.body.id}/runs`, { user, body: { assistant_type: 'mentor', wait: false } })
  t.equal(inFlight.status, 202)
  const path = `/api/openai/threads/${busy.body.id}/runs/${inFlight.body.id}`
  await until(async () => (await api(b.url, 'GET', path, { user })).body.status === 'in_progress', { timeoutMs: 20_000, message: 'the run to be in progress upstream' })

  // The run watch's pub/sub: every instance listens (a short wait subscribes its change feed), and so
  // does a store of the test's own, counted on the data servers themselves.
  const channel = 'agw:changes:run'
  const subscribers = async () => (await Promise.all(dataPorts().map(port => countSubscribers(port, channel)))).reduce((n, c) => n + c, 0)
  const own = await createRedisStore({ url: target })
  t.teardown(() => own.close())
  const heard = new Set<string>()
  own.changes.subscribe('run', id => heard.add(id))
  for (const gw of gateways) await api(gw.url, 'GET', `${path}?wait=10`, { user })
  const listening = gateways.length + 1
  await until(async () => await subscribers() === listening, { message: 'every instance\'s change feed to subscribe' })

  // Traffic on both instances from before the kill until both answer again.
  const replies: Array<ApiReply & { gateway: string, at: number }> = []
  const stop = new AbortController()
  const traffic = Promise.all(gateways.map(async gw => {
    while (!stop.signal.aborted) {
      // A request that fails outright (no answer in 5 s, a reset) is a status 0: only 200s and 503s pass.
      const reply = await api(gw.url, 'GET', '/api/openai/threads', { user, timeoutMs: 5000 }).catch(err => ({ status: 0, headers: new Headers(), body: String(err) }))
      replies.push({ ...reply, gateway: gw.url, at: performance.now() })
    }
  }))
  await until(() => replies.length >= 10, { message: 'traffic before the kill' })
  const killedAt = performance.now()
  await kill()
  await recovered()
  // Both instances answer again, with no restart, on their own.
  try {
    await until(() => gateways.every(gw => replies.some(r => r.gateway === gw.url && r.at > killedAt && r.status === 200) &&
      replies.filter(r => r.gateway === gw.url).at(-1)!.status === 200), { timeoutMs: 30_000, intervalMs: 50, message: 'both instances to answer 200 after the failover' })
  } catch (err) {
    // What each instance said last and logged, to tell a slow switch from one that never ends.
    for (const gw of gateways) t.comment(gw.url, JSON.stringify(replies.filter(r => r.gateway === gw.url).at(-1)?.body), gw.logs.join('').split('\n').slice(-15).join('\n'))
    throw err
  } finally {
    stop.abort()
    await traffic
  }

  const after = replies.filter(r => r.at > killedAt)
  const unavailable = after.filter(r => r.status === 503)
  t.ok(replies.every(r => r.status === 200 || r.status === 503), `every answer is a 200 or a 503 (${[...new Set(replies.map(r => r.status))].join(', ')})`)
  t.ok(unavailable.every(r => r.body.code === 'SERVICE_UNAVAILABLE' && Number(r.headers.get('retry-after')) >= 1), 'each 503 is SERVICE_UNAVAILABLE with Retry-After')
  const lastUnavailable = Math.max(killedAt, ...unavailable.map(r => r.at))
  t.ok(after.filter(r => r.at > lastUnavailable).every(r => r.status === 200), 'after the switch, only 200s')
  // Ready again on its own. Not asserted at the first instant: ioredis's failover detector hears the
  // sentinels' +switch-master after a client may already have found the new primary by itself, and then
  // reconnects it once more (a blip of a few milliseconds that a readiness probe can land in).
  for (const gw of gateways) {
    await until(async () => (await api(gw.url, 'GET', '/health/ready', { user: null })).status === 200,
      { timeoutMs: 10_000, intervalMs: 100, message: `${gw.url} to be ready again without a restart` })
    t.pass('ready again without a restart')
  }

  // The run in flight completes once.
  const done = await api(b.url, 'GET', `${path}?wait=30000`, { user })
  t.equal(done.body.status, 'completed', 'the run in flight across the failover completed')
  t.equal((sim.counters()['POST /v1/responses'] ?? 0) - createdBefore, 1, 'with one upstream response: not started twice')

  // Pub/sub after the switch: each change feed subscribed again on the new topology (with Sentinel they
  // all were on the killed primary), and a waiter on one instance learns of the end of a run that the
  // other drives, from the driver's publish on the new topology (heard by the test's own feed too).
  await until(async () => await subscribers() === listening, { timeoutMs: 20_000, message: 'every change feed to subscribe again after the switch' })
  const late = await api(a.url, 'POST', '/api/openai/threads', { user, body: { messages: [{ role: 'user', content: '[slow:2000] After the switch.' }] } })
  const lateRun = await api(a.url, 'POST', `/api/openai/threads/${late.body.id}/runs`, { user, body: { assistant_type: 'mentor', wait: false } })
  t.equal(lateRun.status, 202)
  const driving = await until(async () => {
    const run = await own.getRun(lateRun.body.id)
    return run?.response_ids.length === 1 && run.lease_owner ? run.lease_owner : null
  }, { timeoutMs: 20_000, message: 'the run after the switch to be in flight upstream' })
  const driver = gateways.find(gw => driving.split(':')[1] === String(gw.child.pid))
  t.ok(driver, 'an instance drives the run')
  const waiter = gateways.find(gw => gw !== driver)!
  const waited = await api(waiter.url, 'GET', `/api/openai/threads/${late.body.id}/runs/${lateRun.body.id}?wait=30000`, { user })
  t.equal(waited.body.status, 'completed', 'a waiter on the other instance learns of the run\'s end')
  await until(() => heard.has(lateRun.body.id), { message: 'the run\'s changes to reach a subscriber of before the switch' })

  // New runs, on each instance in turn.
  for (const gw of gateways) {
    const next = await api(gw.url, 'POST', `/api/openai/threads/${thread.body.id}/runs`, { user, body: { assistant_type: 'mentor' } })
    t.equal(next.body.status, 'completed', 'a new run after the failover completes')
  }

  // The ledger and the counters: exactly the usage of the runs that completed, counted once.
  const listed = await Promise.all([thread, busy, late].map(({ body }) => api(a.url, 'GET', `/api/openai/threads/${body.id}/runs?limit=100`, { user })))
  const runs = listed.flatMap(list => list.body.data).filter((r: { status: string }) => r.status === 'completed')
  const tokens = runs.reduce((n: number, r: { usage: { total_tokens: number } }) => n + r.usage.total_tokens, 0)
  for (const gw of gateways) {
    const usage = await api(gw.url, 'GET', '/api/openai/usage', { user })
    t.equal(usage.body.runs, runs.length, `the ledger counts each of the ${runs.length} runs once`)
    t.equal(usage.body.tokens.total, tokens, 'and their tokens once')
    t.equal(usage.body.reserved.tokens, 0, 'no reservation left open')
    t.ok(usage.body.tokens.total <= budget, `within the daily budget (${usage.body.tokens.total} of ${budget})`)
  }
  t.same(sim.nonconforming(), [])

  // Rate limits are counted on the new topology, shared by both instances.
  const onA = await api(a.url, 'GET', '/api/openai/threads', { user: 'rita' })
  const onB = await api(b.url, 'GET', '/api/openai/threads', { user: 'rita' })
  t.equal(Number(onA.headers.get('x-ratelimit-remaining')) - Number(onB.headers.get('x-ratelimit-remaining')), 1,
    'one shared rate-limit counter across the instances after the failover')

  const switchMs = Math.round(lastUnavailable - killedAt)
  t.comment(`primary killed: ${unavailable.length} of ${after.length} requests answered 503 over ${switchMs} ms, then 200`)
  return { switchMs, unavailable: unavailable.length, answered: after.length }
}

async function countSubscribers (port: number, channel: string): Promise<number> {
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  redis.on('error', () => {})
  try {
    await redis.connect()
    const [, count] = await redis.call('PUBSUB', 'NUMSUB', channel) as [string, number]
    return count
  } catch {
    return 0
  } finally {
    redis.disconnect()
  }
}
