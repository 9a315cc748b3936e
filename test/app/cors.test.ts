import t from 'tap'
import { build } from '../helpers/build.ts'

const preflight = (origin: string) => ({
  method: 'OPTIONS' as const,
  url: '/api/openai/threads',
  headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,idempotency-key' }
})

t.test('an allowed origin gets its preflight answered', async t => {
  const app = await build(t, null, { env: { CORS_ORIGINS: 'https://spa.example,http://localhost:5173' } })
  const res = await app.inject(preflight('https://spa.example'))
  t.equal(res.statusCode, 204)
  t.equal(res.headers['access-control-allow-origin'], 'https://spa.example')
  t.match(String(res.headers['access-control-allow-headers']), /authorization/)
  t.match(String(res.headers['access-control-allow-headers']), /idempotency-key/)
  t.equal(res.headers['access-control-allow-credentials'], undefined, 'no credentials: the SPA uses a bearer header')
  t.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/, 'the preflight has a request id too')
  const withId = preflight('https://spa.example')
  const echoed = await app.inject({ ...withId, headers: { ...withId.headers, 'x-request-id': 'spa-7' } })
  t.equal(echoed.statusCode, 204)
  t.equal(echoed.headers['x-request-id'], 'spa-7', "the caller's own id is echoed on a preflight")
  const actual = await app.inject({ url: '/health/live', headers: { origin: 'http://localhost:5173' } })
  t.equal(actual.headers['access-control-allow-origin'], 'http://localhost:5173')
  t.match(String(actual.headers['access-control-expose-headers']), /x-ratelimit-remaining/)
})

t.test('any other origin gets no CORS headers, so the browser refuses', async t => {
  const app = await build(t, null, { env: { CORS_ORIGINS: 'https://spa.example' } })
  const res = await app.inject(preflight('https://evil.example'))
  t.equal(res.headers['access-control-allow-origin'], undefined)
  const actual = await app.inject({ url: '/health/live', headers: { origin: 'https://spa.example.evil.example' } })
  t.equal(actual.headers['access-control-allow-origin'], undefined, 'no suffix or prefix matching')
})

t.test('with no origins configured nothing is allowed cross-origin', async t => {
  const app = await build(t, null)
  const res = await app.inject(preflight('http://localhost:5173'))
  t.equal(res.headers['access-control-allow-origin'], undefined)
})

t.test("the official SDK's own headers pass the preflight, and the headers it reads are exposed", async t => {
  const app = await build(t, null, { env: { CORS_ORIGINS: 'https://spa.example' } })
  // What openai@4 sends from a browser on a beta.threads call (and runs.poll), as Chromium lists them.
  const sdkHeaders = 'authorization,content-type,openai-beta,x-stainless-arch,x-stainless-lang,x-stainless-os,x-stainless-package-version,' +
    'x-stainless-retry-count,x-stainless-runtime,x-stainless-runtime-version,x-stainless-timeout,x-stainless-poll-helper,x-stainless-custom-poll-interval'
  const res = await app.inject({ ...preflight('https://spa.example'), headers: { ...preflight('https://spa.example').headers, 'access-control-request-headers': sdkHeaders } })
  t.equal(res.statusCode, 204)
  const allowed = new Set(String(res.headers['access-control-allow-headers']).split(/, */))
  for (const header of sdkHeaders.split(',')) t.ok(allowed.has(header), `${header} is allowed`)
  t.notOk(allowed.has('*'), 'named one by one, never a wildcard')
  const actual = await app.inject({ url: '/health/live', headers: { origin: 'https://spa.example' } })
  const exposed = String(actual.headers['access-control-expose-headers'])
  for (const header of ['openai-poll-after-ms', 'x-request-id', 'retry-after', 'x-ratelimit-remaining', 'x-should-retry']) t.match(exposed, header)
})
