import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { join } from 'node:path'
import t from 'tap'
import { startGatewayProcess, runGatewayExpectingExit } from './helpers/process.ts'
import { startSim, tempDir, testEnv } from './helpers/build.ts'
import { bearer, userToken } from './helpers/tokens.ts'
import { until } from './helpers/until.ts'

t.test('npm start with a bad config exits non-zero with one line naming the variable', async t => {
  const { code, stdout, stderr } = await runGatewayExpectingExit({ JWT_SECRET: 'x'.repeat(40) })
  t.equal(code, 1)
  t.equal(stderr.trim(), 'Invalid configuration: OPENAI_API_KEY is required')
  t.equal(stdout, '')
  const short = await runGatewayExpectingExit({ OPENAI_API_KEY: 'sk', JWT_SECRET: 'short' })
  t.equal(short.code, 1)
  t.equal(short.stderr.trim(), 'Invalid configuration: JWT_SECRET must be at least 32 characters')
})

t.test('every configuration problem at once, one line each, no stack, exit 1', async t => {
  const dir = tempDir(t)
  const garbage = join(dir, 'garbage.pem')
  writeFileSync(garbage, 'not PEM\n')
  const agents = join(dir, 'agents.json')
  writeFileSync(agents, JSON.stringify({
    agents: [{ id: 'curator', name: 'Curator', model: 'gpt-4.1-mini', instructions: 'Help.', tools: ['get_user_achievements'], max_output_tokens: 500 }],
    tools: [{ name: 'get_user_achievements', type: 'webhook', url: 'https://platform.internal/tools', description: 'Achievements', parameters: { type: 'object', properties: {} } }]
  }))
  const ok = { OPENAI_API_KEY: 'sk-test', JWT_SECRET: 'x'.repeat(40), SQLITE_PATH: ':memory:', PORT: '0' }
  const cases: Array<[string, Record<string, string>, string[]]> = [
    ['missing TLS files', { ...ok, TLS_CERT_FILE: join(dir, 'cert.pem'), TLS_KEY_FILE: join(dir, 'key.pem') }, [
      `Invalid configuration: TLS_CERT_FILE ${join(dir, 'cert.pem')} cannot be read (ENOENT)`,
      `Invalid configuration: TLS_KEY_FILE ${join(dir, 'key.pem')} cannot be read (ENOENT)`
    ]],
    ['garbage TLS files', { ...ok, TLS_CERT_FILE: garbage, TLS_KEY_FILE: garbage }, [
      `Invalid configuration: TLS_CERT_FILE ${garbage} is not a PEM certificate`,
      `Invalid configuration: TLS_KEY_FILE ${garbage} is not an unencrypted PEM private key`
    ]],
    ['a webhook tool without TOOL_WEBHOOK_SECRET', { ...ok, AGENTS_FILE: agents }, [
      'Invalid configuration: TOOL_WEBHOOK_SECRET is required: webhook tool get_user_achievements signs its calls with it'
    ]],
    ['a store file that is not SQLite', { ...ok, SQLITE_PATH: garbage }, [
      `Invalid configuration: SQLITE_PATH ${garbage} cannot be used as the store (file is not a database)`
    ]],
    ['a store path under a file', { ...ok, SQLITE_PATH: join(garbage, 'gw.db') }, [
      `Invalid configuration: SQLITE_PATH ${join(garbage, 'gw.db')} cannot be used as the store (EEXIST: file already exists, mkdir '${garbage}')`
    ]],
    ['several bad variables', { ...ok, OPENAI_API_KEY: '', TRUST_PROXY: 'yes', OPENAI_BASE_URL: 'api.openai.com/v1', LOG_LEVEL: 'loud' }, [
      'Invalid configuration: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
      'Invalid configuration: TRUST_PROXY must be false, true, a hop count (0-99), or comma-separated proxy IP addresses or CIDR ranges such as 10.0.0.0/8,127.0.0.1',
      'Invalid configuration: OPENAI_API_KEY is required',
      'Invalid configuration: OPENAI_BASE_URL must be an http:// or https:// URL without spaces, such as https://api.openai.com/v1'
    ]]
  ]
  for (const [what, env, lines] of cases) {
    const { code, stdout, stderr } = await runGatewayExpectingExit(env)
    t.equal(code, 1, `${what}: exit 1`)
    t.same(stderr.trimEnd().split('\n'), lines, `${what}: one line per problem`)
    t.equal(stdout, '', `${what}: nothing else`)
  }
})

t.test('a wrong OPENAI_API_KEY is found at start-up: one error line, and readiness says so', async t => {
  const sim = await startSim(t)
  const dir = tempDir(t)
  const wrong = await startGatewayProcess(t, testEnv(sim, { OPENAI_API_KEY: 'sk-not-this-one', SQLITE_PATH: join(dir, 'a.db') }))
  const res = await fetch(`${wrong.url}/health/ready`)
  t.equal(res.status, 503, 'a gateway whose key is refused is not ready')
  t.match(await res.json(), { code: 'SERVICE_UNAVAILABLE', message: 'The upstream refuses OPENAI_API_KEY (401 invalid_api_key)' })
  const errors = wrong.logs.join('').split('\n').filter(line => line.includes('"level":50'))
  t.equal(errors.length, 1, 'one error line')
  t.match(errors[0], /the upstream refuses OPENAI_API_KEY \(401 invalid_api_key\)/)
  t.notMatch(wrong.logs.join(''), /sk-not-this-one/, 'the key itself is never logged')
  t.equal(sim.counters()['GET /v1/files'], 1, 'asked once, before listening')

  const right = await startGatewayProcess(t, testEnv(sim, { SQLITE_PATH: join(dir, 'b.db') }))
  t.match(await (await fetch(`${right.url}/health/ready`)).json(), { status: 'ready', upstream: 'ok' })
  t.same(sim.nonconforming(), [])

  // Nothing listens on port 9: the key cannot be checked, and that does not stop start-up.
  const unreachable = await startGatewayProcess(t, testEnv(null, { SQLITE_PATH: join(dir, 'c.db') }))
  t.match(await (await fetch(`${unreachable.url}/health/ready`)).json(), { status: 'ready', upstream: 'unverified' })
  t.match(unreachable.logs.join(''), /"level":40.*could not verify OPENAI_API_KEY with the upstream; going on/)
})

t.test('SIGTERM mid-request: the request completes, then the process exits cleanly', async t => {
  const sim = await startSim(t)
  const dir = tempDir(t)
  const gw = await startGatewayProcess(t, testEnv(sim, { SQLITE_PATH: join(dir, 'gw.db'), LOG_LEVEL: 'info', SHUTDOWN_GRACE_MS: '10000' }))
  const headers = { ...bearer(userToken('alice')), 'content-type': 'application/json' }
  const created = await fetch(`${gw.url}/api/openai/threads`, { method: 'POST', headers, body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }) })
  t.equal(created.status, 201)
  const thread = await created.json() as { id: string }

  sim.faults.add({ route: 'GET /v1/conversations/{conversation_id}/items', kind: 'latency', ms: 1500 })
  const listed = () => sim.counters()['GET /v1/conversations/{conversation_id}/items'] ?? 0
  const before = listed()
  const slow = fetch(`${gw.url}/api/openai/threads/${thread.id}/messages`, { headers })
  await until(() => listed() > before, { message: 'the request to be upstream, in flight' })
  gw.child.kill('SIGTERM')
  const res = await slow
  t.equal(res.status, 200, 'the in-flight request completed')
  const body = await res.json() as { data: unknown[] }
  t.equal(body.data.length, 1)
  t.equal(await gw.exited, 0, 'clean exit')
  t.match(gw.logs.join(''), /shutting down/)
})

t.test('HTTPS with a certificate made at test time', async t => {
  const dir = tempDir(t)
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' })
  const gw = await startGatewayProcess(t, testEnv(null, { TLS_CERT_FILE: cert, TLS_KEY_FILE: key, SQLITE_PATH: join(dir, 'gw.db') }))
  t.match(gw.url, /^https:\/\//)
  const { status, body } = await new Promise<{ status: number, body: string }>((resolve, reject) => {
    const req = httpsRequest(`${gw.url}/health/live`, { ca: readFileSync(cert) }, res => {
      let data = ''
      res.on('data', c => { data += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }))
    })
    req.on('error', reject)
    req.end()
  })
  t.equal(status, 200)
  t.same(JSON.parse(body), { status: 'ok' })
})

t.test('threads and messages survive a restart (real process, same SQLite file)', async t => {
  const sim = await startSim(t)
  const dir = tempDir(t)
  const env = testEnv(sim, { SQLITE_PATH: join(dir, 'data', 'gw.db') })
  const headers = { ...bearer(userToken('alice')), 'content-type': 'application/json' }
  const first = await startGatewayProcess(t, env)
  const created = await (await fetch(`${first.url}/api/openai/threads`, { method: 'POST', headers, body: JSON.stringify({ title: 'kept', messages: [{ role: 'user', content: 'remember me' }] }) })).json() as { id: string }
  first.child.kill('SIGTERM')
  t.equal(await first.exited, 0)

  const second = await startGatewayProcess(t, env)
  const list = await (await fetch(`${second.url}/api/openai/threads`, { headers })).json() as { data: Array<{ id: string, title: string }> }
  t.same(list.data.map(x => [x.id, x.title]), [[created.id, 'kept']])
  const messages = await (await fetch(`${second.url}/api/openai/threads/${created.id}/messages`, { headers })).json() as { data: Array<{ created_at: number | null }> }
  t.equal(messages.data.length, 1)
  t.type(messages.data[0]!.created_at, 'number', 'the message index survived too')
})
