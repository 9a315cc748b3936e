import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { build, startSim, tempDir } from '../helpers/build.ts'
import { adminToken, bearer, userToken } from '../helpers/tokens.ts'
import { form } from '../fixtures/form.ts'
import { wav } from '../fixtures/samples.ts'
import { safetyIdentifierOf } from '../../services/users/identities.ts'

const KEY = 'safety-identifier-key-for-tests'

async function turn (app: FastifyInstance, user: string, content: string, assistant = 'mentor', extra: object = {}) {
  const headers = bearer(userToken(user))
  const thread = (await app.inject({ method: 'POST', url: '/api/openai/threads', headers, payload: { messages: [{ role: 'user', content }] } })).json()
  const run = await app.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}/runs`, headers, payload: { assistant_id: assistant, ...extra } })
  return { thread, status: run.statusCode }
}

t.test('every upstream response carries the user\'s safety identifier (a keyed hash, never the id) and the profile\'s prompt cache key', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim, { env: { SAFETY_IDENTIFIER_KEY: KEY } })
  const users = ['alice', 'bob@example.com', 'auth0|5f2a']
  for (const user of users) {
    await turn(app, user, 'Hello [call:get_current_time {}]', 'curator')
    await turn(app, user, 'Hello again', 'mentor', { stream: true })
  }
  const log = sim.requestLog()
  t.ok(log.length >= users.length * 3, `${log.length} upstream responses, tool rounds and streams included`)
  for (const entry of log) {
    t.ok(entry.safety_identifier, 'a safety_identifier on every request')
    t.ok(entry.safety_identifier!.length <= 64, 'within the API\'s 64 characters')
    t.notOk(users.some(u => entry.safety_identifier!.includes(u)), 'never the raw user id')
    t.equal(entry.user, null, 'the deprecated user field is not sent')
  }
  const byConversation = new Map(log.map(e => [e.conversation, e.safety_identifier]))
  const threads = (user: string) => app.inject({ url: '/api/openai/threads', headers: bearer(userToken(user)) }).then(r => r.json().data.map((th: { id: string }) => th.id))
  for (const user of users) {
    const ids = new Set((await threads(user)).map((id: string) => byConversation.get(id)))
    t.same([...ids], [safetyIdentifierOf(KEY, user)], `${user}: one stable identifier, the HMAC of the id under SAFETY_IDENTIFIER_KEY`)
  }
  t.equal(new Set(log.map(e => e.safety_identifier)).size, users.length, 'one identifier per user')

  const keys = (model: string) => new Set(log.filter(e => e.model === model).map(e => e.prompt_cache_key))
  t.equal(keys('gpt-4.1-mini').size, 1, 'the curator\'s prefix has one cache key, shared by every user')
  t.equal(keys('gpt-4.1').size, 1, 'so has the mentor\'s')
  t.not([...keys('gpt-4.1-mini')][0], [...keys('gpt-4.1')][0], 'and the two profiles\' keys differ')
  t.match([...keys('gpt-4.1')][0], /^agw:mentor:[\w-]{16}$/)

  const before = [...keys('gpt-4.1')][0]
  const mentor = (await app.inject({ url: '/api/openai/assistants/mentor', headers: bearer(adminToken()) })).json()
  await app.inject({
    method: 'PUT',
    url: '/api/openai/assistants/mentor',
    headers: bearer(adminToken()),
    payload: { name: mentor.name, model: mentor.model, instructions: `${mentor.instructions} Be brief.`, max_output_tokens: mentor.max_output_tokens }
  })
  await turn(app, 'alice', 'After the change')
  t.not(sim.requestLog().at(-1)!.prompt_cache_key, before, 'a new prefix (instructions changed) gets a new key')
  t.same(sim.nonconforming(), [])
})

t.test('the reverse index maps an identifier back to its user; PROMPT_CACHE_SHARDS spreads a profile over keys per user', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim, { env: { PROMPT_CACHE_SHARDS: '4' } })
  const users = Array.from({ length: 12 }, (_, i) => `student-${i}`)
  for (const user of users) await turn(app, user, 'Hi')
  const log = sim.requestLog()
  for (const [i, user] of users.entries()) {
    t.equal(await app.identities.userOf(log[i]!.safety_identifier!), user, `${user} is found from the identifier OpenAI would name`)
  }
  t.equal(await app.identities.userOf('sid_never-issued'), null)
  const shards = new Set(log.map(e => e.prompt_cache_key))
  t.ok(shards.size > 1 && shards.size <= 4, `${shards.size} keys for one profile`)
  t.ok([...shards].every(k => /^agw:mentor:[\w-]{16}:[0-3]$/.test(k!)))
  await turn(app, users[0]!, 'Again')
  t.equal(sim.requestLog().at(-1)!.prompt_cache_key, log[0]!.prompt_cache_key, 'a user keeps their shard')
})

t.test('transcriptions carry no safety identifier: the spec\'s CreateTranscriptionRequest has none (the simulator would refuse it)', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim)
  const body = form([{ name: 'audio', filename: 'a.wav', type: 'audio/wav', data: wav({ seconds: 1 }) }])
  const res = await app.inject({ method: 'POST', url: '/api/openai/audio/transcriptions', headers: { ...bearer(userToken('alice')), ...body.headers }, payload: body.payload })
  t.equal(res.statusCode, 200)
  t.equal(sim.counters()['POST /v1/audio/transcriptions'], 1)
  t.same(sim.nonconforming(), [], 'conforming: no safety_identifier, no user field')
})

t.test('one user\'s first turn writes the profile\'s prefix to the cache, another user\'s reads it; usage and the ledger price both from the table', async t => {
  const prices = join(tempDir(t), 'prices.json')
  writeFileSync(prices, JSON.stringify({
    updated: '2026-12-01',
    currency: 'USD',
    models: { 'gpt-4.1': { input: 2, cached_input: 0.5, cache_write_input: 2.5, output: 8 } }
  }))
  // A prefix of a few dozen tokens is cached here (OpenAI's minimum is 1024).
  const sim = await startSim(t, { promptCacheMinTokens: 10 })
  const app = await build(t, sim, { env: { PRICES_FILE: prices } })
  const first = await turn(app, 'alice', 'First')
  const second = await turn(app, 'bob', 'Second')
  t.equal(first.status, 200)
  t.equal(second.status, 200)
  type WireUsage = { input_tokens: number, output_tokens: number, input_tokens_details: { cached_tokens: number, cache_write_tokens: number } }
  const [written, read] = sim.requestLog().map(e => sim.peek.response(e.response_id!)!.usage as WireUsage)
  const details = (u: WireUsage | undefined) => u!.input_tokens_details
  t.ok(details(written).cache_write_tokens > 0 && details(written).cached_tokens === 0, 'alice\'s turn wrote the prefix')
  t.equal(details(read).cached_tokens, details(written).cache_write_tokens, 'bob\'s read it: the key is the profile\'s, not the user\'s')

  const cost = (u: WireUsage | undefined) => {
    const d = details(u)
    return ((u!.input_tokens - d.cached_tokens - d.cache_write_tokens) * 2 + d.cached_tokens * 0.5 + d.cache_write_tokens * 2.5 + u!.output_tokens * 8) / 1e6
  }
  const report = (await app.inject({ url: '/api/openai/admin/usage', headers: bearer(adminToken()) })).json()
  const of = (user: string) => report.users.find((u: { user: string }) => u.user === user)
  t.match(of('alice'), { cache_write_tokens: details(written).cache_write_tokens, cached_tokens: 0 })
  t.match(of('bob'), { cached_tokens: details(read).cached_tokens, cache_write_tokens: 0 })
  t.equal(of('alice').cost_usd, Math.round(cost(written) * 1e6) / 1e6, 'a cache write at cache_write_input')
  t.equal(of('bob').cost_usd, Math.round(cost(read) * 1e6) / 1e6, 'a cached read at cached_input')
  t.ok(of('bob').cost_usd < of('alice').cost_usd)
  const usage = (await app.inject({ url: '/api/openai/usage', headers: bearer(userToken('alice')) })).json()
  t.match(usage.tokens, { cached: 0, cache_write: details(written).cache_write_tokens })
  t.same(sim.nonconforming(), [])
})
