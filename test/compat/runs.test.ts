import t from 'tap'
import { agentsFileWith } from './agents.ts'
import { forEachSdk, setup, refusal, all, upstreamOf, upstreamResponses, checkRun, checkMessage, RUNS } from './helpers.ts'
import { textOf, type Message, type Run } from './shapes.ts'

// beta.threads.runs: create with assistant_id, retrieve, update, list; the Assistants run parameters and what a profile does not let a run override.
forEachSdk(t, (test, factory) => {
  test('runs: create with assistant_id, retrieve, update metadata, list auto-paginated; the answer lands in the thread', async t => {
    const ctx = await setup(t, factory)
    const { sdk, wire, sim } = ctx
    const thread = await sdk.threads.create({ messages: [{ role: 'user', content: 'What should I study next?' }] })
    const run = await sdk.runs.createAndPoll(thread.id, { assistant_id: 'mentor' })
    checkRun(t, run, 'run')
    t.match(run, { thread_id: thread.id, assistant_id: 'mentor', status: 'completed', model: 'gpt-4.1', last_error: null, required_action: null, tools: [] })
    t.equal((run as Run & { assistant_type?: string }).assistant_type, 'mentor', 'v1 clients still get assistant_type')
    t.equal(run.instructions, null, 'a profile\'s prompt is not shown to users')
    t.type(run.completed_at, 'number')
    t.ok(run.usage && run.usage.total_tokens > 0, 'usage')
    t.equal(upstreamResponses(sim), 1, 'one upstream response')
    const created = wire.entries.find(e => e.method === 'POST' && RUNS.test(e.path))
    t.equal(created?.headers['openai-beta'], 'assistants=v2', 'the SDK announces the Assistants API')

    t.same(await sdk.runs.retrieve(thread.id, run.id), run, 'retrieve gives the same run')
    const updated = await sdk.runs.update(thread.id, run.id, { metadata: { rating: 'good' } })
    t.same(updated.metadata, { rating: 'good' })
    t.same((await sdk.runs.retrieve(thread.id, run.id)).metadata, { rating: 'good' }, 'the update is stored')

    const [answer] = await all(sdk.messages.list(thread.id, { limit: 1 }))
    t.ok(answer, 'an answer')
    if (answer) {
      checkMessage(t, answer, 'answer')
      t.match(answer, { role: 'assistant', run_id: run.id, assistant_id: 'mentor', status: 'completed' })
      t.type(answer.completed_at, 'number')
      t.match(textOf(answer), /What should I study next\?/)
    }

    const second = await sdk.runs.createAndPoll(thread.id, { assistant_id: 'mentor' })
    const third = await sdk.runs.createAndPoll(thread.id, { assistant_id: 'curator' })
    t.equal(third.assistant_id, 'curator')
    const mark = wire.mark()
    const runs = await all(sdk.runs.list(thread.id, { limit: 2 }))
    t.same(runs.map(r => r.id), [third.id, second.id, run.id], 'every run, newest first')
    t.equal(wire.since(mark).filter(e => e.method === 'GET' && RUNS.test(e.path)).length, 2, 'two pages')
    t.same(sim.nonconforming(), [])
  })
  test('the seed SPA\'s run through the SDK: { assistant_id, temperature: 0.4, top_p: 0.8 }', async t => {
    const { sdk, sim } = await setup(t, factory)
    const thread = await sdk.threads.create({ messages: [{ role: 'user', content: 'Привет! Что мне изучать дальше?' }] })
    const run = await sdk.runs.createAndPoll(thread.id, { assistant_id: 'curator', temperature: 0.4, top_p: 0.8 })
    t.match(run, { status: 'completed', assistant_id: 'curator', temperature: 0.4, top_p: 0.8 })
    const [upstream] = upstreamOf(sim, run.id)
    t.match(upstream, { temperature: 0.4, top_p: 0.8 }, 'sampling forwarded')
    t.same(sim.nonconforming(), [])
  })
  test('run parameters: echoed on the run and mapped to the Responses request', async t => {
    const { sdk, sim } = await setup(t, factory)
    const thread = await sdk.threads.create({ messages: [{ role: 'user', content: 'Answer in JSON please' }] })
    const run = await sdk.runs.createAndPoll(thread.id, {
      assistant_id: 'curator',
      metadata: { turn: '1' },
      max_completion_tokens: 300,
      truncation_strategy: { type: 'auto' },
      max_prompt_tokens: 5000,
      response_format: { type: 'json_object' },
      tool_choice: 'none',
      parallel_tool_calls: false,
      additional_messages: [{ role: 'user', content: 'One more thing: be brief, in JSON.' }]
    })
    checkRun(t, run, 'run')
    t.match(run, {
      status: 'completed',
      metadata: { turn: '1' },
      max_completion_tokens: 300,
      max_prompt_tokens: 5000,
      truncation_strategy: { type: 'auto' },
      response_format: { type: 'json_object' },
      tool_choice: 'none',
      parallel_tool_calls: false
    }, 'every parameter echoed')
    const [upstream] = upstreamOf(sim, run.id)
    t.match(upstream, {
      max_output_tokens: 300,
      truncation: 'auto',
      text: { format: { type: 'json_object' } },
      tool_choice: 'none',
      parallel_tool_calls: false
    }, 'and sent upstream as the Responses API spells them')
    const texts = (await all(sdk.messages.list(thread.id, { order: 'asc' }))).map(m => [m.role, textOf(m)])
    t.same(texts.slice(0, 2), [['user', 'Answer in JSON please'], ['user', 'One more thing: be brief, in JSON.']], 'additional_messages added before the run')
    t.match(texts[2], ['assistant', /One more thing/], 'and answered')

    const schema = { type: 'object', properties: { next: { type: 'string' } }, required: ['next'], additionalProperties: false }
    const structured = await sdk.runs.createAndPoll(thread.id, {
      assistant_id: 'curator',
      response_format: { type: 'json_schema', json_schema: { name: 'plan', schema, strict: true } }
    })
    t.match(structured, { status: 'completed', response_format: { type: 'json_schema', json_schema: { name: 'plan' } } })
    t.match(upstreamOf(sim, structured.id)[0], { text: { format: { type: 'json_schema', name: 'plan', schema, strict: true } } }, 'json_schema → text.format')

    const overCap = await refusal(t, sdk.runs.create(thread.id, { assistant_id: 'curator', max_completion_tokens: 100_000 }), sdk.errors.BadRequestError, 'max_completion_tokens over the cap')
    t.equal(overCap.param, 'max_completion_tokens')
    const manyKeys = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, 'v']))
    const metadata = await refusal(t, sdk.runs.create(thread.id, { assistant_id: 'curator', metadata: manyKeys }), sdk.errors.BadRequestError, 'nine metadata keys')
    t.equal(metadata.param, 'metadata')
    t.same(sim.nonconforming(), [])
  })
  test('what the profile sets cannot be overridden per run: model, instructions, tools, additional_instructions', async t => {
    const { sdk, sim, wire } = await setup(t, factory)
    const thread = await sdk.threads.create({ messages: [{ role: 'user', content: 'Hi' }] })
    const overrides: Array<[string, Record<string, unknown>]> = [
      ['model', { model: 'gpt-5.5' }],
      ['instructions', { instructions: 'Talk like a pirate.' }],
      ['tools', { tools: [{ type: 'code_interpreter' }] }],
      ['additional_instructions', { additional_instructions: 'Answer in French.' }]
    ]
    for (const [field, extra] of overrides) {
      const mark = wire.mark()
      const err = await refusal(t, sdk.runs.create(thread.id, { assistant_id: 'mentor', ...extra }), sdk.errors.BadRequestError, field)
      t.equal(err.param, field, `${field}: err.param names it`)
      if (field !== 'additional_instructions') t.match(err.message, /profile/i, `${field}: the message says the profile sets it`)
      t.equal(wire.since(mark).length, 1, `${field}: one request`)
    }
    t.equal(upstreamResponses(sim), 0, 'nothing went upstream')
    t.same(sim.nonconforming(), [])
  })
  test('additional_instructions where the profile accepts them', async t => {
    const AGENTS_FILE = agentsFileWith(t, { mentor: { accepts_additional_instructions: true } })
    const { sdk, sim } = await setup(t, factory, { env: { AGENTS_FILE } })
    const thread = await sdk.threads.create({ messages: [{ role: 'user', content: 'Explain closures' }] })
    const run = await sdk.runs.createAndPoll(thread.id, { assistant_id: 'mentor', additional_instructions: 'The learner is a beginner.' })
    t.equal(run.status, 'completed')
    const instructions = String(upstreamOf(sim, run.id)[0]?.instructions)
    t.match(instructions, /patient mentor/, 'the profile\'s instructions')
    t.match(instructions, /The learner is a beginner\./, 'plus the additional ones')
    t.same(sim.nonconforming(), [])
  })
  test('an incomplete run: status incomplete, incomplete_details.reason from the SDK\'s own values', async t => {
    const { sdk, sim } = await setup(t, factory)
    const thread = await sdk.threads.create({ messages: [{ role: 'user', content: 'Tell me everything [incomplete]' }] })
    const run = await sdk.runs.createAndPoll(thread.id, { assistant_id: 'mentor' })
    checkRun(t, run, 'incomplete run')
    t.equal(run.status, 'incomplete')
    const reasons: Array<NonNullable<Run['incomplete_details']>['reason']> = ['max_completion_tokens', 'max_prompt_tokens']
    t.ok(reasons.includes(run.incomplete_details?.reason), `run: reason "${run.incomplete_details?.reason}" is one the SDK declares`)
    const [answer] = await all(sdk.messages.list(thread.id, { limit: 1 }))
    t.match(answer, { role: 'assistant', run_id: run.id, status: 'incomplete', completed_at: null })
    t.type(answer?.incomplete_at, 'number')
    const messageReasons: Array<NonNullable<Message['incomplete_details']>['reason']> = ['content_filter', 'max_tokens', 'run_cancelled', 'run_expired', 'run_failed']
    t.ok(messageReasons.includes(answer?.incomplete_details?.reason as typeof messageReasons[number]), `message: reason "${answer?.incomplete_details?.reason}" is one the SDK declares`)
    t.same(sim.nonconforming(), [])
  })

  test('a run over the gateway\'s maximum duration: a status and last_error code the SDK declares', async t => {
    const { sdk, sim } = await setup(t, factory, { env: { RUN_MAX_DURATION_MS: '1000' } })
    const thread = await sdk.threads.create({ messages: [{ role: 'user', content: 'Forever [slow:30000]' }] })
    const run = await sdk.runs.createAndPoll(thread.id, { assistant_id: 'mentor' })
    checkRun(t, run, 'timed-out run')
    const codes: Array<NonNullable<Run['last_error']>['code']> = ['server_error', 'rate_limit_exceeded', 'invalid_prompt']
    t.ok(run.status === 'expired' || (run.status === 'failed' && codes.includes(run.last_error?.code as never)),
      `expired, or failed with a code the SDK declares (${run.status}, ${run.last_error?.code})`)
    t.same(sim.nonconforming(), [])
  })

  test('truncation_strategy last_messages, which the Responses API cannot do: refused with a 400, not read as auto', async t => {
    const { sdk, sim } = await setup(t, factory)
    const thread = await sdk.threads.create({ messages: [{ role: 'user', content: 'one' }, { role: 'user', content: 'two' }] })
    const err = await refusal(t, sdk.runs.create(thread.id, { assistant_id: 'mentor', truncation_strategy: { type: 'last_messages', last_messages: 1 } }), sdk.errors.BadRequestError, 'last_messages')
    t.equal(err.param, 'truncation_strategy')
    t.equal(upstreamResponses(sim), 0)
    t.same(sim.nonconforming(), [])
  })
})
