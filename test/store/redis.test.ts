import t from 'tap'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { Redis } from 'ioredis'
import { isGatewayError, StoreUnavailable } from '../../services/errors.ts'
import { createRedisStore } from '../../services/store/redis-store.ts'
import { newRunRecord } from '../../services/store/records.ts'
import type { RunRecord, Store } from '../../services/store/types.ts'
import { build } from '../helpers/build.ts'
import { bearer, userToken } from '../helpers/tokens.ts'
import { redisOrSkip, startRedis } from '../helpers/redis.ts'
import { until } from '../helpers/until.ts'
import { storeContract } from './contract.ts'

/** Deletes every key under the prefix. */
async function dropPrefix (url: string, prefix: string): Promise<void> {
  const admin = new Redis(url, { lazyConnect: true })
  await admin.connect()
  let cursor = '0'
  do {
    const [next, found] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    cursor = next
    if (found.length > 0) await admin.del(...found)
  } while (cursor !== '0')
  await admin.quit()
}

async function keysUnder (url: string, prefix: string): Promise<string[]> {
  const admin = new Redis(url)
  const found = await admin.keys(`${prefix}*`)
  await admin.quit()
  return found.sort()
}

const run = (id: string, threadId: string, extra: Partial<RunRecord> = {}): RunRecord => newRunRecord({
  id,
  thread_id: threadId,
  owner: 'alice',
  assistant_type: 'curator',
  assistant_version: 1,
  model: 'gpt-test',
  created_at: 1,
  deadline_at: Date.now() + 600_000,
  ...extra
})

if (redisOrSkip(t)) {
  const redis = await startRedis(t)

  await storeContract(t, 'redis', async ({ clock, log }) => {
    // A fresh, empty store is a fresh key prefix on the shared server.
    const keyPrefix = `agw-test-${randomBytes(6).toString('hex')}:`
    return {
      store: await createRedisStore({ url: redis.url, clock, keyPrefix, log }),
      reopen: async () => createRedisStore({ url: redis.url, clock, keyPrefix, log }),
      cleanup: async () => dropPrefix(redis.url, keyPrefix)
    }
  })

  t.test('keys are namespaced, and expiring data carries a TTL', async t => {
    const keyPrefix = `ns-${randomBytes(4).toString('hex')}:`
    const store = await createRedisStore({ url: redis.url, keyPrefix })
    t.teardown(() => store.close())
    await store.createThread({ id: 'th_1', owner: 'a:b', title: null, metadata: {}, created_at: 1, updated_at: 1, token_estimate: 0, turn_tokens: 0, revision: 0 })
    await store.createThread({ id: 'th_2', owner: 'a', title: null, metadata: {}, created_at: 1, updated_at: 1, token_estimate: 0, turn_tokens: 0, revision: 0 })
    t.same((await store.listThreads('a', { limit: 10, order: 'asc' })).data.map(x => x.id), ['th_2'], 'an owner containing ":" is no other owner')
    await store.claimIdempotency('alice', 'k1', 'fp', 60_000, 10_000)
    await store.lockThread('k', 'h', 5000)
    await store.reserveBudget({ id: 'r1', day: '2030-01-01', user: 'alice', assistant: 'curator', tokens: 5, audio_seconds: 0, expires_at: Date.now() + 1000 },
      { userTokens: 0, globalTokens: 0, userAudioSeconds: 0, assistantTokens: 0 })
    await store.recordUsage('u1', { day: '2030-01-01', user: 'alice', assistant: 'curator', model: 'm', input_tokens: 1, cached_tokens: 0, cache_write_tokens: 0, output_tokens: 1, reasoning_tokens: 0, total_tokens: 2, audio_seconds: 0, runs: 1, cost_usd: 0 })
    // The change feed's channel is under the prefix too, and createRun publishes on it from its script.
    const listener = new Redis(redis.url)
    t.teardown(() => listener.quit())
    await listener.subscribe(`${keyPrefix}changes:run`)
    const message = once(listener, 'message')
    t.same(await store.createRun(run('run_ns', 'th_1'), { maxActivePerUser: 5, threadLockTtlMs: 60_000 }), { ok: true })
    t.same(await message, [`${keyPrefix}changes:run`, 'run_ns'], 'a run write is published on the prefixed channel')

    const found = await keysUnder(redis.url, keyPrefix)
    t.ok(found.length > 0 && found.every(k => k.startsWith(keyPrefix)))
    t.equal((await keysUnder(redis.url, 'agw:')).length, 0, 'nothing under the default prefix')

    const admin = new Redis(redis.url)
    t.teardown(() => admin.quit())
    const ttl = async (key: string) => admin.pttl(`${keyPrefix}${key}`)
    const idemTtl = await ttl('idem:5:alice:k1')
    t.ok(idemTtl > 60_000 && idemTtl <= 120_000, `an idempotency claim expires after its ttl plus slack (${idemTtl})`)
    const lockTtl = await ttl('lock:thread:k')
    t.ok(lockTtl > 5000 && lockTtl <= 65_000, `a lock key expires after its ttl plus slack (${lockTtl})`)
    t.ok(await ttl('usage-id:u1') > 86_400_000, 'usage ids are remembered for days')
    t.ok(await ttl('budget:2030-01-01') > 86_400_000, 'budget counters expire, weeks after their day')
    t.equal(await ttl('thread:th_1'), -1, 'threads do not expire')
    t.equal(await ttl('ledger:10:2030-01-01:alice'), -1, 'nor does the ledger')
    t.equal(await ttl('reservation:r1'), -1, 'an open reservation is released by the sweeper (it holds counts), not by a TTL')

    t.equal(await store.unlockThread('k', 'h'), true)
    t.equal(await admin.exists(`${keyPrefix}lock:thread:k`), 0, 'a released lock leaves no key behind')
    t.ok(await store.lockThread('k', 'h2', 5000), 'and is taken again')
    await dropPrefix(redis.url, keyPrefix)
  })

  t.test('a Redis that goes away: fast StoreUnavailable, then recovery without a new handle', async t => {
    const own = await startRedis(t, { appendonly: true })
    const store = await createRedisStore({ url: own.url })
    t.teardown(() => store.close())
    await store.createThread({ id: 'th_1', owner: 'alice', title: 'kept', metadata: {}, created_at: 1, updated_at: 1, token_estimate: 0, turn_tokens: 0, revision: 0 })
    t.same(await store.createRun(run('run_1', 'th_1'), { maxActivePerUser: 5, threadLockTtlMs: 60_000 }), { ok: true })

    await own.stop()
    for (const op of [() => store.ping(), () => store.getThread('th_1'), () => store.createRun(run('run_2', 'th_2'), { maxActivePerUser: 5, threadLockTtlMs: 60_000 })]) {
      const err = await op().then(() => null, (e: unknown) => e)
      t.ok(err instanceof StoreUnavailable, 'a store error, recognisable')
      t.ok(isGatewayError(err) && err.statusCode === 503 && err.code === 'SERVICE_UNAVAILABLE' && err.retryAfterSeconds! > 0, '503 with Retry-After')
    }

    await own.start()
    let answered = false
    for (let i = 0; i < 100 && !answered; i++) {
      answered = await store.ping().then(() => true, () => false)
      if (!answered) await new Promise(resolve => setTimeout(resolve, 100))
    }
    t.ok(answered, 'the same handle reconnects on its own')
    t.match(await store.getThread('th_1'), { title: 'kept' }, 'committed data survived the restart (AOF)')
    t.same(await store.createRun(run('run_3', 'th_1'), { maxActivePerUser: 5, threadLockTtlMs: 60_000 }), { ok: false, reason: 'thread_busy' },
      'locks survived too')
    t.same(await store.createRun(run('run_4', 'th_4'), { maxActivePerUser: 5, threadLockTtlMs: 60_000 }), { ok: true }, 'and writes work again')
  })

  t.test('the change feed: one subscriber connection per store, resubscribed after a restart (onResync), commands still fail fast', async t => {
    const own = await startRedis(t)
    const store = await createRedisStore({ url: own.url })
    const other = await createRedisStore({ url: own.url })
    const admin = new Redis(own.url)
    t.teardown(async () => {
      await Promise.all([store.close(), other.close()])
      admin.disconnect()
    })
    const feeds = async () => (await admin.client('LIST') as string).split('\n').filter(line => line.includes('name=agw-store-changes')).length
    t.equal(await feeds(), 0, 'no subscriber connection before the first subscribe')

    let resyncs = 0
    store.changes.onResync(() => { resyncs++ })
    const heard: string[] = []
    store.changes.subscribe('run', id => { heard.push(id) })
    store.changes.subscribe('run', () => {})
    store.changes.subscribe('user', () => {})
    await until(() => resyncs === 1, { message: 'the feed to subscribe' })
    t.equal(await feeds(), 1, 'one subscriber connection for every listener of the store')
    await other.changes.publish('run', 'run_1')
    await until(() => heard.includes('run_1'), { message: 'a publish from another instance' })

    await own.stop()
    const err = await store.getThread('th_1').then(() => null, (e: unknown) => e)
    t.ok(err instanceof StoreUnavailable, 'commands still fail fast while the feed is away')
    await t.rejects(store.changes.publish('run', 'run_2'), StoreUnavailable, 'and so does a publish')

    await own.start()
    await until(() => resyncs === 2, { message: 'onResync after the feed resubscribed', timeoutMs: 20_000 })
    await until(() => other.ping().then(() => true, () => false), { message: 'the other instance to reconnect' })
    await other.changes.publish('run', 'run_3')
    await until(() => heard.includes('run_3'), { message: 'a publish after the restart' })
    t.same(heard, ['run_1', 'run_3'])

    await store.close()
    await until(async () => await feeds() === 0, { message: 'the subscriber connection to close with the store' })
  })

  t.test('a Redis that stops answering fails commands instead of hanging', async t => {
    const own = await startRedis(t)
    const store: Store = await createRedisStore({ url: own.url })
    t.teardown(async () => {
      own.resume()
      await store.close()
    })
    own.pause()
    const err = await store.getThread('th_1').then(() => null, (e: unknown) => e)
    t.ok(err instanceof StoreUnavailable, 'the command timed out into a StoreUnavailable')
    own.resume()
    let answered = false
    for (let i = 0; i < 100 && !answered; i++) {
      answered = await store.ping().then(() => true, () => false)
      if (!answered) await new Promise(resolve => setTimeout(resolve, 100))
    }
    t.ok(answered, 'answers again once Redis does')
  })

  t.test('start-up: an unreachable Redis is a clear error without credentials', async t => {
    const own = await startRedis(t)
    await own.stop()
    const err = await createRedisStore({ url: `redis://user:s3cret@127.0.0.1:${own.port}/2`, connectWaitMs: 500 }).then(() => null, (e: Error) => e)
    t.match(err?.message, /^Redis at redis:\/\/127\.0\.0\.1:\d+\/2 did not answer within 500 ms/)
    t.notMatch(err?.message, /s3cret|user/, 'credentials stay out of the message')
  })

  t.test('the gateway answers 503 SERVICE_UNAVAILABLE when its Redis store fails, never a 500', async t => {
    const own = await startRedis(t)
    const store = await createRedisStore({ url: own.url })
    t.teardown(() => store.close())
    // Rate limits in memory, so the request reaches the store.
    const app = await build(t, null, { store })
    const headers = bearer(userToken('alice'))
    t.equal((await app.inject({ url: '/api/openai/threads', headers })).statusCode, 200)
    await own.stop()
    const res = await app.inject({ url: '/api/openai/threads', headers })
    t.equal(res.statusCode, 503)
    t.match(res.json(), { statusCode: 503, code: 'SERVICE_UNAVAILABLE', message: /store is not answering/ })
    t.equal(res.headers['retry-after'], '2')
    t.equal((await app.inject({ url: '/health/ready' })).statusCode, 503)
  })
}
