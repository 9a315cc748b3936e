import t from 'tap'
import OpenAI from 'openai'
import { toResponseInputItems } from 'openai/lib/responses/ResponseInputItems'
import type { ResponseFunctionToolCall, ResponseInputItem, ResponseStreamEvent } from 'openai/resources/responses/responses'
import { assertNoNonconforming, conformance, failure, poll, setup, weatherTool } from './helpers.ts'

const timeTool = {
  type: 'function' as const,
  name: 'get_time',
  description: 'Current time in a timezone',
  parameters: { type: 'object', properties: { tz: { type: 'string' } }, required: ['tz'], additionalProperties: false },
  strict: true
}

function calls (output: OpenAI.Responses.Response['output']): ResponseFunctionToolCall[] {
  return output.filter((o): o is ResponseFunctionToolCall => o.type === 'function_call')
}

t.test('function calling through the SDK', async (t) => {
  const { sim, openai } = await setup(t)
  const base = { model: 'gpt-5.5', instructions: 'Use tools.', tools: [weatherTool, timeTool], background: true, store: true }

  t.test('a tool round inside a conversation', async (t) => {
    const conv = await openai.conversations.create()
    const first = await openai.responses.create({ ...base, conversation: conv.id, input: 'Weather? [call:get_weather {"city":"Paris"}]' })
    const done = await poll(openai, first.id)
    t.equal(done.status, 'completed', 'a response with tool calls ends completed')
    const [call] = calls(done.output)
    t.equal(done.output.length, 1)
    t.match(call, { type: 'function_call', status: 'completed', name: 'get_weather', arguments: '{"city":"Paris"}' })
    t.match(call.id, /^fc_/)
    t.match(call.call_id, /^call_[0-9A-Za-z]{24}$/)
    t.equal(conformance(sim, 'getResponse', done), null)

    const second = await openai.responses.create({
      ...base,
      conversation: conv.id,
      input: [{ type: 'function_call_output', call_id: call.call_id, output: '{"tempC":21}' }]
    })
    const answer = await poll(openai, second.id)
    t.equal(answer.output_text, `Tool result for ${call.call_id}: {"tempC":21}`, 'the answer quotes the tool output verbatim')

    const items = await openai.conversations.items.list(conv.id, { order: 'asc' })
    t.same(items.data.map((i) => i.type), ['message', 'function_call', 'function_call_output', 'message'])
    t.match(items.data[2], { type: 'function_call_output', call_id: call.call_id, output: '{"tempC":21}', status: 'completed' })
    const raw = await openai.get(`/conversations/${conv.id}/items`, { query: { order: 'asc' } })
    t.equal(conformance(sim, 'listConversationItems', raw), null, 'every item type conforms to the spec')
  })

  t.test('parallel calls and their outputs', async (t) => {
    const conv = await openai.conversations.create()
    const first = await poll(openai, (await openai.responses.create({
      ...base,
      conversation: conv.id,
      input: 'Both [call:get_weather {"city":"Oslo"}] [call:get_time {"tz":"Europe/Oslo"}]'
    })).id)
    const made = calls(first.output)
    t.same(made.map((c) => [c.name, c.arguments]), [['get_weather', '{"city":"Oslo"}'], ['get_time', '{"tz":"Europe/Oslo"}']])
    t.not(made[0].call_id, made[1].call_id)

    const outputs: ResponseInputItem[] = made.map((c, i) => ({ type: 'function_call_output', call_id: c.call_id, output: `out-${i}` }))
    const answer = await poll(openai, (await openai.responses.create({ ...base, conversation: conv.id, input: outputs })).id)
    t.equal(answer.output_text, `Tool result for ${made[0].call_id}: out-0\nTool result for ${made[1].call_id}: out-1`)

    const single = await poll(openai, (await openai.responses.create({
      ...base,
      parallel_tool_calls: false,
      input: 'One only [call:get_weather {"city":"A"}] [call:get_time {"tz":"B"}]'
    })).id)
    t.equal(calls(single.output).length, 1, 'parallel_tool_calls: false keeps the first call')
  })

  t.test('what the script does with odd tool requests', async (t) => {
    const unknown = await openai.responses.create({ model: 'gpt-4.1', tools: [weatherTool], input: '[call:launch_rockets {"count":3}]' })
    t.match(calls(unknown.output)[0], { name: 'launch_rockets', arguments: '{"count":3}' }, 'a tool that was not offered is still called')

    const malformed = await openai.responses.create({ model: 'gpt-4.1', tools: [weatherTool], input: 'Go [call:get_weather {"city": }]' })
    t.equal(calls(malformed.output)[0].arguments, '{"city": }', 'arguments are passed exactly as written')

    const nested = await openai.responses.create({ model: 'gpt-4.1', tools: [weatherTool], input: '[call:get_weather {"cities":["a]","b"],"n":{"x":1}}] tail' })
    t.equal(calls(nested.output)[0].arguments, '{"cities":["a]","b"],"n":{"x":1}}')

    const noArgs = await openai.responses.create({ model: 'gpt-4.1', tools: [weatherTool], input: '[call:get_weather]' })
    t.equal(calls(noArgs.output)[0].arguments, '{}')

    const noTools = await openai.responses.create({ model: 'gpt-4.1', input: 'No tools here [call:get_weather {"city":"Rome"}]' })
    t.same(calls(noTools.output), [], 'without tools the directive is ignored')
    t.equal(noTools.output_text.startsWith('You said: "No tools here"'), true, 'and removed from the quote')

    const none = await openai.responses.create({ model: 'gpt-4.1', tools: [weatherTool], tool_choice: 'none', input: '[call:get_weather {}]' })
    t.same(calls(none.output), [], 'tool_choice none disables calls')

    const required = await openai.responses.create({ model: 'gpt-4.1', tools: [weatherTool], tool_choice: 'required', input: 'Anything' })
    t.match(calls(required.output)[0], { name: 'get_weather', arguments: '{}' }, 'tool_choice required calls the first tool')
  })

  t.test('an output without its call is refused like OpenAI does', async (t) => {
    const conv = await openai.conversations.create()
    const error = await failure(openai.responses.create({
      ...base,
      conversation: conv.id,
      input: [{ type: 'function_call_output', call_id: 'call_nope', output: 'x' }]
    }))
    t.type(error, OpenAI.BadRequestError)
    t.match(error, { message: 'No tool call found for function call output with call_id call_nope.', param: 'input', code: null })
  })

  t.test('server and client tools in one round: every pending call needs its output', async (t) => {
    // The gateway runs get_weather itself and hands show_map (not among the tools) to its client.
    const conv = await openai.conversations.create()
    const round = await poll(openai, (await openai.responses.create({
      ...base,
      conversation: conv.id,
      input: 'Plan [call:get_weather {"city":"Oslo"}] [call:show_map {"zoom":3}] [call:show_map {"zoom":9}]'
    })).id)
    const made = calls(round.output)
    t.same(made.map((c) => [c.name, c.arguments]), [['get_weather', '{"city":"Oslo"}'], ['show_map', '{"zoom":3}'], ['show_map', '{"zoom":9}']],
      'a mixed round: a server tool and two parallel calls of the same client tool')
    t.equal(new Set(made.map((c) => c.call_id)).size, 3, 'each call has its own call_id')
    t.equal(conformance(sim, 'getResponse', round), null)

    const partial = await failure(openai.responses.create({
      ...base,
      conversation: conv.id,
      input: [
        { type: 'function_call_output', call_id: made[0].call_id, output: 'cold' },
        { type: 'function_call_output', call_id: made[2].call_id, output: 'shown' }
      ]
    }))
    t.type(partial, OpenAI.BadRequestError, 'an output missing for a pending call is refused')
    t.match(partial, { status: 400, message: `No tool output found for function call ${made[1].call_id}.`, param: 'input', code: null, type: 'invalid_request_error' })

    const newTurn = await failure(openai.responses.create({ ...base, conversation: conv.id, input: 'Never mind, something else' }))
    t.match(newTurn, { status: 400, message: `No tool output found for function call ${made[0].call_id}.` }, 'so is a new user turn while calls are pending')
    t.equal(sim.peek.conversation(conv.id)?.items.length, 4, 'refused requests append nothing')

    const outputs: ResponseInputItem[] = made.map((c, i) => ({ type: 'function_call_output', call_id: c.call_id, output: `out-${i}` }))
    const answer = await poll(openai, (await openai.responses.create({ ...base, conversation: conv.id, input: outputs })).id)
    t.equal(answer.status, 'completed', 'outputs for every pending call id are accepted')
    t.equal(answer.output_text, made.map((c, i) => `Tool result for ${c.call_id}: out-${i}`).join('\n'))
    const next = await poll(openai, (await openai.responses.create({ ...base, conversation: conv.id, input: 'Thanks' })).id)
    t.match(next.output_text, /^You said: "Thanks"/, 'with nothing pending a new turn is fine')
  })

  t.test('pending calls with previous_response_id and in a stateless history', async (t) => {
    const first = await openai.responses.create({ model: 'gpt-4.1', tools: [weatherTool], input: '[call:get_weather {"city":"Rome"}] [call:open_camera]' })
    const [weather, camera] = calls(first.output)
    t.equal(camera.name, 'open_camera')
    const missing = await failure(openai.responses.create({
      model: 'gpt-4.1',
      tools: [weatherTool],
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: weather.call_id, output: 'warm' }]
    }))
    t.match(missing, { status: 400, message: `No tool output found for function call ${camera.call_id}.`, param: 'input' })

    const history: ResponseInputItem[] = [{ role: 'user', content: 'x' }, ...toResponseInputItems(first.output), { type: 'function_call_output', call_id: camera.call_id, output: 'ok' }]
    const stateless = await failure(openai.responses.create({ model: 'gpt-4.1', tools: [weatherTool], store: false, input: history }))
    t.match(stateless, { status: 400, message: `No tool output found for function call ${weather.call_id}.` }, 'a replayed call needs its output too')
  })

  t.test('stateless rounds with previous_response_id', async (t) => {
    const first = await openai.responses.create({ model: 'gpt-4.1', tools: [weatherTool], input: '[call:get_weather {"city":"Lima"}]' })
    const [call] = calls(first.output)
    const second = await openai.responses.create({
      model: 'gpt-4.1',
      tools: [weatherTool],
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: call.call_id, output: 'sunny' }]
    })
    t.equal(second.output_text, `Tool result for ${call.call_id}: sunny`)
  })

  t.test('a stateless loop replaying output with the SDK\'s toResponseInputItems', async (t) => {
    const history: ResponseInputItem[] = [{ role: 'user', content: 'Weather please [call:get_weather {"city":"Bern"}]' }]
    const first = await openai.responses.create({ model: 'gpt-4.1', tools: [weatherTool], store: false, input: history })
    history.push(...toResponseInputItems(first.output))
    history.push({ type: 'function_call_output', call_id: calls(first.output)[0].call_id, output: 'snow' })
    const second = await openai.responses.create({ model: 'gpt-4.1', tools: [weatherTool], store: false, input: history })
    t.match(second.output_text, /^Tool result for call_\w+: snow$/)
    history.push(...toResponseInputItems(second.output), { role: 'user', content: 'Thanks' })
    const third = await openai.responses.create({ model: 'gpt-4.1', tools: [weatherTool], store: false, input: history })
    t.match(third.output_text, /^You said: "Thanks"/, 'replayed assistant messages conform to the spec')
  })

  t.test('streamed function calls', async (t) => {
    const stream = await openai.responses.create({ model: 'gpt-4.1', tools: [weatherTool], stream: true, input: '[call:get_weather {"city":"Kyiv"}]' })
    const events: ResponseStreamEvent[] = []
    for await (const event of stream) events.push(event)
    t.same(events.map((e) => e.type), [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed'
    ])
    t.match(events[4], { name: 'get_weather', arguments: '{"city":"Kyiv"}', output_index: 0 })
    for (const event of events) t.equal(conformance(sim, 'createResponse', event, 'text/event-stream'), null, `${event.type} conforms`)
  })

  t.test('no nonconforming requests', async (t) => assertNoNonconforming(t, sim))
})
