import t from 'tap'
import { startSim } from '../helpers/build.ts'
import { api, redisOrSkip, startRedis, startRedisGateways } from '../helpers/redis.ts'
import { createRedisStore } from '../../services/store/redis-store.ts'
import { until } from '../helpers/until.ts'

if (redisOrSkip(t)) {
  t.test('Redis stopped and restarted under two instances: 503 fast while down, everything back after, nothing lost', async t => {
    const sim = await startSim(t)
    const redis = await startRedis(t, { appendonly: true })
    const gateways = await startRedisGateways(t, sim, redis, 2, { RUN_LEASE_MS: '1000', RUN_POLL_MAX_MS: '200' })
    const [a, b] = gateways
    const store = await createRedisStore({ url: redis.url })
    t.teardown(() => store.close())

    // Committed before the outage: a thread, a finished run, an idempotent creation.
    const thread = await api(a.url, 'POST', '/api/openai/threads', { user: 'olga', body: { title: 'kept', messages: [{ role: 'user', content: 'Hello' }] } })
    t.equal(thread.status, 201)
    const finished = await api(b.url, 'POST', `/api/openai/threads/${thread.body.id}/runs`, { user: 'olga', body: { assistant_type: 'mentor' } })
    t.equal(finished.body.status, 'completed')
    const keyed = { user: 'olga', body: { title: 'once' }, headers: { 'idempotency-key': 'create-1' } }
    const once = await api(a.url, 'POST', '/api/openai/threads', keyed)
    t.equal(once.status, 201)

    // A run whose upstream response ends while Redis is down.
    const busy = await api(a.url, 'POST', '/api/openai/threads', { user: 'olga', body: { messages: [{ role: 'user', content: '[slow:1500] Busy.' }] } })
    const inFlight = await api(a.url, 'POST', `/api/openai/threads/${busy.body.id}/runs`, { user: 'olga', body: { assistant_type: 'mentor', wait: false } })
    t.equal(inFlight.status, 202)
    const responseId = await until(async () => (await store.getRun(inFlight.body.id))?.response_ids[0], { timeoutMs: 20_000, message: 'the response to be recorded' })

    await redis.stop()
    for (const gw of gateways) {
      const list = await api(gw.url, 'GET', '/api/openai/threads', { user: 'olga', timeoutMs: 5000 })
      t.equal(list.status, 503, 'API requests answer 503 at once, no hang')
      t.equal(list.body.code, 'SERVICE_UNAVAILABLE')
      t.ok(Number(list.headers.get('retry-after')) >= 1, 'with Retry-After')
      const create = await api(gw.url, 'POST', '/api/openai/threads', { user: 'olga', body: { title: 'lost' }, timeoutMs: 5000 })
      t.equal(create.status, 503, 'writes too')
      const anonymous = await api(gw.url, 'GET', '/api/openai/threads', { user: null, timeoutMs: 5000 })
      t.equal(anonymous.status, 503, 'and requests without a token')
      const ready = await api(gw.url, 'GET', '/health/ready', { user: null, timeoutMs: 5000 })
      t.equal(ready.status, 503, 'readiness fails, so the load balancer stops routing here')
      t.equal(ready.body.code, 'SERVICE_UNAVAILABLE')
      t.equal((await api(gw.url, 'GET', '/health/live', { user: null, timeoutMs: 5000 })).status, 200, 'liveness holds: no restart needed')
    }
    await until(() => sim.peek.response(responseId)?.status === 'completed', { timeoutMs: 20_000, message: 'the upstream response to end during the outage' })

    await redis.start()
    for (const gw of gateways) {
      // A request may fail outright while Redis comes back: that is part of the wait.
      const ready = await until(async () => {
        const res = await api(gw.url, 'GET', '/health/ready', { user: null, timeoutMs: 5000 }).catch(() => null)
        return res?.status === 200 ? res : null
      }, { timeoutMs: 20_000, intervalMs: 100, message: 'readiness after the restart' })
      t.same(ready.body, { status: 'ready', store: 'redis', upstream: 'ok' }, 'ready again without a restart')
    }

    const list = await api(b.url, 'GET', '/api/openai/threads?order=asc', { user: 'olga' })
    t.equal(list.status, 200)
    t.same(list.body.data.map((x: { title: string | null }) => x.title), ['kept', 'once', null], 'every committed thread is there, nothing from the outage')
    const run = await api(a.url, 'GET', `/api/openai/threads/${thread.body.id}/runs/${finished.body.id}`, { user: 'olga' })
    t.same(run.body, finished.body, 'the finished run is intact')
    const replay = await api(b.url, 'POST', '/api/openai/threads', keyed)
    t.equal(replay.headers.get('idempotent-replayed'), 'true', 'an idempotency key from before the outage still replays')
    t.equal(replay.body.id, once.body.id)

    const resumed = await api(b.url, 'GET', `/api/openai/threads/${busy.body.id}/runs/${inFlight.body.id}?wait=30000`, { user: 'olga' })
    t.equal(resumed.body.status, 'completed', 'the run in flight during the outage completes after it')
    t.equal(resumed.body.usage.total_tokens, (sim.peek.response(responseId) as unknown as { usage: { total_tokens: number } }).usage.total_tokens)

    const again = await api(b.url, 'POST', `/api/openai/threads/${thread.body.id}/runs`, { user: 'olga', body: { assistant_type: 'mentor' } })
    t.equal(again.body.status, 'completed', 'new runs work')
    const usage = await api(a.url, 'GET', '/api/openai/usage', { user: 'olga' })
    t.equal(usage.body.runs, 3, 'each run counted once in the ledger')
    t.equal(usage.body.tokens.total, finished.body.usage.total_tokens + resumed.body.usage.total_tokens + again.body.usage.total_tokens)
    t.same(sim.nonconforming(), [])
  })
}
