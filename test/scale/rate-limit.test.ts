import t from 'tap'
import { api, redisOrSkip, startRedisGateways } from '../helpers/redis.ts'
import { scaleRedis } from '../helpers/redis-topologies.ts'

if (redisOrSkip(t)) {
  t.test('a rate limit of L admits at most L requests across three instances', async t => {
    const redis = await scaleRedis(t)
    const limit = 12
    const gateways = await startRedisGateways(t, { url: 'http://127.0.0.1:9/v1' }, redis, 3, { RATE_LIMIT_MAX: String(limit) })

    // Three times the limit, spread round-robin over the instances and sent at once.
    const replies = await Promise.all(Array.from({ length: limit * 3 }, (_, i) =>
      api(gateways[i % 3].url, 'GET', '/api/openai/threads', { user: 'alice' })))
    const ok = replies.filter(r => r.status === 200)
    const limited = replies.filter(r => r.status === 429)
    t.equal(ok.length, limit, 'exactly L requests are admitted in total')
    t.equal(limited.length, limit * 2, 'every other one is refused')
    t.ok(limited.every(r => r.body.code === 'RATE_LIMITED' && Number(r.headers.get('retry-after')) >= 1), '429 RATE_LIMITED with Retry-After')
    for (const gw of gateways) {
      const res = await api(gw.url, 'GET', '/api/openai/threads', { user: 'alice' })
      t.equal(res.status, 429, 'every instance now refuses alice')
    }
    t.equal((await api(gateways[1].url, 'GET', '/api/openai/threads', { user: 'bob' })).status, 200, 'another user has their own budget of requests')
  })
}
