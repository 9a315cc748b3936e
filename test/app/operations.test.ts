import { Writable } from 'node:stream'
import t from 'tap'
import { build, startSim, SIM_KEY } from '../helpers/build.ts'
import { until } from '../helpers/until.ts'
import { adminToken, bearer, signHs256, claims, userToken, TEST_JWT_SECRET } from '../helpers/tokens.ts'

t.test('liveness and readiness', async t => {
  const app = await build(t, null)
  const live = await app.inject({ url: '/health/live' })
  t.equal(live.statusCode, 200)
  t.same(live.json(), { status: 'ok' })
  const ready = await app.inject({ url: '/health/ready' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ready', store: 'sqlite', upstream: 'unchecked' }, 'an app built without start() never asks the upstream')
  t.ok(ready.headers['x-request-id'], 'every answer has a request id')
})

t.test('readiness is 503 when the store does not answer', async t => {
  const app = await build(t, null)
  await app.store.close()
  const res = await app.inject({ url: '/health/ready' })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'SERVICE_UNAVAILABLE')
  t.ok(res.headers['retry-after'])
})

t.test('readiness and the key check: a refused key is not ready; a key the upstream cannot be asked about is', async t => {
  const sim = await startSim(t)
  let now = Date.parse('2026-11-22T10:00:00Z')
  const app = await build(t, sim, { clock: () => now })
  const ready = async () => {
    const res = await app.inject({ url: '/health/ready' })
    return { status: res.statusCode, body: res.json(), retryAfter: res.headers['retry-after'] }
  }
  const files = () => sim.counters()['GET /v1/files'] ?? 0

  t.equal(await app.upstreamKey.verify(), 'ok')
  t.match(await ready(), { status: 200, body: { status: 'ready', upstream: 'ok' } })
  t.equal(files(), 1, 'one cheap authenticated call: GET /v1/files?limit=1')
  t.same(sim.nonconforming(), [], 'a request the spec allows')

  sim.faults.add({ route: 'GET /v1/files', kind: 'status', status: 401, times: 1 })
  t.equal(await app.upstreamKey.verify(), 'refused')
  t.match(await ready(), { status: 503, body: { code: 'SERVICE_UNAVAILABLE', message: /The upstream refuses OPENAI_API_KEY \(401/ }, retryAfter: '30' })
  t.equal(files(), 2, 'readiness itself does not call the upstream within 30 s of the last check')
  now += 30_000
  t.equal((await ready()).status, 503, 'the probe answers from what is known and asks again in the background')
  await until(() => app.upstreamKey.status === 'ok', { message: 'the background re-check to see the key accepted again' })
  t.match(await ready(), { status: 200, body: { upstream: 'ok' } })
  t.equal(files(), 3)

  for (const status of [403, 404, 500]) {
    sim.faults.add({ route: 'GET /v1/files', kind: 'status', status, times: 1 })
    t.equal(await app.upstreamKey.verify(), 'unverified', `${status} says nothing about the key`)
    t.match(await ready(), { status: 200, body: { upstream: 'unverified' } })
  }
  t.equal(files(), 6, 'no retries: one call per check')
})

t.test('x-request-id: a sane caller id is echoed, anything else replaced', async t => {
  const app = await build(t, null)
  const echoed = await app.inject({ url: '/health/live', headers: { 'x-request-id': 'spa-42.abc' } })
  t.equal(echoed.headers['x-request-id'], 'spa-42.abc')
  const replaced = await app.inject({ url: '/health/live', headers: { 'x-request-id': 'x'.repeat(300) } })
  t.not(replaced.headers['x-request-id'], 'x'.repeat(300))
  t.match(String(replaced.headers['x-request-id']), /^[0-9a-f-]{36}$/)
})

t.test('metrics in Prometheus format, optionally behind a token', async t => {
  const open = await build(t, null)
  await open.inject({ url: '/api/openai/threads', headers: bearer(userToken('alice')) })
  const res = await open.inject({ url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /text\/plain/)
  t.match(res.body, /^assistant_gateway_http_request_duration_seconds_bucket\{.*route="\/api\/openai\/threads".*status_code="200"/m)
  t.notMatch(res.body, /alice/, 'no per-user labels')
  const names = new Set(res.body.split('\n').filter(l => l.startsWith('# TYPE ')).map(l => l.split(' ')[2]!))
  t.ok(names.has('assistant_gateway_process_cpu_user_seconds_total'), "Node's default metrics are there")
  t.ok(names.has('assistant_gateway_nodejs_eventloop_lag_p99_seconds'))
  t.same([...names].filter(n => !n.startsWith('assistant_gateway_')), [], 'every metric carries the prefix')

  const guarded = await build(t, null, { env: { METRICS_TOKEN: 'metrics-token-0123456789' } })
  t.equal((await guarded.inject({ url: '/metrics' })).statusCode, 401)
  t.equal((await guarded.inject({ url: '/metrics', headers: { authorization: 'Bearer wrong-token-0123456789' } })).statusCode, 401)
  t.equal((await guarded.inject({ url: '/metrics', headers: { authorization: 'Bearer metrics-token-0123456789' } })).statusCode, 200)
})

t.test('upstream calls are counted by operation and outcome', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim)
  const upstreamCount = async (operation: string, outcome: string) => {
    const body = (await app.inject({ url: '/metrics' })).body
    const line = body.split('\n').find(l => l.startsWith('assistant_gateway_upstream_requests_total{') &&
      l.includes(`operation="${operation}"`) && l.includes(`outcome="${outcome}"`))
    return line === undefined ? 0 : Number(line.split(' ').at(-1))
  }
  const createThread = () => app.inject({ method: 'POST', url: '/api/openai/threads', headers: bearer(userToken('alice')), payload: {} })

  t.equal((await createThread()).statusCode, 201)
  t.equal(await upstreamCount('conversations.create', 'ok'), 1, 'a real call through the simulator is counted ok')
  t.equal(await upstreamCount('conversations.create', 'http_5xx'), 0)

  sim.faults.add({ route: 'POST /v1/conversations', kind: 'status', status: 500 })
  t.equal((await createThread()).statusCode, 502)
  t.equal(await upstreamCount('conversations.create', 'http_5xx'), 1, 'the injected 500 is counted as http_5xx')
  t.equal(await upstreamCount('conversations.create', 'ok'), 1, 'and not as ok')
})

t.test('the spend is a metric: tokens and estimated cost by assistant and model, equal to the ledger', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim)
  const headers = bearer(userToken('alice'))
  const thread = (await app.inject({ method: 'POST', url: '/api/openai/threads', headers, payload: { messages: [{ role: 'user', content: 'What is spend?' }] } })).json()
  const run = await app.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}/runs`, headers, payload: { assistant_type: 'mentor' } })
  t.equal(run.json().status, 'completed')
  const { usage } = run.json()
  const report = (await app.inject({ url: '/api/openai/admin/usage', headers: bearer(adminToken()) })).json()
  const ledger = report.users[0].by_model[0]
  t.match(ledger, { assistant: 'mentor', model: 'gpt-4.1' })
  t.ok(ledger.cost_usd > 0, 'gpt-4.1 is priced in the bundled table')

  const body = (await app.inject({ url: '/metrics' })).body
  const value = (series: string) => Number(body.split('\n').find(l => l.startsWith(`${series} `))?.split(' ')[1] ?? NaN)
  const labels = 'assistant="mentor",model="gpt-4.1"'
  t.equal(value(`assistant_gateway_estimated_cost_usd_total{${labels}}`), ledger.cost_usd, 'the cost counted once, as the ledger has it')
  t.equal(value(`assistant_gateway_tokens_total{${labels},kind="input"}`), usage.prompt_tokens)
  t.equal(value(`assistant_gateway_tokens_total{${labels},kind="output"}`), usage.completion_tokens)
  t.match(body, /# HELP assistant_gateway_estimated_cost_usd_total .*US dollars/)
})

t.test('security headers', async t => {
  const app = await build(t, null)
  const res = await app.inject({ url: '/health/live' })
  t.equal(res.headers['x-content-type-options'], 'nosniff')
  t.match(String(res.headers['content-security-policy']), /default-src 'self'/)
})

t.test('tokens, keys and secrets never reach the logs', async t => {
  const lines: string[] = []
  const logStream = new Writable({ write (chunk, _enc, cb) { lines.push(chunk.toString()); cb() } })
  const app = await build(t, null, { env: { LOG_LEVEL: 'trace' }, logStream })
  const good = userToken('alice')
  const bad = signHs256(claims('mallory'), 'not-the-secret-not-the-secret-not-the-secret')
  await app.inject({ url: '/api/openai/threads', headers: bearer(good) })
  await app.inject({ url: '/api/openai/threads', headers: { ...bearer(bad), cookie: 'session=cookie-secret-value' } })
  await app.inject({ method: 'POST', url: '/api/openai/threads', headers: { ...bearer(good), 'idempotency-key': 'idem-secret-key' }, payload: { title: 'x', bogus: 1 } })
  app.log.info({ config: app.config }, 'config dump attempt')
  const all = lines.join('')
  t.ok(all.length > 0, 'logs were captured')
  for (const secret of [good, bad, good.split('.')[2]!, 'cookie-secret-value', SIM_KEY, TEST_JWT_SECRET]) {
    t.notOk(all.includes(secret), `log does not contain ${secret.slice(0, 12)}…`)
  }
  t.match(all, /\[REDACTED\]/, 'the config dump was redacted')
})

t.test('token-like query parameters are redacted from logged URLs', async t => {
  const lines: string[] = []
  const logStream = new Writable({ write (chunk, _enc, cb) { lines.push(chunk.toString()); cb() } })
  const app = await build(t, null, { env: { LOG_LEVEL: 'info' }, logStream })
  const token = userToken('alice')
  const secrets = {
    access_token: token,
    id_token: 'idtok-secret-1',
    refresh_token: 'refresh-secret-2',
    api_key: 'apikey-secret-3',
    client_secret: 'client-secret-4',
    password: 'password-secret-5',
    Signature: 'signature-secret-6',
    code: 'oauth-code-secret-7',
    'Access%5Ftoken': 'encoded-name-secret-8'
  }
  const query = Object.entries(secrets).map(([name, value]) => `${name}=${encodeURIComponent(value)}`).join('&')
  // Refused (no header), accepted (the header is the credential; the query one is ignored), an unknown URL.
  await app.inject({ url: `/api/openai/threads?${query}&limit=5` })
  await app.inject({ url: `/api/openai/threads?limit=5&${query}`, headers: bearer(token) })
  await app.inject({ url: `/nowhere?${query}` })
  // A JWT is redacted whatever its parameter is called.
  await app.inject({ url: `/api/openai/threads?limit=5&whatever=${token}` })
  const all = lines.join('')
  t.ok(all.includes('/api/openai/threads?'), 'request URLs are still logged')
  t.match(all, /limit=5/, 'ordinary parameters are kept')
  t.match(all, /access_token=\[REDACTED\]/, 'the parameter is named, its value redacted')
  for (const [name, secret] of Object.entries(secrets)) {
    t.notOk(all.includes(secret) || all.includes(encodeURIComponent(secret)), `the log does not contain ${name}'s value`)
  }
  t.notOk(all.includes(token.split('.')[2]!), 'nor any part of the token')
})
