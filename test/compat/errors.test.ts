import t from 'tap'
import { headerOf } from './gateway.ts'
import { forEachSdk, setup, refusal, upstreamResponses, farFromReset } from './helpers.ts'

// Errors through the SDK: our code, type, param and message on its own error classes, and no retries where a retry cannot help.
forEachSdk(t, (test, factory) => {
  test('errors: our code, type, param and message, through the SDK\'s error classes, never retried', async t => {
    const ctx = await setup(t, factory)
    const { sdk, wire } = ctx
    let mark = wire.mark()
    const notFound = await refusal(t, sdk.threads.retrieve('conv_does_not_exist'), sdk.errors.NotFoundError, 'unknown thread')
    t.equal(notFound.status, 404)
    t.equal(notFound.code, 'NOT_FOUND')
    t.equal(notFound.type, 'invalid_request_error')
    t.equal(notFound.param ?? null, null)
    t.match(notFound.message, /Thread not found/, 'our message')
    t.match(notFound.error, { message: 'Thread not found', code: 'NOT_FOUND' }, 'err.error is the OpenAI-shaped error object')
    t.equal(wire.since(mark).length, 1, 'one request: a 404 is not retried')

    const thread = await sdk.threads.create()
    mark = wire.mark()
    const invalid = await refusal(t, sdk.messages.create(thread.id, { role: 'user', content: '' }), sdk.errors.BadRequestError, 'empty content')
    t.equal(invalid.code, 'VALIDATION_FAILED')
    t.equal(invalid.param, 'content', 'err.param names the field')
    t.equal(invalid.type, 'invalid_request_error')
    t.equal(wire.since(mark).length, 1)

    const unknownAssistant = await refusal(t, sdk.runs.create(thread.id, { assistant_id: 'asst_nobody' }), sdk.errors.BadRequestError, 'unknown assistant')
    t.equal(unknownAssistant.param, 'assistant_id')

    const foreign = await refusal(t, ctx.other.threads.retrieve(thread.id), ctx.other.errors.NotFoundError, 'another user\'s thread')
    t.equal(foreign.code, 'NOT_FOUND')

    const anonymous = factory(ctx.baseURL, 'not-a-jwt')
    const unauthorized = await refusal(t, anonymous.threads.create(), anonymous.errors.AuthenticationError, 'a bad token')
    t.equal(unauthorized.status, 401)
    t.equal(unauthorized.code, 'UNAUTHORIZED')
    t.equal(unauthorized.type, 'authentication_error')
    t.same(ctx.sim.nonconforming(), [])
  })
  test('a content part the gateway does not take (image_url): a 400 naming the part and what to send instead, nothing upstream', async t => {
    const { sdk, sim, wire } = await setup(t, factory)
    const thread = await sdk.threads.create()
    const content: Array<{ type: 'text', text: string } | { type: 'image_url', image_url: { url: string } }> =
      [{ type: 'text', text: 'What is in this picture?' }, { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }]
    const mark = wire.mark()
    const onMessage = await refusal(t, sdk.messages.create(thread.id, { role: 'user', content }), sdk.errors.BadRequestError, 'messages.create')
    t.equal(onMessage.code, 'VALIDATION_FAILED')
    t.equal(onMessage.param, 'content.1.type', 'err.param names the part')
    t.match((onMessage.error as { message: string }).message,
      /^body\.content\.1\.type image_url is not supported: .*upload the image \(POST \/files, purpose vision\) and send an image_file part/)
    t.equal(wire.since(mark).length, 1, 'not retried')

    const onRun = await refusal(t, sdk.runs.create(thread.id, { assistant_id: 'mentor', additional_messages: [{ role: 'user', content }] }), sdk.errors.BadRequestError, 'runs.create')
    t.equal(onRun.param, 'additional_messages.0.content.1.type')
    const onThread = await refusal(t, sdk.threads.create({ messages: [{ role: 'user', content: 'Hi' }, { role: 'user', content }] }), sdk.errors.BadRequestError, 'threads.create')
    t.equal(onThread.param, 'messages.1.content.1.type')
    const onCreateAndRun = await refusal(t, sdk.threads.createAndRun({ assistant_id: 'mentor', thread: { messages: [{ role: 'user', content }] } }), sdk.errors.BadRequestError, 'threads.createAndRun')
    t.equal(onCreateAndRun.param, 'thread.messages.0.content.1.type')

    const messages = []
    for await (const message of sdk.messages.list(thread.id)) messages.push(message)
    t.same(messages, [], 'the thread got nothing')
    t.equal(upstreamResponses(sim), 0, 'no run reached the model')
    t.same(sim.nonconforming(), [])
  })
  test('a budget refusal far from its reset: RateLimitError at once, one request, nothing upstream', async t => {
    const { sdk, sim, wire } = await setup(t, factory, { env: { BUDGET_USER_DAILY_TOKENS: '1', BUDGET_DAY_OFFSET_MINUTES: farFromReset() } })
    const thread = await sdk.threads.create({ messages: [{ role: 'user', content: 'Am I over budget?' }] })
    const mark = wire.mark()
    const err = await refusal(t, sdk.runs.create(thread.id, { assistant_id: 'mentor' }), sdk.errors.RateLimitError, 'over budget')
    t.equal(err.code, 'BUDGET_EXCEEDED')
    t.equal(err.type, 'insufficient_quota')
    t.equal(headerOf(err.headers, 'x-should-retry'), 'false', 'x-should-retry: false')
    t.ok(Number(headerOf(err.headers, 'retry-after')) > 60, 'Retry-After is the reset, hours away')
    t.equal(wire.since(mark).length, 1, 'the SDK did not retry')
    t.equal(upstreamResponses(sim), 0)
    t.same(sim.nonconforming(), [])
  })
})
