import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import OpenAI from 'openai'
import type { SafetyCase } from 'openai/resources/safety/cases'
import type { SafetyDeactivationIssuedWebhookEvent, SafetyWarningIssuedWebhookEvent, UnwrapWebhookEvent } from 'openai/resources/webhooks/webhooks'
import { API_KEY, assertNoNonconforming, failure, poll, setup } from './helpers.ts'
import { until } from '../helpers/until.ts'

const SECRET = `whsec_${randomBytes(32).toString('base64')}`
const READER = 'sk-safety-reader'

/** A webhook endpoint that keeps what the SDK verified. */
async function endpoint (t: Test, openai: OpenAI) {
  const events: UnwrapWebhookEvent[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      openai.webhooks.unwrap(Buffer.concat(chunks).toString('utf8'), req.headers as Record<string, string>, SECRET)
        .then((event) => { events.push(event); res.writeHead(200).end() }, () => res.writeHead(400).end())
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, events }
}

t.test('safety notices and cases', async (t) => {
  const { sim, openai } = await setup(t, { safetyReadKeys: [READER] })
  const hooks = await endpoint(t, openai)
  sim.configure({ webhooks: { url: hooks.url, secret: SECRET, backoffMs: 5 } })
  const reader = new OpenAI({ apiKey: READER, baseURL: sim.url, maxRetries: 0 })
  const notice = (type: string) => until(() => hooks.events.find((e) => e.type === type), { message: `a ${type} webhook` })

  t.test('[safety:warning]: the notice carries the case id and the request\'s safety_identifier', async (t) => {
    const r = await openai.responses.create({ model: 'gpt-5.5', input: 'Something awful [safety:warning]', safety_identifier: 'sid_7d1f' })
    t.match(r.output_text, /^You said: "Something awful"/, 'the directive is not quoted')
    const event = await notice('safety.warning_issued') as SafetyWarningIssuedWebhookEvent & { data: { safety_identifier: string } }
    t.match(event, { id: /^evt_/, object: 'event', type: 'safety.warning_issued', created_at: Number })
    t.same(Object.keys(event.data).sort(), ['id', 'safety_identifier'])
    t.match(event.data, { id: /^case_[0-9a-f]{32}$/, safety_identifier: 'sid_7d1f' })
    t.notOk(hooks.events.some((e) => e.type.startsWith('response.')), 'a synchronous response raises no response.* event')

    const safetyCase: SafetyCase = await reader.safety.cases.retrieve(event.data.id)
    t.same(safetyCase, {
      id: event.data.id,
      object: 'safety.case',
      created_at: safetyCase.created_at,
      entity_identifier: 'sid_7d1f',
      safety_identifier: 'sid_7d1f',
      notice: { type: 'warning' },
      reason: safetyCase.reason,
      response_id: r.id
    })
    t.match(safetyCase.reason, /policy/)
    t.same(sim.safetyCases().map((c) => c.id), [event.data.id])
  })

  t.test('only a key with api.safety.read reads cases', async (t) => {
    const [known] = sim.safetyCases()
    const counted = sim.counters()['GET /v1/safety/cases/{case_id}']
    const denied = await failure(openai.safety.cases.retrieve(known.id))
    t.type(denied, OpenAI.PermissionDeniedError)
    t.match(denied, { status: 403, code: null, error: { type: 'invalid_request_error' }, message: /^403 You have insufficient permissions for this operation\. Missing scopes: api\.safety\.read\./ })
    t.type(await failure(reader.safety.cases.retrieve('case_nope')), OpenAI.NotFoundError)
    const anonymous = new OpenAI({ apiKey: 'sk-unknown', baseURL: sim.url, maxRetries: 0 })
    t.type(await failure(anonymous.safety.cases.retrieve(known.id)), OpenAI.AuthenticationError)
    t.equal(sim.counters()['GET /v1/safety/cases/{case_id}'], counted + 3, 'counted under its own route')
  })

  t.test('[safety:deactivation:case-only] on a background response: the notice carries only the case id', async (t) => {
    const r = await openai.responses.create({ model: 'gpt-5.5', input: 'Worse [safety:deactivation:case-only]', safety_identifier: 'sid_9', background: true })
    await poll(openai, r.id)
    const event = await notice('safety.deactivation_issued') as SafetyDeactivationIssuedWebhookEvent
    t.same(Object.keys(event.data), ['id'], 'the gateway must fetch the case to learn whom it is about')
    t.match(await until(() => hooks.events.find((e) => e.type === 'response.completed' && e.data.id === r.id), { message: 'the response webhook' }), { data: { id: r.id } })
    t.match(await reader.safety.cases.retrieve(event.data.id), { notice: { type: 'deactivation' }, safety_identifier: 'sid_9', response_id: r.id })
  })

  t.test('safetyNotices: case-only makes every notice thin; without an identifier the case names the organisation', async (t) => {
    sim.configure({ safetyNotices: 'case-only' })
    t.teardown(() => sim.configure({ safetyNotices: 'with-identifier' }))
    const before = hooks.events.length
    await openai.responses.create({ model: 'gpt-5.5', input: '[safety:warning]' })
    const event = await until(() => hooks.events.slice(before).find((e) => e.type === 'safety.warning_issued'), { message: 'the thin notice' })
    t.same(Object.keys(event.data), ['id'])
    t.match(await reader.safety.cases.retrieve(event.data.id), { safety_identifier: null, entity_identifier: 'org-simulator' })
  })

  t.test('faults apply to the route; it is never recorded as nonconforming', async (t) => {
    sim.faults.add({ route: 'GET /v1/safety/cases/{id}', kind: 'status', status: 503 })
    t.match(await failure(reader.safety.cases.retrieve('case_x')), { status: 503 })
    const res = await fetch(`${sim.url}/safety/cases/case_x?unexpected=1`, { headers: { authorization: `Bearer ${READER}` } })
    t.equal(res.status, 404, 'unknown query parameters are not validated either')
    assertNoNonconforming(t, sim)
  })

  t.test('over the control API, and without webhooks', async (t) => {
    const control = async (body: unknown) => {
      const res = await fetch(`${sim.origin}/__sim/config`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
      return { status: res.status, body: await res.json() as Record<string, unknown> }
    }
    t.match((await control({ safetyNotices: 'case-only', safetyReadKeys: ['sk-other-reader'] })).body, { safetyNotices: 'case-only', safetyReadKeys: 1 })
    t.equal((await control({ safetyNotices: 'loud' })).status, 400)
    t.equal((await control({ safetyReadKeys: 'sk-x' })).status, 400)
    await control({ safetyNotices: 'with-identifier', webhooks: { url: null } })

    const events = sim.webhooks.stats().events
    await openai.responses.create({ model: 'gpt-5.5', input: '[safety:warning]', safety_identifier: 'sid_quiet' })
    t.equal(sim.webhooks.stats().events, events, 'no webhook without a target')
    const opened = sim.safetyCases().at(-1)!
    t.equal(opened.safety_identifier, 'sid_quiet', 'the case is opened anyway')
    const other = new OpenAI({ apiKey: 'sk-other-reader', baseURL: sim.url, maxRetries: 0 })
    t.equal((await other.safety.cases.retrieve(opened.id)).id, opened.id)
    t.type(await failure(reader.safety.cases.retrieve(opened.id)), OpenAI.AuthenticationError, 'the replaced reader key is no longer known')
    sim.reset()
    t.same(sim.safetyCases(), [])
  })
})
