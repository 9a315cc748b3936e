import type { AddressInfo } from 'node:net'
import OpenAI from 'openai'
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, startSim } from '../helpers/build.ts'
import { bearer, userToken } from '../helpers/tokens.ts'
import { until } from '../helpers/until.ts'
import type { Simulator } from '../../simulator/index.ts'

const alice = bearer(userToken('alice'))
const CLIENT_TOOL = 'get_learner_context'

interface Ctx { app: FastifyInstance, sim: Simulator, clock: { now: () => number, advance: (ms: number) => void } }

async function setup (t: Test, env: Record<string, string> = {}): Promise<Ctx> {
  const sim = await startSim(t)
  let offset = 0
  const clock = { now: () => Date.now() + offset, advance: (ms: number) => { offset += ms } }
  const app = await build(t, sim, { clock: clock.now, env: { RUN_WAIT_TIMEOUT_MS: '20000', ...env } })
  return { app, sim, clock }
}

async function thread (app: FastifyInstance, text: string): Promise<string> {
  return (await app.inject({ method: 'POST', url: '/api/openai/threads', headers: alice, payload: { messages: [{ role: 'user', content: text }] } })).json().id
}

const runs = (threadId: string) => `/api/openai/threads/${threadId}/runs`
const submit = (app: FastifyInstance, threadId: string, runId: string, payload: object) =>
  app.inject({ method: 'POST', url: `${runs(threadId)}/${runId}/submit_tool_outputs`, headers: alice, payload })

async function pausedRun (app: FastifyInstance, text: string) {
  const threadId = await thread(app, text)
  const res = await app.inject({ method: 'POST', url: runs(threadId), headers: alice, payload: { assistant_id: 'curator' } })
  return { threadId, res, run: res.json() }
}

t.test('a client tool call pauses the run in requires_action; the outputs resume it to its answer', async t => {
  const { app, sim } = await setup(t)
  const { threadId, res, run } = await pausedRun(app, `Where am I? [call:${CLIENT_TOOL} {"detail":"page"}]`)
  t.equal(res.statusCode, 200, 'a waiting POST answers with the paused run')
  t.equal(run.status, 'requires_action')
  t.match(run.required_action, { type: 'submit_tool_outputs', submit_tool_outputs: { tool_calls: [{ type: 'function', function: { name: CLIENT_TOOL, arguments: '{"detail":"page"}' } }] } })
  const callId = run.required_action.submit_tool_outputs.tool_calls[0].id
  t.match(callId, /^call_/, 'the call id is the upstream call_id')
  t.type(run.expires_at, 'number')
  t.equal(run.usage, null, 'usage is not known before the run ends')

  const busy = await app.inject({ method: 'POST', url: `/api/openai/threads/${threadId}/messages`, headers: alice, payload: { content: 'hello?' } })
  t.equal(busy.statusCode, 409, 'the thread stays busy while the run waits')
  const usage = (await app.inject({ url: '/api/openai/usage', headers: alice })).json()
  t.equal(usage.reserved.tokens, 0, 'no budget is held while paused')
  const polled = await app.inject({ url: `${runs(threadId)}/${run.id}`, headers: { ...alice, 'x-stainless-poll-helper': 'true' } })
  t.equal(polled.json().status, 'requires_action', 'runs.poll returns a paused run at once')
  t.equal(polled.headers['openai-poll-after-ms'], undefined)

  const done = await submit(app, threadId, run.id, { tool_outputs: [{ tool_call_id: callId, output: '{"page":"algebra/3"}' }] })
  t.equal(done.statusCode, 200)
  t.match(done.json(), { status: 'completed', required_action: null })
  const messages = (await app.inject({ url: `/api/openai/threads/${threadId}/messages?order=asc`, headers: alice })).json().data
  t.match(messages.at(-1).content[0].text.value, `Tool result for ${callId}: {"page":"algebra/3"}`, 'the model read the client\'s output')
  t.equal(sim.counters()['POST /v1/responses'], 2)

  const steps = (await app.inject({ url: `${runs(threadId)}/${run.id}/steps?order=asc`, headers: alice })).json()
  t.same(steps.data.map((s: { type: string, status: string }) => `${s.type}:${s.status}`), ['tool_calls:completed', 'message_creation:completed'], 'one step per round that called functions, one per message')
  t.same(steps.data[0].step_details.tool_calls, [{ id: callId, type: 'function', function: { name: CLIENT_TOOL, arguments: '{"detail":"page"}', output: '{"page":"algebra/3"}' } }])
  t.equal(steps.data[1].step_details.message_creation.message_id, messages.at(-1).id)
  const one = await app.inject({ url: `${runs(threadId)}/${run.id}/steps/${steps.data[0].id}`, headers: alice })
  t.same(one.json(), steps.data[0])
  t.equal((await app.inject({ url: `${runs(threadId)}/${run.id}/steps/step_nope`, headers: alice })).statusCode, 404)
  t.same(sim.nonconforming(), [])
})

t.test('submit_tool_outputs takes exactly the pending calls: wrong, missing or repeated ids are 400s naming them', async t => {
  const { app, sim } = await setup(t)
  const { threadId, run } = await pausedRun(app, `Two things [call:${CLIENT_TOOL} {"a":1}] [call:${CLIENT_TOOL} {"a":2}]`)
  const [first, second] = run.required_action.submit_tool_outputs.tool_calls.map((c: { id: string }) => c.id)
  t.ok(first && second, 'two parallel client calls wait together')
  const cases: Array<[object[], RegExp]> = [
    [[{ tool_call_id: first, output: 'x' }], new RegExp(`miss the calls ${second}`)],
    [[{ tool_call_id: first, output: 'x' }, { tool_call_id: second, output: 'y' }, { tool_call_id: 'call_bogus', output: 'z' }], /does not wait for: call_bogus/],
    [[{ tool_call_id: first, output: 'x' }, { tool_call_id: first, output: 'x' }, { tool_call_id: second, output: 'y' }], new RegExp(`more than once: ${first}`)]
  ]
  for (const [outputs, message] of cases) {
    const res = await submit(app, threadId, run.id, { tool_outputs: outputs })
    t.equal(res.statusCode, 400)
    t.match(res.json().message, /^body\.tool_outputs /)
    t.match(res.json().message, message)
    t.equal(res.json().error.param, 'tool_outputs')
  }
  const tooLong = await submit(app, threadId, run.id, { tool_outputs: [{ tool_call_id: first, output: 'x'.repeat(64 * 1024 + 1) }, { tool_call_id: second, output: 'y' }] })
  t.equal(tooLong.statusCode, 400, 'outputs are bounded')
  t.equal((await app.store.getRun(run.id))!.status, 'requires_action', 'nothing refused touched the run')

  const done = await submit(app, threadId, run.id, { tool_outputs: [{ tool_call_id: second, output: 'two' }, { tool_call_id: first, output: 'one' }] })
  t.equal(done.json().status, 'completed')
  const again = await submit(app, threadId, run.id, { tool_outputs: [{ tool_call_id: first, output: 'one' }, { tool_call_id: second, output: 'two' }] })
  t.equal(again.statusCode, 400, 'a run no longer waiting takes no outputs')
  t.match(again.json().message, /the run is completed, not requires_action/)
  t.equal(again.headers['x-should-retry'], undefined)
  t.same(sim.nonconforming(), [])
})

t.test('server and client calls in one round: the server\'s run at once, only the client\'s are surfaced', async t => {
  const { app, sim } = await setup(t)
  const { threadId, run } = await pausedRun(app, `Time and place [call:get_current_time {"timezone":"UTC"}] [call:${CLIENT_TOOL} {}]`)
  t.equal(run.status, 'requires_action')
  t.same(run.required_action.submit_tool_outputs.tool_calls.map((c: { function: { name: string } }) => c.function.name), [CLIENT_TOOL])
  const callId = run.required_action.submit_tool_outputs.tool_calls[0].id
  const done = (await submit(app, threadId, run.id, { tool_outputs: [{ tool_call_id: callId, output: 'on page 3' }] })).json()
  t.equal(done.status, 'completed')
  const answer = (await app.inject({ url: `/api/openai/threads/${threadId}/messages?limit=1`, headers: alice })).json().data[0].content[0].text.value
  t.match(answer, /"timezone":"UTC"/, 'the server tool\'s output went up in the same round')
  t.match(answer, /on page 3/)
  const steps = (await app.inject({ url: `${runs(threadId)}/${run.id}/steps?order=asc`, headers: alice })).json().data
  const calls = steps[0].step_details.tool_calls
  t.equal(calls.find((c: { function: { name: string } }) => c.function.name === 'get_current_time').function.output, null, 'a server tool\'s output is not shown unless the profile says so')
  t.equal(calls.find((c: { function: { name: string } }) => c.function.name === CLIENT_TOOL).function.output, 'on page 3')
  t.same(sim.nonconforming(), [])
})

t.test('a paused run expires at expires_at (the clock moved); its calls are answered so the thread works again', async t => {
  const { app, sim, clock } = await setup(t, { RUN_REQUIRES_ACTION_TTL_MS: '60000' })
  const { threadId, run } = await pausedRun(app, `Context please [call:${CLIENT_TOOL} {}]`)
  clock.advance(60_000)
  const expired = await app.inject({ url: `${runs(threadId)}/${run.id}?wait=10000`, headers: alice })
  t.equal(expired.json().status, 'expired', 'a read of the run past its time expires it (the sweeper would too)')
  t.equal(expired.json().required_action, null)
  const late = await submit(app, threadId, run.id, { tool_outputs: [{ tool_call_id: run.required_action.submit_tool_outputs.tool_calls[0].id, output: 'late' }] })
  t.equal(late.statusCode, 400)
  const steps = (await app.inject({ url: `${runs(threadId)}/${run.id}/steps`, headers: alice })).json().data
  t.equal(steps[0].status, 'expired')
  // The mentor has no tools: the directive still in the last message calls nothing this time.
  const next = await app.inject({ method: 'POST', url: runs(threadId), headers: alice, payload: { assistant_id: 'mentor' } })
  t.equal(next.statusCode, 200, 'the thread is free')
  t.equal(next.json().status, 'completed', 'and not broken: the open call was answered in the conversation')
  t.same(sim.nonconforming(), [])
})

t.test('cancel while paused: cancelled, the thread free and whole', async t => {
  const { app, sim } = await setup(t)
  const { threadId, run } = await pausedRun(app, `Context please [call:${CLIENT_TOOL} {}]`)
  const cancelled = await app.inject({ method: 'POST', url: `${runs(threadId)}/${run.id}/cancel`, headers: alice })
  t.equal(cancelled.json().status, 'cancelled')
  const next = await app.inject({ method: 'POST', url: runs(threadId), headers: alice, payload: { assistant_type: 'mentor' } })
  t.equal(next.json().status, 'completed')
  const items = sim.peek.conversation(threadId)!.items
  t.ok(items.some(i => i.type === 'function_call_output' && /cancelled/.test(String(i.output))), 'the open call got an output saying why')
  t.same(sim.nonconforming(), [])
})

t.test('a paused run\'s thread: a write is a 409 that names the run and says to submit or cancel, not to retry; deleting the thread cancels the run', async t => {
  const { app, sim } = await setup(t)
  const { threadId, run } = await pausedRun(app, `Context please [call:${CLIENT_TOOL} {}]`)
  for (const [what, res] of [
    ['a message', await app.inject({ method: 'POST', url: `/api/openai/threads/${threadId}/messages`, headers: alice, payload: { content: 'hello?' } })],
    ['a run', await app.inject({ method: 'POST', url: runs(threadId), headers: alice, payload: { assistant_id: 'curator' } })]
  ] as const) {
    t.equal(res.statusCode, 409, what)
    t.equal(res.json().code, 'THREAD_BUSY')
    t.match(res.json().message, new RegExp(`^Can't (add messages to|start a run on) ${threadId} while a run ${run.id} is active: it is paused in requires_action`), `${what}: the run is named`)
    t.match(res.json().message, /submit its tool outputs or cancel it/, `${what}: what to do`)
    t.equal(res.json().message.match(/run_\w+/)?.[0], run.id, `${what}: the id as Assistants-era code extracts it`)
    t.equal(res.headers['x-should-retry'], 'false', `${what}: waiting cannot help, so no retry`)
    t.equal(res.headers['retry-after'], undefined)
  }

  const deleted = await app.inject({ method: 'DELETE', url: `/api/openai/threads/${threadId}`, headers: alice })
  t.equal(deleted.statusCode, 200, 'the thread goes: nothing of the paused run is in flight')
  t.same(deleted.json(), { id: threadId, object: 'thread.deleted', deleted: true })
  t.equal(await app.store.getRun(run.id), null, 'its run went with it (cancelled first: a thread is never deleted under an active run)')
  t.equal((await app.inject({ url: `/api/openai/threads/${threadId}`, headers: alice })).statusCode, 404)
  t.equal(sim.peek.conversation(threadId)?.deleted, true, 'and the conversation is gone upstream')
  t.equal(sim.counters()['POST /v1/responses'], 1, 'the run never resumed')
  t.same(sim.nonconforming(), [])
})

t.test('deleting a paused run\'s thread while its tool outputs are submitted: one of the two wins, never both', async t => {
  const { app, sim } = await setup(t)
  const outcomes = new Set<string>()
  for (let i = 0; i < 6; i++) {
    const { threadId, run } = await pausedRun(app, `Context please ${i} [call:${CLIENT_TOOL} {}]`)
    const callId = run.required_action.submit_tool_outputs.tool_calls[0].id
    const createdBefore = sim.counters()['POST /v1/responses']
    const [submitted, deleted] = await Promise.all([
      submit(app, threadId, run.id, { tool_outputs: [{ tool_call_id: callId, output: 'page 3' }] }),
      app.inject({ method: 'DELETE', url: `/api/openai/threads/${threadId}`, headers: alice })
    ])
    const final = await app.store.getRun(run.id)
    if (deleted.statusCode === 200) {
      outcomes.add('deleted')
      t.ok(submitted.statusCode === 400 || submitted.statusCode === 404, `${i}: the submit came too late (${submitted.statusCode})`)
      t.equal(final, null, `${i}: the run went with the thread`)
      t.equal(sim.counters()['POST /v1/responses'], createdBefore, `${i}: and never resumed upstream`)
    } else {
      outcomes.add('submitted')
      t.equal(submitted.statusCode, 200, `${i}: the submit won`)
      t.equal(final?.status, 'completed', `${i}: its run finished`)
      t.equal(deleted.statusCode, 409, `${i}: the delete is refused while the resumed run goes on`)
      t.match(deleted.json().message, run.id, `${i}: naming it`)
      t.equal((await app.inject({ url: `/api/openai/threads/${threadId}`, headers: alice })).statusCode, 200, `${i}: the thread is still there`)
    }
  }
  t.comment(`outcomes: ${[...outcomes].join(', ')}`)
  t.same(sim.nonconforming(), [])
})

t.test('streams: the tool-calls step, then requires_action ends the stream; submit with stream: true streams the rest', async t => {
  const { app } = await setup(t)
  const threadId = await thread(app, `Where am I? [call:${CLIENT_TOOL} {}]`)
  const first = await app.inject({ method: 'POST', url: runs(threadId), headers: alice, payload: { assistant_id: 'curator', stream: true } })
  const names = parse(first.body).map(e => e.event)
  const at = (name: string) => names.indexOf(name)
  t.ok(at('thread.run.step.created') >= 0 && at('thread.run.step.delta') > at('thread.run.step.created'), 'the tool-calls step is announced')
  t.same(names.slice(-2), ['thread.run.requires_action', 'done'], 'requires_action ends the stream')
  const paused = JSON.parse(parse(first.body).find(e => e.event === 'thread.run.requires_action')!.data)
  const callId = paused.required_action.submit_tool_outputs.tool_calls[0].id
  const rest = await submit(app, threadId, paused.id, { tool_outputs: [{ tool_call_id: callId, output: 'page 3' }], stream: true })
  t.match(rest.headers['content-type'], /^text\/event-stream/)
  const restNames = parse(rest.body).map(e => e.event)
  t.equal(restNames[0], 'thread.run.queued')
  t.ok(restNames.includes('thread.run.step.completed'), 'the tool-calls step completes')
  t.ok(restNames.includes('thread.message.delta'))
  t.same(restNames.slice(-2), ['thread.run.completed', 'done'])
})

t.test('the official SDK: createAndPoll → requires_action → submitToolOutputsAndPoll; stream → toolCallCreated → submitToolOutputsStream', async t => {
  const { app, sim } = await setup(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const openai = new OpenAI({ baseURL: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/api/openai`, apiKey: userToken('alice') })
  const created = await openai.beta.threads.create({ messages: [{ role: 'user', content: `Where am I? [call:${CLIENT_TOOL} {}]` }] })
  let run = await openai.beta.threads.runs.createAndPoll(created.id, { assistant_id: 'asst_curator' })
  t.equal(run.status, 'requires_action')
  const call = run.required_action!.submit_tool_outputs.tool_calls[0]!
  t.equal(call.function.name, CLIENT_TOOL)
  run = await openai.beta.threads.runs.submitToolOutputsAndPoll(run.id, { thread_id: created.id, tool_outputs: [{ tool_call_id: call.id, output: 'lesson 7' }] })
  t.equal(run.status, 'completed')

  await openai.beta.threads.messages.create(created.id, { role: 'user', content: `And now? [call:${CLIENT_TOOL} {}]` })
  const seen: string[] = []
  const stream = openai.beta.threads.runs.stream(created.id, { assistant_id: 'curator' })
    .on('toolCallCreated', toolCall => { if (toolCall.type === 'function') seen.push(toolCall.function.name) })
  const paused = await stream.finalRun()
  t.same(seen, [CLIENT_TOOL], 'toolCallCreated saw the client call')
  t.equal(paused.status, 'requires_action')
  let text = ''
  const resumed = openai.beta.threads.runs.submitToolOutputsStream(paused.id, {
    thread_id: created.id, tool_outputs: [{ tool_call_id: paused.required_action!.submit_tool_outputs.tool_calls[0]!.id, output: 'lesson 8' }]
  }).on('textDelta', delta => { text += delta.value ?? '' })
  const final = await resumed.finalRun()
  t.equal(final.status, 'completed')
  t.match(text, /lesson 8/, 'textDelta streamed the answer that read the output')
  const steps = await openai.beta.threads.runs.steps.list(final.id, { thread_id: created.id })
  t.equal(steps.data.filter(s => s.type === 'tool_calls').length, 1)
  t.same(sim.nonconforming(), [])
})

t.test('a paused run waits through two instances: paused on one, resumed on the other (shared store)', async t => {
  const sim = await startSim(t)
  const { openStore } = await import('../../services/store/index.ts')
  const { testConfig } = await import('../helpers/build.ts')
  const store = await openStore(testConfig(sim), Date.now)
  t.teardown(() => store.close())
  const a = await build(t, sim, { store, env: { RUN_WAIT_TIMEOUT_MS: '20000' } })
  const b = await build(t, sim, { store, env: { RUN_WAIT_TIMEOUT_MS: '20000' } })
  const { threadId, run } = await pausedRun(a, `Context [call:${CLIENT_TOOL} {}]`)
  await a.close()
  const done = await submit(b, threadId, run.id, { tool_outputs: [{ tool_call_id: run.required_action.submit_tool_outputs.tool_calls[0].id, output: 'from b' }] })
  t.equal(done.json().status, 'completed')
  await until(async () => (await store.getRun(run.id))?.status === 'completed', { message: 'the run to complete' })
})

function parse (body: string): Array<{ event: string, data: string }> {
  return body.split('\n\n').filter(block => block.startsWith('event:')).map(block => {
    const [eventLine, ...dataLines] = block.split('\n')
    return { event: eventLine.slice('event: '.length), data: dataLines.map(l => l.slice('data: '.length)).join('\n') }
  })
}
