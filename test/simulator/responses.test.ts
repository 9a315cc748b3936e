import t from 'tap'
import OpenAI from 'openai'
import { assertNoNonconforming, conformance, failure, poll, setup, wire } from './helpers.ts'
import { until } from '../helpers/until.ts'

t.test('responses through the SDK', async (t) => {
  const { sim, openai } = await setup(t, { generationMs: 40, queueMs: 15 })

  t.test('background lifecycle: queued → in_progress → completed, items appended only at the end', async (t) => {
    const conv = await openai.conversations.create({ items: [{ role: 'user', content: 'Earlier message' }] })
    const created = await openai.responses.create({
      model: 'gpt-5.5',
      conversation: conv.id,
      input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'What is 2+2?' }] }],
      instructions: 'Be brief.',
      background: true,
      store: true,
      metadata: { gateway_run_id: 'run_1' }
    })
    t.match(created.id, /^resp_[0-9a-f]{48}$/)
    t.equal(created.status, 'queued')
    t.equal(created.background, true)
    t.equal(created.usage, null, 'no usage before the end')
    t.same(created.conversation, { id: conv.id })
    t.same(created.metadata, { gateway_run_id: 'run_1' })
    t.equal(conformance(sim, 'createResponse', created), null, 'a queued response conforms to the spec')

    const before = await openai.conversations.items.list(conv.id)
    t.equal(before.data.length, 1, 'the input is not in the conversation while the response runs')

    const statuses: string[] = ['queued']
    const done = await poll(openai, created.id, statuses)
    t.same(statuses, ['queued', 'in_progress', 'completed'])
    t.equal(done.output_text, 'You said: "What is 2+2?". This is a simulated answer from gpt-5.5. It is generated word by word by the OpenAI upstream simulator, deterministically, so that tests can predict every word of it.')
    t.type(done.completed_at, 'number')
    t.equal(done.error, null)
    t.equal(done.instructions, 'Be brief.')
    t.equal(sim.checkResponse('getResponse', wire(done)), null, 'a completed response conforms to the spec')

    const tokens = (text: string) => Math.ceil(text.length / 4)
    const input = tokens('Be brief.') + tokens('Earlier message') + tokens('What is 2+2?')
    t.same(done.usage, {
      input_tokens: input,
      input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0, cache_write_tokens_details: { ttl_30m_tokens: 0, ttl_12h_tokens: 0 } },
      output_tokens: tokens(done.output_text ?? ''),
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: input + tokens(done.output_text ?? '')
    }, 'usage is derived from text lengths: instructions, then each item')

    const after = await openai.conversations.items.list(conv.id, { order: 'asc' })
    t.equal(after.data.length, 3)
    t.match(after.data[1], { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'What is 2+2?' }] })
    t.match(after.data[2], { id: done.output[0].id, type: 'message', role: 'assistant', status: 'completed' })
    const again = await openai.responses.retrieve(created.id)
    t.same(wire(again), wire(done), 'a finished response reads the same every time')
  })

  t.test('non-background requests answer when done', async (t) => {
    const r = await openai.responses.create({ model: 'gpt-4.1', input: 'Plain request' })
    t.equal(r.status, 'completed')
    t.equal(r.background, false)
    t.match(r.output_text, /^You said: "Plain request"\./)
    const got = await openai.responses.retrieve(r.id)
    t.equal(got.id, r.id, 'stored by default')
  })

  t.test('[len:N] makes the answer N words', async (t) => {
    const r = await openai.responses.create({ model: 'gpt-4.1', input: 'Tell me more [len:57]' })
    t.equal(r.output_text.split(/\s+/).length, 57)
    const again = await openai.responses.create({ model: 'gpt-4.1', input: 'Tell me more [len:57]' })
    t.equal(again.output_text, r.output_text, 'deterministic')
  })

  t.test('[incomplete] and max_output_tokens end incomplete with truncated output', async (t) => {
    const directive = await openai.responses.create({ model: 'gpt-4.1', input: 'Stop early [incomplete]' })
    t.equal(directive.status, 'incomplete')
    t.same(directive.incomplete_details, { reason: 'max_output_tokens' })
    t.equal(directive.output[0].type === 'message' && directive.output[0].status, 'incomplete')

    const capped = await openai.responses.create({ model: 'gpt-4.1', input: 'Long answer [len:200]', max_output_tokens: 16, background: true })
    const done = await poll(openai, capped.id)
    t.equal(done.status, 'incomplete')
    t.equal(done.output_text.length, 64, 'the text is cut at the cap (16 tokens of 4 characters)')
    t.equal(done.usage?.output_tokens, 16)
    t.equal(sim.checkResponse('getResponse', wire(done)), null)

    const fits = await openai.responses.create({ model: 'gpt-4.1', input: 'Short [len:3]', max_output_tokens: 16 })
    t.equal(fits.status, 'completed')
  })

  t.test('[fail] ends failed with an error', async (t) => {
    const conv = await openai.conversations.create()
    const r = await openai.responses.create({ model: 'gpt-4.1', conversation: conv.id, input: 'Break [fail]', background: true })
    const done = await poll(openai, r.id)
    t.equal(done.status, 'failed')
    t.match(done.error, { code: 'server_error', message: String })
    t.same(done.output, [])
    t.equal(sim.checkResponse('getResponse', wire(done)), null)
    const items = await openai.conversations.items.list(conv.id)
    t.same(items.data, [], 'a failed response adds nothing to the conversation')
  })

  t.test('cancel', async (t) => {
    const conv = await openai.conversations.create()
    const r = await openai.responses.create({ model: 'gpt-4.1', conversation: conv.id, input: 'Slow one [slow:5000]', background: true })
    const cancelled = await openai.responses.cancel(r.id)
    t.equal(cancelled.status, 'cancelled')
    t.equal((await openai.responses.retrieve(r.id)).status, 'cancelled')
    const items = await openai.conversations.items.list(conv.id)
    t.same(items.data, [], 'a cancelled response adds nothing to the conversation')
    const next = await openai.responses.create({ model: 'gpt-4.1', conversation: conv.id, input: 'Next', background: true })
    t.equal(next.status, 'queued', 'the conversation is free again')
    const done = await poll(openai, next.id)

    const again = await openai.responses.cancel(done.id)
    t.equal(again.status, 'completed', 'cancelling a finished response returns it unchanged')
    t.same(wire(again), wire(done))

    const sync = await openai.responses.create({ model: 'gpt-4.1', input: 'sync' })
    const refused = await failure(openai.responses.cancel(sync.id))
    t.type(refused, OpenAI.BadRequestError, 'only background responses can be cancelled')
    t.type(await failure(openai.responses.cancel('resp_missing')), OpenAI.NotFoundError)
  })

  t.test('conversation_locked while a response runs', async (t) => {
    const conv = await openai.conversations.create()
    const first = await openai.responses.create({ model: 'gpt-4.1', conversation: conv.id, input: 'First [slow:300]', background: true })
    const second = await failure(openai.responses.create({ model: 'gpt-4.1', conversation: { id: conv.id }, input: 'Second', background: true }))
    t.type(second, OpenAI.BadRequestError)
    t.match(second, {
      status: 400,
      code: 'conversation_locked',
      param: 'conversation',
      message: /Another process is currently operating on this conversation\. Please retry in a few seconds\./
    })
    const items = await failure(openai.conversations.items.create(conv.id, { items: [{ role: 'user', content: 'sneaky' }] }))
    t.match(items, { status: 400, code: 'conversation_locked' }, 'items.create is refused too')
    await openai.responses.cancel(first.id)
    const ok = await openai.conversations.items.create(conv.id, { items: [{ role: 'user', content: 'now' }] })
    t.equal(ok.data.length, 1)
  })

  t.test('reasoning models reject sampling parameters', async (t) => {
    const temperature = await failure(openai.responses.create({ model: 'gpt-5.5', input: 'x', temperature: 0.2 }))
    t.type(temperature, OpenAI.BadRequestError)
    t.match(temperature, { code: 'unsupported_value', param: 'temperature' })
    const topP = await failure(openai.responses.create({ model: 'o3', input: 'x', top_p: 0.5 }))
    t.match(topP, { code: 'unsupported_value', param: 'top_p' })
    const defaults = await openai.responses.create({ model: 'gpt-5.5', input: 'x', temperature: 1 })
    t.equal(defaults.status, 'completed', 'the default value is accepted')
    const classic = await openai.responses.create({ model: 'gpt-4.1', input: 'x', temperature: 0.2, top_p: 0.9 })
    t.equal(classic.temperature, 0.2, 'other models accept them')
  })

  t.test('request errors', async (t) => {
    t.type(await failure(openai.responses.create({ model: 'gpt-4.1', conversation: 'conv_missing', input: 'x' })), OpenAI.NotFoundError)
    t.match(await failure(openai.responses.create({ input: 'x' } as never)), { status: 400, code: 'missing_required_parameter', param: 'model' })
    t.match(await failure(openai.responses.create({ model: 'gpt-4.1' })), { status: 400, param: 'input' })
    t.type(await failure(openai.responses.retrieve('resp_missing')), OpenAI.NotFoundError)
    const conv = await openai.conversations.create()
    t.match(await failure(openai.responses.create({ model: 'gpt-4.1', conversation: conv.id, previous_response_id: 'resp_x', input: 'x' })), { status: 400 })
  })

  t.test('a conversation alone is a valid input', async (t) => {
    const conv = await openai.conversations.create({ items: [{ role: 'user', content: 'From the items' }] })
    const r = await openai.responses.create({ model: 'gpt-4.1', conversation: conv.id })
    t.match(r.output_text, /You said: "From the items"/)
  })

  t.test('previous_response_id chains without a conversation', async (t) => {
    const first = await openai.responses.create({ model: 'gpt-4.1', input: 'One' })
    const second = await openai.responses.create({ model: 'gpt-4.1', previous_response_id: first.id, input: 'Two' })
    t.equal(second.previous_response_id, first.id)
    t.ok((second.usage?.input_tokens ?? 0) > (first.usage?.input_tokens ?? 0), 'the chain counts as input')
  })

  t.test('store: false responses cannot be retrieved', async (t) => {
    const r = await openai.responses.create({ model: 'gpt-4.1', input: 'ephemeral', store: false })
    t.equal(wire(r).store, false)
    t.type(await failure(openai.responses.retrieve(r.id)), OpenAI.NotFoundError)
  })

  t.test('input items and delete', async (t) => {
    const r = await openai.responses.create({ model: 'gpt-4.1', input: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }] })
    const page = await openai.responses.inputItems.list(r.id, { order: 'asc' })
    t.same(page.data.map((i) => i.type === 'message' && i.content[0].type === 'input_text' && i.content[0].text), ['a', 'b'])
    await openai.responses.delete(r.id)
    t.type(await failure(openai.responses.retrieve(r.id)), OpenAI.NotFoundError)
  })

  t.test('poll-after header when configured', async (t) => {
    const r = await openai.responses.create({ model: 'gpt-4.1', input: 'x', background: true })
    const plain = await openai.responses.retrieve(r.id).withResponse()
    t.equal(plain.response.headers.get('openai-poll-after-ms'), null)
    sim.configure({ pollAfterMs: 750 })
    t.teardown(() => sim.configure({ pollAfterMs: null }))
    const hinted = await openai.responses.retrieve(r.id).withResponse()
    t.equal(hinted.response.headers.get('openai-poll-after-ms'), '750')
    t.match(hinted.request_id, /^req_[0-9a-f]{32}$/, 'x-request-id is sent')
    await poll(openai, r.id)
  })

  t.test('input files must exist', async (t) => {
    const bad = await failure(openai.responses.create({
      model: 'gpt-4.1',
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'read this' }, { type: 'input_file', file_id: 'file-doesnotexist' }] }]
    }))
    t.match(bad, { status: 400, param: 'input[0].content[1].file_id' })
  })

  t.test('[stuck] stays queued until cancelled', async (t) => {
    const r = await openai.responses.create({ model: 'gpt-4.1', input: 'Hold [stuck]', background: true })
    // Nothing left to move it: no simulator step is pending (a queued response leaves queued on a timer).
    await until(() => sim.stats().timers === 0, { message: 'no pending simulator step' })
    t.equal((await openai.responses.retrieve(r.id)).status, 'queued')
    t.equal((await openai.responses.cancel(r.id)).status, 'cancelled')
  })

  t.test('the parameters a gateway sends conform and are echoed', async (t) => {
    const conv = await openai.conversations.create({ metadata: { tenant: 't' } })
    const r = await openai.responses.create({
      model: 'gpt-5.5',
      conversation: { id: conv.id },
      instructions: 'You are concise.',
      input: [
        { type: 'message', role: 'developer', content: 'Context for this run.' },
        { role: 'user', content: [{ type: 'input_text', text: 'Hello' }, { type: 'input_image', image_url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'low' }] }
      ],
      tools: [{ type: 'function', name: 'lookup', description: 'Look up', parameters: { type: 'object', properties: {}, additionalProperties: false }, strict: true }],
      tool_choice: 'auto',
      parallel_tool_calls: true,
      max_output_tokens: 4_000,
      max_tool_calls: 4,
      reasoning: { effort: 'low', summary: 'auto' },
      text: { format: { type: 'json_schema', name: 'answer', schema: { type: 'object', properties: { a: { type: 'string' } }, required: ['a'], additionalProperties: false }, strict: true }, verbosity: 'low' },
      include: ['message.output_text.logprobs'],
      store: true,
      background: true,
      metadata: { gateway_run_id: 'run_9', thread_id: 'th_1' },
      prompt_cache_key: 'thread-th_1',
      safety_identifier: 'user-hash',
      service_tier: 'auto',
      stream_options: { include_obfuscation: false }
    })
    t.match(r, { status: 'queued', tool_choice: 'auto', max_output_tokens: 4000, reasoning: { effort: 'low' }, prompt_cache_key: 'thread-th_1' })
    t.match(r.text, { format: { type: 'json_schema', name: 'answer' } })
    const done = await poll(openai, r.id)
    t.equal(conformance(sim, 'getResponse', done), null)
    const withInclude = await openai.responses.retrieve(r.id, { include: ['message.output_text.logprobs', 'reasoning.encrypted_content'] })
    t.equal(withInclude.status, 'completed')
    const items = await openai.conversations.items.list(conv.id, { order: 'asc' })
    t.match(items.data[0], { type: 'message', role: 'developer', content: [{ type: 'input_text', text: 'Context for this run.' }] })
    t.match(items.data[1], { role: 'user', content: [{ type: 'input_text' }, { type: 'input_image', detail: 'low' }] })
  })

  t.test('no nonconforming requests', async (t) => assertNoNonconforming(t, sim))
})
