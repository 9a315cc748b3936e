import t, { type Test } from 'tap'
import { createHmac, randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { Simulator } from '../../simulator/index.ts'
import { build, startSim } from '../helpers/build.ts'
import { adminToken, bearer, userToken } from '../helpers/tokens.ts'
import { until } from '../helpers/until.ts'

const SECRET = `whsec_${randomBytes(24).toString('base64')}`
const SAFETY_KEY = 'sk-sim-safety-reader'
const admin = bearer(adminToken('admin-3'))

/** A gateway listening for OpenAI's webhooks, and the simulator delivering them to it (retries after a few ms). */
async function setup (t: Test, env: Record<string, string> = {}, simOptions: Parameters<typeof startSim>[1] = {}) {
  const sim = await startSim(t, { safetyReadKeys: [SAFETY_KEY], ...simOptions })
  const app = await build(t, sim, { env: { OPENAI_WEBHOOK_SECRET: SECRET, ...env } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/webhooks/openai`
  sim.configure({ webhooks: { url, secret: SECRET, backoffMs: 20, maxBackoffMs: 100, timeoutMs: 5000 } })
  return { sim, app }
}

/** One chat turn of `user` whose message carries `content` (a [safety:…] directive raises the notice when it ends). */
async function turn (app: FastifyInstance, user: string, content: string) {
  const headers = bearer(userToken(user))
  const thread = (await app.inject({ method: 'POST', url: '/api/openai/threads', headers, payload: { messages: [{ role: 'user', content }] } })).json()
  return (await app.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}/runs`, headers, payload: { assistant_id: 'mentor' } })).json()
}

const userView = async (app: FastifyInstance, id: string) => (await app.inject({ url: `/api/openai/admin/users/${encodeURIComponent(id)}`, headers: admin })).json()
const auditOf = async (app: FastifyInstance, query = '') => (await app.inject({ url: `/api/openai/admin/audit?limit=100${query}`, headers: admin })).json().data
const safetyDeliveries = (sim: Simulator) => sim.webhooks.deliveries().filter(d => d.event.type.startsWith('safety.'))

/** Standard Webhooks headers for `body`, as OpenAI signs them. */
function signed (body: string, { id = `wh_${randomBytes(8).toString('hex')}`, timestamp = Math.floor(Date.now() / 1000), secret = SECRET } = {}) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64')
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')
  return { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${signature}` }
}

t.test('disabled without OPENAI_WEBHOOK_SECRET: 404 like any unknown route', async t => {
  const app = await build(t, null)
  const res = await app.inject({ method: 'POST', url: '/webhooks/openai', payload: '{}', headers: { 'content-type': 'application/json' } })
  t.equal(res.statusCode, 404)
  t.equal(res.json().code, 'NOT_FOUND')
})

t.test('signatures: valid, bad, stale, missing → 400; a replayed webhook-id → 200 without effect; no JWT needed', async t => {
  const { app } = await setup(t)
  const event = JSON.stringify({ id: 'evt_1', object: 'event', type: 'response.completed', created_at: 1, data: { id: 'resp_abc' } })
  const heard: string[] = []
  app.store.changes.subscribe('response', id => { heard.push(id) })
  const post = (headers: Record<string, string>, payload = event) => app.inject({ method: 'POST', url: '/webhooks/openai', headers, payload })

  const ok = await post(signed(event, { id: 'wh_first' }))
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { received: true, outcome: 'handled' })
  await until(() => heard.includes('resp_abc'), { message: 'the response change on the store\'s feed' })

  const replay = await post(signed(event, { id: 'wh_first' }))
  t.same(replay.json(), { received: true, outcome: 'duplicate' }, 'a replayed webhook-id (freshly signed) is acknowledged')
  await app.store.changes.publish('response', 'mark')
  await until(() => heard.includes('mark'))
  t.same(heard, ['resp_abc', 'mark'], 'and has no effect')

  const wrongKey = `whsec_${randomBytes(24).toString('base64')}`
  for (const [why, headers, payload] of [
    ['a bad signature', signed(event, { secret: wrongKey }), event],
    ['a stale timestamp (10 minutes old)', signed(event, { timestamp: Math.floor(Date.now() / 1000) - 600 }), event],
    ['a timestamp in the future', signed(event, { timestamp: Math.floor(Date.now() / 1000) + 600 }), event],
    ['a body changed after signing', signed(event), event.replace('resp_abc', 'resp_xyz')],
    ['no signature headers', { 'content-type': 'application/json' }, event]
  ] as const) {
    const res = await post(headers as Record<string, string>, payload)
    t.equal(res.statusCode, 400, why)
    t.match(res.json(), { code: 'VALIDATION_FAILED', message: /signature/ })
  }
  t.same(heard, ['resp_abc', 'mark'], 'nothing refused had an effect')
  const ignored = JSON.stringify({ id: 'evt_2', object: 'event', type: 'batch.completed', created_at: 1, data: { id: 'batch_1' } })
  t.same((await post(signed(ignored), ignored)).json(), { received: true, outcome: 'ignored' }, 'events the gateway has no use for are acknowledged')
})

t.test('the simulator\'s deliveries: bad and stale attempts are refused and retried, duplicates have no effect; response events reach the seam', async t => {
  const { sim, app } = await setup(t)
  const heard: string[] = []
  app.store.changes.subscribe('response', id => { heard.push(id) })
  // Both events of this turn (response.completed, then the notice) are delivered twice; the first attempt is badly signed.
  sim.configure({ webhooks: { badSignatureNext: 1, duplicateNext: 2 } })
  const run = await turn(app, 'alice', 'Please be careful [safety:warning]')
  t.equal(run.status, 'completed')
  await sim.webhooks.idle()
  sim.configure({ webhooks: { staleNext: 1 } })
  await turn(app, 'hal', 'Fine')
  await sim.webhooks.idle()

  const deliveries = sim.webhooks.deliveries()
  t.ok(deliveries.every(d => d.outcome === 'acknowledged'), 'every delivery was acknowledged in the end')
  t.equal(deliveries.flatMap(d => d.results).filter(r => r === 400).length, 2, 'the badly signed and the stale attempt were refused (and retried)')
  const safety = safetyDeliveries(sim)
  t.same(safety.map(d => d.duplicate), [false, true], 'the notice was delivered twice, with one webhook-id')
  t.match(await userView(app, 'alice'), { safety: { warnings: 1 }, suspended: false }, 'one notice counted, however often delivered')
  t.equal((await auditOf(app, '&action=safety.warning_issued')).length, 1, 'and audited once')

  const responseIds = (await app.store.getRun(run.id))!.response_ids
  await until(() => responseIds.every(id => heard.includes(id)), { message: 'a response change for each response of the run' })
  t.equal(heard.filter(id => id === responseIds[0]).length, 1, 'once, though delivered twice')
  t.same(sim.nonconforming(), [])
})

t.test('safety notices: mapped to the user, recorded, audited; a deactivation suspends (SAFETY_AUTO_SUSPEND=deactivation, the default)', async t => {
  const { sim, app } = await setup(t)
  await turn(app, 'bob', 'Something borderline [safety:warning]')
  await sim.webhooks.idle()
  const warned = await userView(app, 'bob')
  t.match(warned, { suspended: false, safety: { warnings: 1, deactivations: 0, last_notice: { type: 'warning', case_id: /^case_/ } } })
  t.ok(warned.safety.last_warning_at > 0)

  await turn(app, 'bob', 'Something worse [safety:deactivation]')
  await sim.webhooks.idle()
  const suspended = await userView(app, 'bob')
  t.match(suspended, { suspended: true, suspended_by: 'system', suspension_reason: /^Automatic: OpenAI safety deactivation \(case case_/, safety: { warnings: 1, deactivations: 1 } })
  t.equal((await app.inject({ url: '/api/openai/threads', headers: bearer(userToken('bob')) })).statusCode, 403, 'bob is refused from now on')
  t.equal((await app.inject({ url: '/api/openai/threads', headers: bearer(userToken('carol')) })).statusCode, 200, 'nobody else is')

  const cases = sim.safetyCases()
  const entries = await auditOf(app, '&actor=system')
  t.match(entries, [
    { action: 'user.suspend', target: 'bob', details: { case_id: cases[1]!.id, policy: 'deactivation', changed: true } },
    { action: 'safety.deactivation_issued', target: 'bob', details: { case_id: cases[1]!.id, safety_identifier: cases[1]!.safety_identifier, resolution: 'resolved' } },
    { action: 'safety.warning_issued', target: 'bob', details: { case_id: cases[0]!.id, resolution: 'resolved' } }
  ])
  t.ok(entries.every((e: { request_id: string | null }) => typeof e.request_id === 'string'), 'each with the webhook request\'s id')
  t.match((await app.inject({ url: '/api/openai/admin/audit/verify', headers: admin })).json(), { valid: true, entries: 3, first_bad_id: null })
})

t.test('a notice with only a case id: the case is read with OPENAI_SAFETY_API_KEY; without it the notice is recorded unresolved', async t => {
  await t.test('with the key', async t => {
    const { sim, app } = await setup(t, { OPENAI_SAFETY_API_KEY: SAFETY_KEY, SAFETY_AUTO_SUSPEND: 'any' })
    await turn(app, 'dana', 'Hmm [safety:warning:case-only]')
    await sim.webhooks.idle()
    t.same(safetyDeliveries(sim).map(d => Object.keys(d.event.data)), [['id']], 'the notice carried the case id only')
    t.equal(sim.counters()['GET /v1/safety/cases/{id}'] ?? sim.counters()['GET /v1/safety/cases/{case_id}'], 1, 'the case was read')
    t.match(await userView(app, 'dana'), { suspended: true, suspended_by: 'system', safety: { warnings: 1 } }, 'SAFETY_AUTO_SUSPEND=any suspends on a warning')
    t.match(await auditOf(app, '&action=safety.warning_issued'), [{ target: 'dana', details: { resolution: 'resolved', reason: /flagged/ } }])
  })
  await t.test('without it', async t => {
    const { sim, app } = await setup(t)
    await turn(app, 'erin', 'Hmm [safety:deactivation:case-only]')
    await sim.webhooks.idle()
    t.equal(safetyDeliveries(sim)[0]?.outcome, 'acknowledged')
    t.match(await userView(app, 'erin'), { suspended: false, safety: { deactivations: 0 } }, 'nobody is flagged on a guess')
    t.match(await auditOf(app), [{ action: 'safety.deactivation_issued', actor: 'system', target: null, details: { resolution: 'unresolved', unresolved: /no OPENAI_SAFETY_API_KEY/, case_id: /^case_/ } }])
  })
  await t.test('a key without the scope', async t => {
    const { sim, app } = await setup(t, { OPENAI_SAFETY_API_KEY: 'sk-sim-test-key' })
    await turn(app, 'fay', 'Hmm [safety:warning:case-only]')
    await sim.webhooks.idle()
    t.match(await auditOf(app), [{ target: null, details: { resolution: 'unresolved', unresolved: /answered 403/ } }])
  })
})

t.test('SAFETY_AUTO_SUSPEND=off records and audits, suspends nobody', async t => {
  const { sim, app } = await setup(t, { SAFETY_AUTO_SUSPEND: 'off' })
  await turn(app, 'gus', 'Bad [safety:deactivation]')
  await sim.webhooks.idle()
  t.match(await userView(app, 'gus'), { suspended: false, safety: { deactivations: 1 } })
  t.same((await auditOf(app)).map((e: { action: string }) => e.action), ['safety.deactivation_issued'])
})
