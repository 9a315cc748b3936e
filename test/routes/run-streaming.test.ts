import t, { type Test } from 'tap'
import { build, startSim } from '../helpers/build.ts'
import { bearer, userToken } from '../helpers/tokens.ts'
import { until } from '../helpers/until.ts'

const alice = bearer(userToken('alice'))

export interface SseEvent { event: string, data: string }

export function parseSse (text: string): SseEvent[] {
  return text.split('\n\n').filter(block => block.trim() && !block.startsWith(':')).map(block => {
    const lines = block.split('\n')
    return {
      event: lines.find(l => l.startsWith('event: '))?.slice(7) ?? 'message',
      data: lines.filter(l => l.startsWith('data: ')).map(l => l.slice(6)).join('\n')
    }
  })
}

async function setup (t: Test, simOptions = {}) {
  const sim = await startSim(t, { generationMs: 120, ...simOptions })
  const app = await build(t, sim)
  const thread = async (text: string) => (await app.inject({ method: 'POST', url: '/api/openai/threads', headers: alice, payload: { messages: [{ role: 'user', content: text }] } })).json().id as string
  const finalText = async (threadId: string) => (await app.inject({ url: `/api/openai/threads/${threadId}/messages?limit=1`, headers: alice })).json().data[0].content[0].text.value as string
  return { sim, app, thread, finalText }
}

function deltasOf (events: SseEvent[]): string {
  return events.filter(e => e.event === 'thread.message.delta')
    .map(e => JSON.parse(e.data).delta.content.map((c: { text: { value: string } }) => c.text.value).join('')).join('')
}

t.test('stream: true answers server-sent events in the contract order; deltas add up to the answer', async t => {
  const { app, sim, thread, finalText } = await setup(t)
  const threadId = await thread('Stream this to me please')
  const res = await app.inject({ method: 'POST', url: `/api/openai/threads/${threadId}/runs`, headers: alice, payload: { assistant_type: 'mentor', stream: true } })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/event-stream/)
  t.equal(res.headers['cache-control'], 'no-cache, no-transform')
  t.equal(res.headers['x-accel-buffering'], 'no', 'proxies must not buffer')
  const events = parseSse(res.body)
  const names = events.map(e => e.event)
  t.same(names.slice(0, 7), [
    'thread.run.created', 'thread.run.queued', 'thread.run.in_progress', 'thread.run.step.created', 'thread.run.step.in_progress',
    'thread.message.created', 'thread.message.in_progress'
  ], 'in the Assistants API\'s order')
  t.ok(names.filter(n => n === 'thread.message.delta').length > 3, 'the answer arrives in pieces')
  t.same(names.slice(-4), ['thread.message.completed', 'thread.run.step.completed', 'thread.run.completed', 'done'])
  t.equal(events.at(-1)!.data, '[DONE]')
  for (const e of events.slice(0, -1)) t.doesNotThrow(() => JSON.parse(e.data), `${e.event} carries one complete JSON object`)

  const answer = await finalText(threadId)
  t.equal(deltasOf(events), answer, 'concatenated deltas equal the final message text')
  const completedMessage = JSON.parse(events.find(e => e.event === 'thread.message.completed')!.data)
  t.equal(completedMessage.content[0].text.value, answer)
  const run = JSON.parse(events.find(e => e.event === 'thread.run.completed')!.data)
  t.match(run, { object: 'thread.run', status: 'completed' })
  t.ok(run.usage.total_tokens > 0)
  t.equal(completedMessage.run_id, run.id)
  t.match(completedMessage, { status: 'completed', assistant_id: 'mentor', role: 'assistant' }, 'message.completed carries the whole message')
  t.same(sim.nonconforming(), [])
})

t.test('Accept: text/event-stream streams too; tool rounds continue on the same stream', async t => {
  const { app, thread, finalText } = await setup(t)
  const threadId = await thread('Time? [call:get_current_time {"timezone":"UTC"}]')
  const res = await app.inject({ method: 'POST', url: `/api/openai/threads/${threadId}/runs`, headers: { ...alice, accept: 'text/event-stream' }, payload: { assistant_type: 'curator' } })
  const events = parseSse(res.body)
  t.equal(events.filter(e => e.event === 'thread.run.in_progress').length, 1)
  t.equal(events.filter(e => e.event === 'thread.message.completed').length, 1, 'only the answer is a message')
  t.equal(events.at(-2)!.event, 'thread.run.completed')
  t.equal(deltasOf(events), await finalText(threadId))
})

t.test('a failed run ends the stream with thread.run.failed, then done', async t => {
  const { app, thread } = await setup(t)
  const res = await app.inject({ method: 'POST', url: `/api/openai/threads/${await thread('[fail]')}/runs`, headers: alice, payload: { assistant_type: 'mentor', stream: true } })
  const events = parseSse(res.body)
  t.same(events.slice(-2).map(e => e.event), ['thread.run.failed', 'done'])
  t.match(JSON.parse(events.at(-2)!.data), { status: 'failed', last_error: { code: 'server_error' } })
})

t.test('an upstream stream that drops is resumed with starting_after: nothing lost, nothing repeated', async t => {
  const { app, sim, thread, finalText } = await setup(t)
  sim.faults.add({ route: 'POST /v1/responses', kind: 'truncate-sse', afterEvents: 8 })
  const threadId = await thread('Survive a broken stream with a fairly long answer [len:40]')
  const res = await app.inject({ method: 'POST', url: `/api/openai/threads/${threadId}/runs`, headers: alice, payload: { assistant_type: 'mentor', stream: true } })
  const events = parseSse(res.body)
  t.equal(events.at(-2)!.event, 'thread.run.completed')
  t.equal(deltasOf(events), await finalText(threadId), 'the resumed stream continued exactly where it broke')
  t.ok((sim.counters()['GET /v1/responses/{response_id}'] ?? 0) >= 1, 'resumed through GET ?stream=true&starting_after=')
})

t.test('a client that disconnects mid-stream only stops the relay: the answer lands', async t => {
  const { app, thread, finalText } = await setup(t, { generationMs: 800 })
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  const threadId = await thread('I will close the tab')
  const controller = new AbortController()
  const res = await fetch(`${address}/api/openai/threads/${threadId}/runs`, { method: 'POST', headers: { ...alice, 'content-type': 'application/json' }, body: JSON.stringify({ assistant_type: 'mentor', stream: true }), signal: controller.signal })
  const reader = res.body!.getReader()
  let seen = ''
  while (!seen.includes('thread.message.delta')) seen += new TextDecoder().decode((await reader.read()).value)
  controller.abort()
  const runId = JSON.parse(parseSse(seen)[0]!.data).id
  const done = await app.inject({ url: `/api/openai/threads/${threadId}/runs/${runId}?wait=10000`, headers: alice })
  t.equal(done.json().status, 'completed')
  t.match(await finalText(threadId), /I will close the tab/)
  t.equal(app.runs.listeners(runId), 0, 'the relay let go of the run')
})

t.test('GET a run with Accept: text/event-stream follows it: the answer so far is replayed, then the rest', async t => {
  const { app, sim, thread, finalText } = await setup(t, { generationMs: 900 })
  const threadId = await thread('Reconnect to me')
  const started = await app.inject({ method: 'POST', url: `/api/openai/threads/${threadId}/runs`, headers: alice, payload: { assistant_type: 'mentor', wait: false } })
  const generatedSoFar = async () => {
    const responseId = (await app.store.getRun(started.json().id))?.response_ids[0]
    const output = (responseId === undefined ? [] : sim.peek.response(responseId)?.output ?? []) as Array<{ content?: Array<{ text: string }> }>
    return output[0]?.content?.[0]?.text
  }
  await until(generatedSoFar, { message: 'part of the answer to exist upstream before reconnecting' })
  const res = await app.inject({ url: started.headers.location as string, headers: { ...alice, accept: 'text/event-stream' } })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/event-stream/)
  const events = parseSse(res.body)
  const names = events.map(e => e.event)
  t.equal(names[0], 'thread.run.in_progress')
  t.ok(names.includes('thread.message.created'))
  t.same(names.slice(-2), ['thread.run.completed', 'done'])
  t.equal(deltasOf(events), await finalText(threadId), 'the whole answer, including what was generated before reconnecting')
  t.equal(sim.stats().obfuscatedStreams, 0, 'the replayed upstream stream was asked without obfuscation padding')

  const ended = await app.inject({ url: started.headers.location as string, headers: { ...alice, accept: 'text/event-stream' } })
  t.same(parseSse(ended.body).map(e => e.event), ['thread.run.completed', 'done'], 'a finished run answers its final event at once')
})

t.test('followers of one run share one upstream stream; a user holds at most STREAMS_MAX_PER_USER streams', async t => {
  const { app, sim, thread, finalText } = await setup(t, { generationMs: 1200 })
  const threadId = await thread('Many tabs follow me')
  const started = await app.inject({ method: 'POST', url: `/api/openai/threads/${threadId}/runs`, headers: alice, payload: { assistant_type: 'mentor', wait: false } })
  const location = started.headers.location as string
  const responseId = await until(async () => (await app.store.getRun(started.json().id))?.response_ids[0], { message: 'the upstream response to exist' })
  const before = sim.counters()['GET /v1/responses/{response_id}'] ?? 0
  const follow = () => app.inject({ url: location, headers: { ...alice, accept: 'text/event-stream' } })
  const followers = await Promise.all(Array.from({ length: 5 }, follow))
  const answer = await finalText(threadId)
  for (const res of followers) {
    t.equal(res.statusCode, 200)
    t.equal(deltasOf(parseSse(res.body)), answer, 'each follower gets the whole answer')
  }
  const streamsOpened = (sim.counters()['GET /v1/responses/{response_id}'] ?? 0) - before
  t.ok(streamsOpened >= 1 && streamsOpened <= 2, `five followers, one upstream stream (and at most one read of its end): ${streamsOpened} reads of ${responseId}`)

  const limited = await build(t, sim, { env: { STREAMS_MAX_PER_USER: '2' } })
  const slowThread = (await limited.inject({ method: 'POST', url: '/api/openai/threads', headers: alice, payload: { messages: [{ role: 'user', content: 'Slow [slow:3000]' }] } })).json().id
  const slow = await limited.inject({ method: 'POST', url: `/api/openai/threads/${slowThread}/runs`, headers: alice, payload: { assistant_type: 'mentor', wait: false } })
  const held = [limited.inject({ url: slow.headers.location as string, headers: { ...alice, accept: 'text/event-stream' } }),
    limited.inject({ url: slow.headers.location as string, headers: { ...alice, accept: 'text/event-stream' } })]
  await until(() => limited.eventStreams.size() === 2, { message: 'two streams to be open' })
  const third = await limited.inject({ url: slow.headers.location as string, headers: { ...alice, accept: 'text/event-stream' } })
  t.equal(third.statusCode, 429, 'a third stream is refused')
  t.equal(third.json().code, 'RATE_LIMITED')
  t.ok(third.headers['retry-after'])
  const other = await limited.inject({ url: '/api/openai/threads', headers: bearer(userToken('bob')) })
  t.equal(other.statusCode, 200, 'other users are not affected')
  await Promise.all(held)
  t.equal(limited.eventStreams.size(), 0, 'ended streams free their places')
})

/** The contract's order of message events: one created, its deltas, one completed, before the run's final event. */
function checkMessageOrder (t: Test, events: SseEvent[]) {
  const names = events.map(e => e.event)
  t.equal(names.filter(n => n === 'thread.message.created').length, 1, 'one message.created')
  t.equal(names.filter(n => n === 'thread.message.completed').length, 1, 'one message.completed')
  const created = names.indexOf('thread.message.created')
  const completed = names.indexOf('thread.message.completed')
  t.ok(names.every((n, i) => n !== 'thread.message.delta' || (i > created && i < completed)), 'deltas between created and completed')
  t.ok(completed < names.indexOf('thread.run.completed'), 'message.completed comes before run.completed')
  t.same(names.slice(-2), ['thread.run.completed', 'done'])
}

t.test('an upstream stream that drops and cannot be resumed is polled; clients still get the whole answer', async t => {
  // Cut before the message started (after response.created and in_progress) and in the middle of its text.
  for (const afterEvents of [2, 8]) {
    await t.test(`cut after ${afterEvents} events`, async t => {
      const { app, sim, thread, finalText } = await setup(t)
      sim.faults.add({ route: 'POST /v1/responses', kind: 'truncate-sse', afterEvents })
      // The SDK retries a 500 once: both tries of the one resume fail, then the driver polls.
      sim.faults.add({ route: 'GET /v1/responses/{response_id}', kind: 'status', status: 500, times: 2 })
      const threadId = await thread('Break my stream for good [len:40]')
      const res = await app.inject({ method: 'POST', url: `/api/openai/threads/${threadId}/runs`, headers: alice, payload: { assistant_type: 'mentor', stream: true } })
      const events = parseSse(res.body)
      checkMessageOrder(t, events)
      const answer = await finalText(threadId)
      t.equal(deltasOf(events), answer, 'concatenated deltas equal the final message text')
      const deltas = events.filter(e => e.event === 'thread.message.delta').length
      if (afterEvents === 2) t.equal(deltas, 1, 'nothing was streamed: the whole text in one delta')
      else t.ok(deltas > 1, 'what was streamed, then the rest in one delta')
      t.equal(JSON.parse(events.find(e => e.event === 'thread.message.completed')!.data).content[0].text.value, answer)
      t.ok((sim.counters()['GET /v1/responses/{response_id}'] ?? 0) >= 3, 'the resume failed and the response was polled')
    })
  }
})

t.test('a tool run whose answer round loses its stream: the answer still arrives whole', async t => {
  const { app, sim, thread, finalText } = await setup(t)
  sim.faults.add({ route: 'POST /v1/responses', kind: 'truncate-sse', afterEvents: 6, after: 1 })
  sim.faults.add({ route: 'GET /v1/responses/{response_id}', kind: 'status', status: 500, times: 2 })
  const threadId = await thread('Time? [call:get_current_time {"timezone":"UTC"}]')
  const res = await app.inject({ method: 'POST', url: `/api/openai/threads/${threadId}/runs`, headers: alice, payload: { assistant_type: 'curator', stream: true } })
  const events = parseSse(res.body)
  checkMessageOrder(t, events)
  t.equal(deltasOf(events), await finalText(threadId))
  t.equal(sim.counters()['POST /v1/responses'], 2)
})

t.test('a follower whose replayed stream drops still gets the whole answer', async t => {
  const { app, sim, thread, finalText } = await setup(t, { generationMs: 600 })
  const threadId = await thread('Follow me through a broken stream [len:40]')
  const started = await app.inject({ method: 'POST', url: `/api/openai/threads/${threadId}/runs`, headers: alice, payload: { assistant_type: 'mentor', wait: false } })
  sim.faults.add({ route: 'GET /v1/responses/{response_id}', kind: 'truncate-sse', afterEvents: 8 })
  const res = await app.inject({ url: started.headers.location as string, headers: { ...alice, accept: 'text/event-stream' } })
  const events = parseSse(res.body)
  checkMessageOrder(t, events)
  t.equal(deltasOf(events), await finalText(threadId))
})
