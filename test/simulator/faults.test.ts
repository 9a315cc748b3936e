import t from 'tap'
import OpenAI from 'openai'
import { API_KEY, assertNoNonconforming, failure, setup } from './helpers.ts'
import { until } from '../helpers/until.ts'

t.test('fault and latency knobs, observed through the SDK', async (t) => {
  const { sim, openai } = await setup(t)
  const retrying = new OpenAI({ apiKey: API_KEY, baseURL: sim.url, maxRetries: 2, timeout: 5_000 })
  t.afterEach(() => sim.faults.clear())

  t.test('429 with retry-after is retried by the SDK', async (t) => {
    sim.faults.add({ route: 'POST /v1/conversations', kind: 'status', status: 429, retryAfter: 0.01 })
    const before = sim.counters()['POST /v1/conversations'] ?? 0
    const conv = await retrying.conversations.create()
    t.match(conv.id, /^conv_/)
    t.equal(sim.counters()['POST /v1/conversations'] - before, 2, 'one 429, then one success')
  })

  t.test('a 429 that persists surfaces as RateLimitError with its headers', async (t) => {
    sim.faults.add({ route: 'POST /v1/conversations', kind: 'status', status: 429, retryAfter: 0.01, times: 0 })
    const before = sim.counters()['POST /v1/conversations'] ?? 0
    const error = await failure(retrying.conversations.create())
    t.type(error, OpenAI.RateLimitError)
    t.match(error, { status: 429, code: 'rate_limit_exceeded', type: 'requests' })
    t.equal((error as unknown as InstanceType<typeof OpenAI.APIError>).headers?.get('retry-after'), '0.01')
    t.match((error as unknown as InstanceType<typeof OpenAI.APIError>).requestID, /^req_/)
    t.equal(sim.counters()['POST /v1/conversations'] - before, 3, 'maxRetries: 2 means three attempts')
  })

  t.test('500 and 503, with after and times', async (t) => {
    const conv = await openai.conversations.create()
    sim.faults.add({ route: 'GET /v1/conversations/{conversation_id}', kind: 'status', status: 500, after: 1, times: 2 })
    t.equal((await openai.conversations.retrieve(conv.id)).id, conv.id, 'the first call is let through (after: 1)')
    t.type(await failure(openai.conversations.retrieve(conv.id)), OpenAI.InternalServerError)
    t.match(await failure(openai.conversations.retrieve(conv.id)), { status: 500, type: 'server_error' })
    t.equal((await openai.conversations.retrieve(conv.id)).id, conv.id, 'times: 2 is used up')

    sim.faults.add({ route: '*', kind: 'status', status: 503 })
    const unavailable = await failure(openai.conversations.retrieve(conv.id))
    t.type(unavailable, OpenAI.InternalServerError)
    t.equal(unavailable.status, 503)
    const retried = await retrying.conversations.retrieve(conv.id)
    t.equal(retried.id, conv.id, 'nothing left: the rule applied once')

    sim.faults.add({ route: 'GET /v1/conversations/{conversation_id}', kind: 'status', status: 500 })
    const before = sim.counters()['GET /v1/conversations/{conversation_id}']
    t.equal((await retrying.conversations.retrieve(conv.id)).id, conv.id)
    t.equal(sim.counters()['GET /v1/conversations/{conversation_id}'] - before, 2, 'the SDK retried the 500')
  })

  t.test('hang: the SDK times out, the simulator lets go of the request', async (t) => {
    const conv = await openai.conversations.create()
    sim.faults.add({ route: 'GET /v1/conversations/{conversation_id}', kind: 'hang' })
    const error = await failure(openai.conversations.retrieve(conv.id, { timeout: 100 }))
    t.type(error, OpenAI.APIConnectionTimeoutError)
    await until(() => sim.stats().hanging === 0, { message: 'the hung request to be dropped' })
    t.equal(sim.stats().hanging, 0, 'the hung request is dropped when the client goes away')
    t.equal((await openai.conversations.retrieve(conv.id)).id, conv.id, 'the next call is answered')
  })

  t.test('reset: the connection drops mid-body', async (t) => {
    sim.faults.add({ route: 'POST /v1/conversations', kind: 'reset' })
    const before = sim.stats().conversations
    const calls = sim.counters()['POST /v1/conversations']
    const error = await failure(retrying.conversations.create({ metadata: { attempt: 'reset' } }))
    // The headers arrived, so the SDK does not retry: the body read fails with undici's TypeError.
    t.type(error, TypeError)
    t.match(error, { message: 'terminated' })
    t.equal(sim.counters()['POST /v1/conversations'] - calls, 1, 'not retried')
    t.equal(sim.stats().conversations, before + 1, 'the work was done before the connection dropped')
  })

  t.test('reset on a stream: the connection drops inside the first event', async (t) => {
    sim.faults.add({ route: 'POST /v1/responses', kind: 'reset' })
    const stream = await openai.responses.create({ model: 'gpt-4.1', input: 'hi', stream: true })
    const types: string[] = []
    const error = await failure((async () => { for await (const e of stream) types.push(e.type) })())
    t.type(error, TypeError)
    t.same(types, [], 'not one complete event')
  })

  t.test('stuck-queued: the response never leaves queued', async (t) => {
    sim.faults.add({ route: 'POST /v1/responses', kind: 'stuck-queued' })
    const conv = await openai.conversations.create()
    const r = await openai.responses.create({ model: 'gpt-4.1', conversation: conv.id, input: 'hello', background: true })
    // Nothing left to move it: no simulator step is pending (a queued response leaves queued on a timer).
    await until(() => sim.stats().timers === 0, { message: 'no pending simulator step' })
    t.equal((await openai.responses.retrieve(r.id)).status, 'queued')
    t.match(await failure(openai.responses.create({ model: 'gpt-4.1', conversation: conv.id, input: 'again' })), { code: 'conversation_locked' }, 'and keeps its conversation locked')
    t.equal((await openai.responses.cancel(r.id)).status, 'cancelled', 'until it is cancelled')
  })

  t.test('truncate-sse: the stream stops after N events', async (t) => {
    sim.faults.add({ route: 'POST /v1/responses', kind: 'truncate-sse', afterEvents: 2 })
    const stream = await openai.responses.create({ model: 'gpt-4.1', input: 'hi', stream: true })
    const types: string[] = []
    const error = await failure((async () => { for await (const e of stream) types.push(e.type) })())
    t.ok(error)
    t.same(types, ['response.created', 'response.in_progress'])
  })

  t.test('latency: a rule and the global knob delay answers', async (t) => {
    const conv = await openai.conversations.create()
    sim.faults.add({ route: 'GET /v1/conversations/{conversation_id}', kind: 'latency', ms: 400 })
    t.type(await failure(openai.conversations.retrieve(conv.id, { timeout: 100 })), OpenAI.APIConnectionTimeoutError)
    t.equal((await openai.conversations.retrieve(conv.id, { timeout: 100 })).id, conv.id, 'without the rule the same call fits the timeout')

    sim.setLatency({ fixedMs: 400, jitterMs: 10 })
    t.teardown(() => sim.setLatency({ fixedMs: 0, jitterMs: 0 }))
    t.type(await failure(openai.conversations.retrieve(conv.id, { timeout: 100 })), OpenAI.APIConnectionTimeoutError)
    sim.setLatency({ fixedMs: 0, jitterMs: 0 })
    t.equal((await openai.conversations.retrieve(conv.id, { timeout: 100 })).id, conv.id)
  })

  t.test('rules are validated', async (t) => {
    t.throws(() => sim.faults.add({ route: 'GET /v1/nope' as never, kind: 'hang' }), { message: /unknown route/ })
    t.throws(() => sim.faults.add({ route: '*', kind: 'status', status: 200 }), { message: /status/ })
    t.throws(() => sim.faults.add({ route: '*', kind: 'explode' } as never), { message: /unknown kind/ })
    t.same(sim.faults.list(), [])
    sim.faults.add({ route: 'GET /v1/responses/{id}', kind: 'hang' })
    t.match(sim.faults.list(), [{ route: 'GET /v1/responses/{response_id}' }], 'the short {id} form names the same route')
  })

  t.test('no nonconforming requests', async (t) => assertNoNonconforming(t, sim))
})
