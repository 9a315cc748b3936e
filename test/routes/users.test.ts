import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, startSim } from '../helpers/build.ts'
import { adminToken, bearer, userToken } from '../helpers/tokens.ts'
import { until } from '../helpers/until.ts'

const admin = bearer(adminToken('admin-7'))
const alice = bearer(userToken('alice'))

async function newThread (app: FastifyInstance, headers: Record<string, string>, content: string): Promise<string> {
  return (await app.inject({ method: 'POST', url: '/api/openai/threads', headers, payload: { messages: [{ role: 'user', content }] } })).json().id
}

t.test('suspension: admin-only routes; the suspended user gets 403 USER_SUSPENDED on every /api route; runs cancelled upstream; nothing deleted; audited', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim, { env: { BUDGET_USER_DAILY_TOKENS: '1000000' } })

  const fresh = await app.inject({ url: '/api/openai/admin/users/alice', headers: admin })
  t.equal(fresh.statusCode, 200)
  t.match(fresh.json(), {
    id: 'alice',
    object: 'user',
    suspended: false,
    suspended_at: null,
    suspension_reason: null,
    safety: { warnings: 0, last_warning_at: null, deactivations: 0 },
    usage_today: { object: 'usage', runs: 0 }
  })
  for (const [method, url] of [['GET', '/api/openai/admin/users/alice'], ['POST', '/api/openai/admin/users/alice/suspend'], ['POST', '/api/openai/admin/users/alice/unsuspend']] as const) {
    const res = await app.inject({ method, url, headers: alice, ...(method === 'POST' ? { payload: { reason: 'x' } } : {}) })
    t.equal(res.statusCode, 403, `${method} ${url} is for admins`)
    t.equal(res.json().code, 'FORBIDDEN')
  }
  t.equal((await app.inject({ method: 'POST', url: '/api/openai/admin/users/alice/suspend', headers: admin, payload: {} })).statusCode, 400, 'a reason is required')

  const kept = await newThread(app, alice, 'Keep me')
  t.equal((await app.inject({ method: 'POST', url: `/api/openai/threads/${kept}/runs`, headers: alice, payload: { assistant_id: 'mentor' } })).statusCode, 200)
  const busy = await newThread(app, alice, 'A long one [slow:20000]')
  const running = (await app.inject({ method: 'POST', url: `/api/openai/threads/${busy}/runs`, headers: alice, payload: { assistant_id: 'mentor', wait: false } })).json()
  await until(async () => (await app.inject({ url: `/api/openai/threads/${busy}/runs/${running.id}`, headers: alice })).json().status === 'in_progress',
    { message: 'the run to be in progress upstream' })

  const suspended = await app.inject({ method: 'POST', url: '/api/openai/admin/users/alice/suspend', headers: { ...admin, 'x-request-id': 'req-suspend-1' }, payload: { reason: 'Posted exam answers' } })
  t.equal(suspended.statusCode, 200)
  t.match(suspended.json(), { id: 'alice', suspended: true, suspension_reason: 'Posted exam answers', suspended_by: 'admin-7' })
  t.ok(suspended.json().suspended_at > 0)

  // Every /api route, as the OpenAPI document lists them: refused before anything else is looked at.
  const doc = (await app.inject({ url: '/docs/json' })).json() as { paths: Record<string, Record<string, unknown>> }
  let routes = 0
  for (const [path, methods] of Object.entries(doc.paths)) {
    if (!path.startsWith('/api/')) continue
    for (const method of Object.keys(methods)) {
      const url = path.replace(/\{[^}]+\}/g, 'x1')
      const res = await app.inject({ method: method.toUpperCase() as 'GET', url, headers: alice, ...(method === 'get' || method === 'delete' ? {} : { payload: {} }) })
      t.equal(res.statusCode, 403, `${method.toUpperCase()} ${path}`)
      t.equal(res.json().code, 'USER_SUSPENDED')
      routes++
    }
  }
  t.ok(routes > 25, `${routes} routes checked`)
  const refused = await app.inject({ url: '/api/openai/threads', headers: alice })
  t.match(refused.json(), { error: { type: 'permission_error', code: 'USER_SUSPENDED' }, message: /suspended/ })
  t.notMatch(refused.body, /exam/, 'the user is told they are suspended, never why')
  t.equal(refused.headers['x-should-retry'], 'false')
  t.equal((await app.inject({ url: '/api/openai/threads', headers: bearer(userToken('bob')) })).statusCode, 200, 'other users are unaffected')

  // Read through the store: alice herself is refused now.
  await until(async () => (await app.store.getRun(running.id))?.status === 'cancelled', { message: 'the suspended user\'s run to end cancelled' })
  t.equal(sim.counters()['POST /v1/responses/{response_id}/cancel'], 1, 'the active run was cancelled upstream')

  const lifted = await app.inject({ method: 'POST', url: '/api/openai/admin/users/alice/unsuspend', headers: admin })
  t.match(lifted.json(), { suspended: false, suspended_at: null, suspension_reason: null })
  const threads = (await app.inject({ url: '/api/openai/threads', headers: alice })).json()
  t.same(threads.data.map((th: { id: string }) => th.id).sort(), [kept, busy].sort(), 'nothing of theirs was deleted')
  const messages = (await app.inject({ url: `/api/openai/threads/${kept}/messages`, headers: alice })).json()
  t.equal(messages.data.length, 2, 'the question and its answer are still there')

  const audit = (await app.inject({ url: '/api/openai/admin/audit?actor=admin-7', headers: admin })).json()
  t.match(audit.data, [
    { action: 'user.unsuspend', target: 'alice', actor: 'admin-7', details: { changed: true } },
    { action: 'user.suspend', target: 'alice', actor: 'admin-7', request_id: 'req-suspend-1', details: { reason: 'Posted exam answers', changed: true, runs_cancelled: 1 } }
  ])
  t.same(sim.nonconforming(), [])
})

t.test('a run started before the suspension is written stops before its next round', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim)
  const thread = await newThread(app, alice, 'Tools please [call:get_current_time {}]')
  // The first round calls a tool; the suspension lands while it runs; the second round is never sent.
  sim.faults.add({ route: 'POST /v1/responses', kind: 'latency', ms: 300, after: 1 })
  const started = app.inject({ method: 'POST', url: `/api/openai/threads/${thread}/runs`, headers: alice, payload: { assistant_id: 'curator' } })
  await until(() => (sim.counters()['POST /v1/responses'] ?? 0) >= 1, { message: 'the first round upstream' })
  await app.store.suspendUser('alice', { reason: 'direct', by: 'admin-1', at: 1 })
  const res = await started
  t.equal(res.statusCode, 200)
  t.equal(res.json().status, 'cancelled')
  t.equal(sim.counters()['POST /v1/responses'], 1, 'no round after the suspension')
})

t.test('a suspension that lands while the run\'s response is being created cancels that response upstream as soon as it exists', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim)
  const thread = await newThread(app, alice, 'A long one [slow:30000]')
  sim.faults.add({ route: 'POST /v1/responses', kind: 'latency', ms: 800, times: 1 })
  const run = (await app.inject({ method: 'POST', url: `/api/openai/threads/${thread}/runs`, headers: alice, payload: { assistant_id: 'mentor', wait: false } })).json()
  await until(async () => {
    const stored = await app.store.getRun(run.id)
    return stored?.status === 'in_progress' && stored.response_ids.length === 0
  }, { message: 'the run to be creating its response' })
  const suspended = await app.inject({ method: 'POST', url: '/api/openai/admin/users/alice/suspend', headers: admin, payload: { reason: 'mid-create' } })
  t.equal(suspended.statusCode, 200)
  t.equal((await app.store.getRun(run.id))!.response_ids.length, 0, 'the response did not exist yet when the runs were cancelled')
  // Well before the 30 s generation would end.
  await until(async () => (await app.store.getRun(run.id))?.status === 'cancelled', { message: 'the run to end cancelled', timeoutMs: 10_000 })
  t.equal(sim.counters()['POST /v1/responses/{response_id}/cancel'], 1, 'its response was cancelled upstream once it existed')
})
