import { readFileSync } from 'node:fs'
import { Writable } from 'node:stream'
import { parseEnv } from 'node:util'
import t from 'tap'
import { build } from '../helpers/build.ts'
import { MAX_WARNED_ORIGINS } from '../../plugins/external/cors.ts'

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

t.test('a refused origin is logged once, at warn, naming it; memory stays bounded', async t => {
  const lines: string[] = []
  const logStream = new Writable({ write (chunk, _enc, cb) { lines.push(chunk.toString()); cb() } })
  const app = await build(t, null, { env: { CORS_ORIGINS: 'https://spa.example', LOG_LEVEL: 'warn' }, logStream })
  const warnings = (origin: string) => lines.map(l => JSON.parse(l)).filter(l => l.level === 40 && l.origin === origin)

  await app.inject(preflight('http://127.0.0.1:5173'))
  await app.inject({ url: '/health/live', headers: { origin: 'http://127.0.0.1:5173' } })
  await app.inject(preflight('http://127.0.0.1:5173'))
  const logged = warnings('http://127.0.0.1:5173')
  t.equal(logged.length, 1, 'once, however often it calls')
  t.match(logged[0].msg, 'CORS: origin http://127.0.0.1:5173 is not in CORS_ORIGINS')
  t.ok(logged[0].reqId, 'with the request id of the first refusal')

  await app.inject(preflight('https://spa.example'))
  t.same(warnings('https://spa.example'), [], 'an allowed origin is not logged')
  await app.inject({ method: 'POST', url: '/api/openai/threads', headers: { origin: 'http://localhost:80', host: 'localhost:80' }, payload: {} })
  t.same(warnings('http://localhost:80'), [], 'nor a same-origin request (Swagger UI at /docs sends an Origin on POST)')
  await app.inject({ url: '/health/live' })
  t.equal(lines.filter(l => JSON.parse(l).level === 40).length, 1, 'nor a request without an Origin')

  const long = `https://${'a'.repeat(1000)}.example`
  await app.inject({ url: '/health/live', headers: { origin: long } })
  t.equal(warnings(long.slice(0, 256)).length, 1, 'a made-up long origin is remembered and logged cut to 256 characters')

  for (let i = 0; i < MAX_WARNED_ORIGINS; i++) await app.inject({ url: '/health/live', headers: { origin: `https://made-up-${i}.example` } })
  await app.inject({ url: '/health/live', headers: { origin: 'http://127.0.0.1:5173' } })
  t.equal(warnings('http://127.0.0.1:5173').length, 2, 'the remembered origins are forgotten when there are too many of them')
  const res = await app.inject(preflight('http://127.0.0.1:5173'))
  t.equal(res.headers['access-control-allow-origin'], undefined, 'and it is still refused')
})

t.test('.env.example lets in the reference SPAs at the URLs the READMEs give', async t => {
  const root = new URL('../../', import.meta.url)
  const example = parseEnv(readFileSync(new URL('.env.example', root), 'utf8'))
  const readmes = ['README.md', 'examples/spa/README.md', 'examples/spa-sdk/README.md'].map(path => readFileSync(new URL(path, root), 'utf8')).join('\n')
  const pages = new Set([...readmes.matchAll(/https?:\/\/(?:127\.0\.0\.1|localhost):517\d/g)].map(m => m[0]))
  t.ok(pages.has('http://127.0.0.1:5173') && pages.has('http://127.0.0.1:5174'), 'the READMEs open both SPAs on 127.0.0.1')
  const app = await build(t, null, { env: { ...example, OPENAI_API_KEY: 'sk-test', JWT_SECRET: 'x'.repeat(40), SQLITE_PATH: ':memory:', LOG_LEVEL: 'silent', MAX_EVENT_LOOP_DELAY_MS: '0' } })
  for (const page of pages) {
    const res = await app.inject(preflight(page))
    t.equal(res.headers['access-control-allow-origin'], page, `${page} is allowed by .env.example`)
  }
})
