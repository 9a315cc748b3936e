import t from 'tap'
import { build } from '../helpers/build.ts'
import { bearer, signHs256, claims, userToken } from '../helpers/tokens.ts'

t.test('the /api limit is per user, not per IP, with contract headers and Retry-After', async t => {
  const app = await build(t, null, { env: { RATE_LIMIT_MAX: '3' } })
  const alice = bearer(userToken('alice'))
  const bob = bearer(userToken('bob'))
  for (let i = 0; i < 3; i++) {
    const res = await app.inject({ url: '/api/openai/threads', headers: alice })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['x-ratelimit-limit'], '3')
    t.equal(res.headers['x-ratelimit-remaining'], String(2 - i))
    t.ok(Number(res.headers['x-ratelimit-reset']) > 0, 'x-ratelimit-reset is set')
  }
  const limited = await app.inject({ url: '/api/openai/threads', headers: alice })
  t.equal(limited.statusCode, 429)
  t.equal(limited.json().code, 'RATE_LIMITED')
  t.match(limited.json().message, /at most 3 requests per 60 s/)
  t.ok(Number(limited.headers['retry-after']) >= 1, 'Retry-After in seconds')
  t.equal(limited.headers['x-ratelimit-remaining'], '0')

  // Same IP (inject uses 127.0.0.1 for all), another user: unaffected.
  const other = await app.inject({ url: '/api/openai/threads', headers: bob })
  t.equal(other.statusCode, 200)
})

t.test('requests with invalid tokens are limited by IP before being refused', async t => {
  const app = await build(t, null, { env: { RATE_LIMIT_MAX: '2' } })
  const bad = bearer(signHs256(claims('x'), 'wrong-secret-wrong-secret-wrong-secret'))
  t.equal((await app.inject({ url: '/api/openai/threads', headers: bad })).statusCode, 401)
  t.equal((await app.inject({ url: '/api/openai/threads', headers: bad })).statusCode, 401)
  const res = await app.inject({ url: '/api/openai/threads', headers: bad })
  t.equal(res.statusCode, 429, 'the third bad request is rate limited, cheaply')
  t.equal((await app.inject({ url: '/api/openai/threads', headers: bearer(userToken('carol')) })).statusCode, 200, 'valid users are keyed separately')
})

t.test('unknown URLs are rate limited too', async t => {
  const app = await build(t, null, { env: { RATE_LIMIT_MAX: '2' } })
  const first = await app.inject({ url: '/nope' })
  t.equal(first.statusCode, 404)
  t.equal(first.json().code, 'NOT_FOUND')
  t.equal((await app.inject({ url: '/nope/2' })).statusCode, 404)
  const third = await app.inject({ url: '/nope/3' })
  t.equal(third.statusCode, 429)
  t.equal(third.json().code, 'RATE_LIMITED')
})
