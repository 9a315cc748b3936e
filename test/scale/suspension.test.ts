import t from 'tap'
import { startSim } from '../helpers/build.ts'
import { api, redisOrSkip, startRedis, startRedisGateways } from '../helpers/redis.ts'
import { adminToken } from '../helpers/tokens.ts'
import { until } from '../helpers/until.ts'

const admin = { authorization: `Bearer ${adminToken('admin-9')}` }

if (redisOrSkip(t)) {
  t.test('a suspension on one instance refuses the user on the other within a second, and cancels their run driven there', async t => {
    const sim = await startSim(t)
    const redis = await startRedis(t)
    const [a, b] = await startRedisGateways(t, sim, redis, 2)

    // B has served alice (her state is cached there) and drives her run.
    const thread = (await api(b!.url, 'POST', '/api/openai/threads', { body: { messages: [{ role: 'user', content: 'Take your time [slow:20000]' }] } })).body
    const run = (await api(b!.url, 'POST', `/api/openai/threads/${thread.id}/runs`, { body: { assistant_id: 'mentor', wait: false } })).body
    await until(async () => (await api(b!.url, 'GET', `/api/openai/threads/${thread.id}/runs/${run.id}`)).body.status === 'in_progress', { message: 'the run to be in progress on B' })
    t.equal((await api(b!.url, 'GET', '/api/openai/threads')).status, 200)

    const suspended = await api(a!.url, 'POST', '/api/openai/admin/users/alice/suspend', { user: null, headers: admin, body: { reason: 'Two instances' } })
    t.equal(suspended.status, 200)
    const at = performance.now()
    // The cache on B is invalidated through the store's change feed (its TTL is 30 s: only the feed can do this).
    const refused = await until(async () => {
      const res = await api(b!.url, 'GET', '/api/openai/threads')
      return res.status === 403 ? res : null
    }, { timeoutMs: 1000, intervalMs: 20, message: 'instance B to refuse the suspended user within a second' })
    t.comment(`B refused ${Math.round(performance.now() - at)} ms after A answered`)
    t.equal(refused.body.code, 'USER_SUSPENDED')
    t.equal(refused.headers.get('x-should-retry'), 'false')
    t.equal((await api(a!.url, 'POST', '/api/openai/threads', { body: {} })).status, 403, 'and A too')

    await until(async () => (await api(a!.url, 'GET', '/api/openai/admin/users/alice', { user: null, headers: admin })).body.suspended === true, { message: 'the user record' })
    t.equal(sim.counters()['POST /v1/responses/{response_id}/cancel'], 1, 'A cancelled the run upstream')
    await api(a!.url, 'POST', '/api/openai/admin/users/alice/unsuspend', { user: null, headers: admin })
    await until(async () => (await api(b!.url, 'GET', `/api/openai/threads/${thread.id}/runs/${run.id}`)).body.status === 'cancelled',
      { message: 'the run driven by B to end cancelled' })
    t.equal((await api(b!.url, 'GET', '/api/openai/threads')).body.data.length, 1, 'after unsuspension her thread is there')
    t.same(sim.nonconforming(), [])
  })
}
