import { randomBytes } from 'node:crypto'
import t from 'tap'
import { startSim } from '../helpers/build.ts'
import { api, redisOrSkip, startRedis, startRedisGateways } from '../helpers/redis.ts'

const SECRET = `whsec_${randomBytes(24).toString('base64')}`

if (redisOrSkip(t)) {
  t.test('a response.completed webhook received by instance B wakes the run instance A drives', async t => {
    const sim = await startSim(t)
    const redis = await startRedis(t)
    // No stream for any round, and no fallback read within the run's wait: only the webhook can end it in time.
    const [a, b] = await startRedisGateways(t, sim, redis, 2, {
      OPENAI_WEBHOOK_SECRET: SECRET, RUN_MAX_UPSTREAM_STREAMS: '0', RUN_WEBHOOK_POLL_MS: '60000', RUN_WAIT_TIMEOUT_MS: '20000'
    })
    sim.configure({ webhooks: { url: `${b.url}/webhooks/openai`, secret: SECRET, backoffMs: 20, maxBackoffMs: 100 } })

    const thread = await api(a.url, 'POST', '/api/openai/threads', { user: 'iris', body: { messages: [{ role: 'user', content: '[slow:300] Hello from A' }] } })
    t.equal(thread.status, 201)
    const run = await api(a.url, 'POST', `/api/openai/threads/${thread.body.id}/runs`, { user: 'iris', body: { assistant_id: 'mentor' } })
    t.equal(run.status, 200, 'A answered the waiting POST …/runs')
    t.equal(run.body.status, 'completed')
    t.equal(sim.counters()['GET /v1/responses/{response_id}'], 1, 'A read the response once, after B heard the webhook')
    await sim.webhooks.idle()
    const deliveries = sim.webhooks.deliveries().filter(d => d.event.type === 'response.completed')
    t.equal(deliveries.length, 1)
    t.same(deliveries[0]!.results, [200], 'delivered to B, which acknowledged it')
    t.same(sim.nonconforming(), [])
  })
}
