import t from 'tap'
import { build, startSim, SIM_KEY } from '../helpers/build.ts'
import { bearer, userToken } from '../helpers/tokens.ts'

const auth = bearer(userToken('alice'))
const createThread = { method: 'POST' as const, url: '/api/openai/threads', headers: auth, payload: { title: 'x' } }

t.test('validation errors are 400 VALIDATION_FAILED naming the field', async t => {
  const app = await build(t, null)
  const cases: Array<[unknown, RegExp]> = [
    [{ title: 'x'.repeat(300) }, /^body\.title must NOT have more than 256 characters$/],
    [{ bogus: 1 }, /^body\.bogus is not allowed$/],
    [{ metadata: { k: 5 } }, /^body\.metadata\.k must be string$/],
    [{ metadata: { ['k'.repeat(65)]: 'v' } }, /^body\.metadata keys must NOT have more than 64 characters$/],
    [{ metadata: { '': 'v' } }, /^body\.metadata keys must NOT have fewer than 1 characters$/],
    [{ messages: [{ role: 'system', content: 'hi' }] }, /^body\.messages\.0\.role must be one of "user", "assistant"$/],
    [{ messages: Array.from({ length: 21 }, () => ({ role: 'user', content: 'hi' })) }, /^body\.messages must NOT have more than 20 items$/]
  ]
  for (const [payload, message] of cases) {
    const res = await app.inject({ ...createThread, payload: payload as object })
    t.equal(res.statusCode, 400)
    const body = res.json()
    t.equal(body.code, 'VALIDATION_FAILED')
    t.match(body.error, { type: 'invalid_request_error', code: 'VALIDATION_FAILED', message: body.message })
    t.match(body.message, message)
    t.type(body.requestId, 'string')
  }
  const badQuery = await app.inject({ url: '/api/openai/threads?limit=500', headers: auth })
  t.equal(badQuery.statusCode, 400)
  t.match(badQuery.json().message, /^querystring\.limit must be <= 100$/)
  const badId = await app.inject({ url: '/api/openai/threads/bad$id', headers: auth })
  t.equal(badId.statusCode, 400)
  t.match(badId.json().message, /^params\.threadId must match pattern/)
})

t.test('ids over 256 characters get the contract\'s error, after authentication and the rate limit, without the URL echoed', async t => {
  const app = await build(t, null, { env: { RATE_LIMIT_MAX: '4' } })
  const long = 'a'.repeat(300)
  const urls = [`/api/openai/threads/${long}`, `/api/openai/threads/${long}/messages`, `/api/openai/threads/conv_1/messages/${long}`, `/api/openai/files/${long}`]
  for (const url of urls.slice(0, 3)) {
    const res = await app.inject({ url, headers: { ...auth, 'x-request-id': 'req-long-id' } })
    t.equal(res.statusCode, 400, url.slice(0, 40))
    const body = res.json()
    t.equal(body.code, 'VALIDATION_FAILED')
    t.match(body.message, /^params\.\w+ must NOT have more than 128 characters$/)
    t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'requestId', 'statusCode'])
    t.equal(res.headers['x-request-id'], 'req-long-id')
    t.equal(body.requestId, 'req-long-id')
    t.ok(res.headers['x-ratelimit-limit'], 'counted by the rate limit')
    t.notOk(res.body.includes(long), 'the id is not echoed')
  }
  const anonymous = await app.inject({ url: urls[3]! })
  t.equal(anonymous.statusCode, 401, 'no token: refused before anything else')
  t.equal(anonymous.json().code, 'UNAUTHORIZED')
  const limited = await app.inject({ url: urls[3]!, headers: auth })
  const over = await app.inject({ url: urls[3]!, headers: auth })
  t.equal(limited.statusCode, 400)
  t.equal(over.statusCode, 429, 'long ids count against RATE_LIMIT_MAX like any request')
  t.equal(over.json().code, 'RATE_LIMITED')

  const unknown = await app.inject({ url: `/nowhere/${'b'.repeat(5000)}` })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().code, 'NOT_FOUND')
  t.ok(unknown.headers['x-request-id'])
  t.ok(unknown.body.length < 1024, 'an unknown URL is not echoed at length')
})

t.test('malformed bodies: bad JSON, wrong content type, too large', async t => {
  const app = await build(t, null, { env: { BODY_LIMIT_BYTES: '2048' } })
  const badJson = await app.inject({ method: 'POST', url: '/api/openai/threads', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"title":' })
  t.equal(badJson.statusCode, 400)
  t.equal(badJson.json().code, 'VALIDATION_FAILED')
  t.match(badJson.json().message, /not valid JSON/)
  const text = await app.inject({ method: 'POST', url: '/api/openai/threads', headers: { ...auth, 'content-type': 'text/plain' }, payload: 'hello' })
  t.equal(text.statusCode, 415)
  t.equal(text.json().code, 'UNSUPPORTED_MEDIA_TYPE')
  const large = await app.inject({ method: 'POST', url: '/api/openai/threads', headers: auth, payload: { title: 'x', metadata: { k: 'v'.repeat(500), l: 'v'.repeat(500), m: 'v'.repeat(500), n: 'v'.repeat(500), o: 'v'.repeat(500) } } })
  t.equal(large.statusCode, 413)
  t.equal(large.json().code, 'PAYLOAD_TOO_LARGE')
  t.match(large.json().message, /2048 bytes/)
})

t.test('Content-Type: application/json with an empty body is a request without a body (the SDK sends it on DELETE and cancel)', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim)
  const json = { ...auth, 'content-type': 'application/json' }
  const created = await app.inject({ method: 'POST', url: '/api/openai/threads', headers: json, payload: '' })
  t.equal(created.statusCode, 201, 'a create without a body takes the defaults')
  const deleted = await app.inject({ method: 'DELETE', url: `/api/openai/threads/${created.json().id}`, headers: json, payload: '' })
  t.equal(deleted.statusCode, 200)
  t.equal(deleted.json().deleted, true)
  const bad = await app.inject({ method: 'POST', url: '/api/openai/threads', headers: json, payload: ' ' })
  t.equal(bad.statusCode, 400, 'whitespace is not an empty body')
  t.equal(bad.json().code, 'VALIDATION_FAILED')
})

t.test('errors carry an OpenAI-shaped error object, param for a 400, and x-should-retry: false where a retry cannot help', async t => {
  const app = await build(t, null)
  const res = await app.inject({ ...createThread, payload: { title: 'x'.repeat(300) } })
  t.same(res.json().error, { message: 'body.title must NOT have more than 256 characters', type: 'invalid_request_error', code: 'VALIDATION_FAILED', param: 'title' })
  const missing = await app.inject({ url: '/api/openai/threads/conv_unknown', headers: auth })
  t.same(missing.json().error, { message: 'Thread not found', type: 'invalid_request_error', code: 'NOT_FOUND', param: null })
  t.equal(missing.headers['x-should-retry'], undefined, 'left to the client when a retry may help')
  const anonymous = await app.inject({ url: '/api/openai/threads' })
  t.equal(anonymous.json().error.type, 'authentication_error')
})

t.test('upstream failures map to the contract and never leak upstream bodies or the key', async t => {
  const sim = await startSim(t)
  // Long enough that only the hang times out, also on a loaded machine.
  const app = await build(t, sim, { env: { OPENAI_TIMEOUT_MS: '2000' } })
  const route = 'POST /v1/conversations'

  sim.faults.add({ route, kind: 'status', status: 500, message: 'internal upstream detail sk-secret-ish' })
  const failed = await app.inject(createThread)
  t.equal(failed.statusCode, 502)
  t.equal(failed.json().code, 'UPSTREAM_ERROR')
  t.equal(failed.json().message, 'OpenAI failed to process the request')
  t.notMatch(failed.body, /internal upstream detail/)

  sim.faults.add({ route, kind: 'status', status: 429, retryAfter: 7 })
  const limited = await app.inject(createThread)
  t.equal(limited.statusCode, 503)
  t.equal(limited.json().code, 'UPSTREAM_UNAVAILABLE')
  t.equal(limited.headers['retry-after'], '7')

  sim.faults.add({ route, kind: 'hang' })
  const slow = await app.inject(createThread)
  t.equal(slow.statusCode, 504)
  t.equal(slow.json().code, 'UPSTREAM_TIMEOUT')

  sim.faults.add({ route, kind: 'reset' })
  const reset = await app.inject(createThread)
  // A reset after the headers surfaces from the SDK as a broken body (502) or, on a loaded machine, as the timeout (504).
  t.ok([502, 503, 504].includes(reset.statusCode), `reset mid-body maps to a 5xx contract error (${reset.statusCode})`)
  t.match(reset.json().code, /^UPSTREAM_/)

  t.equal((await app.inject(createThread)).statusCode, 201, 'healthy again once the faults are used up')
  t.same(sim.nonconforming(), [], 'every upstream request conformed to the OpenAPI spec')
})

t.test('a rejected upstream key is a 502 and the key never appears', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim, { env: { OPENAI_API_KEY: 'not-the-simulator-key' } })
  const res = await app.inject(createThread)
  t.equal(res.statusCode, 502)
  t.equal(res.json().code, 'UPSTREAM_ERROR')
  t.notMatch(res.body, /not-the-simulator-key/)
  t.notMatch(res.body, new RegExp(SIM_KEY))
})

t.test('5xx answers from unexpected failures are generic', async t => {
  const app = await build(t, null)
  app.store.getThread = async () => { throw new Error('disk on fire at /var/lib/secret/path') }
  const res = await app.inject({ url: '/api/openai/threads/conv_123', headers: auth })
  t.equal(res.statusCode, 500)
  t.same(Object.keys(res.json()).sort(), ['code', 'error', 'message', 'requestId', 'statusCode'])
  t.equal(res.json().message, 'Internal Server Error')
  t.notMatch(res.body, /disk on fire/)
})
