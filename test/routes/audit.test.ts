import t from 'tap'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import { build, startSim, tempDir } from '../helpers/build.ts'
import { redisOrSkip, startRedis } from '../helpers/redis.ts'
import { adminToken, bearer, userToken } from '../helpers/tokens.ts'

const PROFILE = { name: 'Quizzer', model: 'gpt-4.1-mini', instructions: 'Ask one question at a time.', max_output_tokens: 500 }

async function adminWrites (app: FastifyInstance, admin: string, n: number) {
  const headers = bearer(adminToken(admin))
  for (let i = 0; i < n; i++) {
    const res = await app.inject({ method: 'PUT', url: `/api/openai/assistants/quiz-${admin}-${i}`, headers, payload: { ...PROFILE, daily_token_cap: 1000 + i } })
    if (res.statusCode !== 200) throw new Error(res.body)
  }
}

const verify = async (app: FastifyInstance) => (await app.inject({ url: '/api/openai/admin/audit/verify', headers: bearer(adminToken()) })).json()

t.test('every admin write is audited: who, what, when, target, request id; listed newest first with filters; admins only', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim)
  const ada = bearer(adminToken('ada'))
  const ben = bearer(adminToken('ben'))
  t.same(await verify(app), { valid: true, entries: 0, first_bad_id: null, last_hash: null }, 'an empty trail is valid')

  const created = await app.inject({ method: 'POST', url: '/api/openai/assistants', headers: { ...ada, 'x-request-id': 'req-create' }, payload: { id: 'tutor', model: 'gpt-4.1', instructions: 'Teach.' } })
  t.equal(created.statusCode, 200)
  await app.inject({ method: 'POST', url: '/api/openai/assistants/tutor', headers: ben, payload: { daily_token_cap: 50_000, max_output_tokens: 800 } })
  await app.inject({ method: 'PUT', url: '/api/openai/assistants/quiz', headers: ada, payload: PROFILE })
  await app.inject({ method: 'DELETE', url: '/api/openai/assistants/quiz', headers: ben })
  await app.inject({ method: 'POST', url: '/api/openai/admin/users/zed/suspend', headers: ada, payload: { reason: 'spam' } })
  await app.inject({ method: 'POST', url: '/api/openai/admin/users/zed/unsuspend', headers: ben })
  t.equal((await app.inject({ method: 'PUT', url: '/api/openai/assistants/nope', headers: ada, payload: { ...PROFILE, tools: ['no_such_tool'] } })).statusCode, 400)

  const list = await app.inject({ url: '/api/openai/admin/audit', headers: ada })
  t.equal(list.statusCode, 200)
  const entries = list.json().data
  t.same(entries.map((e: { action: string }) => e.action),
    ['user.unsuspend', 'user.suspend', 'assistant.delete', 'assistant.put', 'assistant.update', 'assistant.create'], 'newest first; a refused write is not an entry')
  t.match(entries.at(-1), {
    id: 'aud_1',
    object: 'audit.entry',
    seq: 1,
    actor: 'ada',
    action: 'assistant.create',
    target: 'tutor',
    request_id: 'req-create',
    details: { version: 1, model: 'gpt-4.1', daily_token_cap: 0, profile_sha256: /^[0-9a-f]{64}$/ },
    prev_hash: '0'.repeat(64),
    hash: /^[0-9a-f]{64}$/
  })
  t.match(entries[4], { actor: 'ben', target: 'tutor', details: { version: 2, daily_token_cap: 50_000, max_output_tokens: 800 } },
    'a budget change (the assistant\'s daily cap) says what it became')
  t.ok(['daily_token_cap', 'max_output_tokens'].every(f => entries[4].details.fields.includes(f)), 'and which fields the request set')
  t.ok(entries.every((e: { created_at: number }) => Math.abs(e.created_at - Date.now() / 1000) < 60), 'when, in Unix seconds')
  t.ok(entries.every((e: { prev_hash: string }, i: number) => i === entries.length - 1 || e.prev_hash === entries[i + 1].hash), 'each entry chained to the one before')

  const byBen = (await app.inject({ url: '/api/openai/admin/audit?actor=ben', headers: ada })).json().data
  t.same(byBen.map((e: { action: string }) => e.action), ['user.unsuspend', 'assistant.delete', 'assistant.update'])
  t.same((await app.inject({ url: '/api/openai/admin/audit?action=user.suspend', headers: ada })).json().data.map((e: { target: string }) => e.target), ['zed'])
  t.same((await app.inject({ url: `/api/openai/admin/audit?since=${Math.floor(Date.now() / 1000) + 3600}`, headers: ada })).json().data, [])
  const first = (await app.inject({ url: '/api/openai/admin/audit?limit=4&order=asc', headers: ada })).json()
  t.match(first, { has_more: true, first_id: 'aud_1', last_id: 'aud_4' })
  const second = (await app.inject({ url: '/api/openai/admin/audit?limit=4&order=asc&after=aud_4', headers: ada })).json()
  t.match(second, { has_more: false, first_id: 'aud_5', last_id: 'aud_6' })
  const back = (await app.inject({ url: '/api/openai/admin/audit?limit=2&order=asc&before=aud_5', headers: ada })).json()
  t.match(back, { first_id: 'aud_3', last_id: 'aud_4', has_more: true }, 'before turns the page back')
  t.equal((await app.inject({ url: '/api/openai/admin/audit?action=Not%20An%20Action', headers: ada })).statusCode, 400)

  t.equal((await app.inject({ url: '/api/openai/admin/audit', headers: bearer(userToken('mallory')) })).statusCode, 403)
  t.equal((await app.inject({ url: '/api/openai/admin/audit/verify', headers: bearer(userToken('mallory')) })).statusCode, 403)
  t.match(await verify(app), { valid: true, entries: 6, first_bad_id: null, last_hash: entries[0].hash })
  t.same(sim.nonconforming(), [])
})

t.test('SQLite: the log refuses changes through SQL; an entry altered or removed behind the triggers\' back is reported by verify', async t => {
  const path = join(tempDir(t), 'gateway.db')
  const app = await build(t, null, { env: { SQLITE_PATH: path } })
  await adminWrites(app, 'ada', 5)
  t.match(await verify(app), { valid: true, entries: 5 })

  const db = new DatabaseSync(path)
  t.teardown(() => db.close())
  t.throws(() => db.exec("UPDATE audit_log SET actor = 'eve' WHERE seq = 3"), /append-only/, 'an UPDATE is refused')
  t.throws(() => db.exec('DELETE FROM audit_log WHERE seq = 5'), /append-only/, 'a DELETE too')

  db.exec('DROP TRIGGER audit_log_no_update')
  db.exec("UPDATE audit_log SET details = replace(details, '1003', '9003') WHERE seq = 4")
  t.same(await verify(app), { valid: false, entries: 3, first_bad_id: 'aud_4', last_hash: (await app.store.auditHead())!.hash }, 'an edited entry is named')

  db.exec("UPDATE audit_log SET details = replace(details, '9003', '1003') WHERE seq = 4")
  t.match(await verify(app), { valid: true, entries: 5 }, 'put back, the chain holds again')
  db.exec('DROP TRIGGER audit_log_no_delete')
  db.exec('DELETE FROM audit_log WHERE seq = 2')
  t.match(await verify(app), { valid: false, entries: 1, first_bad_id: 'aud_2' }, 'a removed entry is named')
})

if (redisOrSkip(t)) {
  t.test('Redis: two instances appending at once keep one valid chain; an entry altered in Redis is reported', async t => {
    const redis = await startRedis(t)
    const env = { STORE: 'redis', REDIS_URL: redis.url, RATE_LIMIT_MAX: '10000' }
    const [one, two] = await Promise.all([build(t, null, { env }), build(t, null, { env })])
    await Promise.all([adminWrites(one, 'ada', 12), adminWrites(two, 'ben', 12), adminWrites(one, 'cy', 12), adminWrites(two, 'di', 12)])
    const checked = await verify(two)
    t.match(checked, { valid: true, entries: 48, first_bad_id: null })
    const listed = (await one.inject({ url: '/api/openai/admin/audit?limit=100', headers: bearer(adminToken()) })).json().data
    t.same(listed.map((e: { seq: number }) => e.seq), Array.from({ length: 48 }, (_, i) => 48 - i), 'no seq twice, none missing')

    const raw = new Redis(redis.url)
    t.teardown(() => raw.quit())
    const stored = JSON.parse((await raw.hget('agw:audit-entries', '17'))!)
    await raw.hset('agw:audit-entries', '17', JSON.stringify({ ...stored, actor: 'someone-else' }))
    t.match(await verify(one), { valid: false, entries: 16, first_bad_id: 'aud_17' }, 'an edited entry is named')
    await raw.hset('agw:audit-entries', '17', JSON.stringify(stored))
    t.match(await verify(one), { valid: true, entries: 48 })
    await raw.hdel('agw:audit-entries', '48')
    t.match(await verify(one), { valid: false, entries: 47, first_bad_id: 'aud_48' }, 'a removed last entry is named (the head remembers it)')
  })
}
