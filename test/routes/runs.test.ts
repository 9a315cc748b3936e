import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, startSim } from '../helpers/build.ts'
import { adminToken, bearer, userToken } from '../helpers/tokens.ts'
import { until } from '../helpers/until.ts'
import type { Simulator } from '../../simulator/index.ts'

const alice = bearer(userToken('alice'))
const bob = bearer(userToken('bob'))

interface Ctx { app: FastifyInstance, sim: Simulator }

async function setup (t: Test, env: Record<string, string> = {}, simOptions = {}): Promise<Ctx> {
  const sim = await startSim(t, simOptions)
  const app = await build(t, sim, { env })
  return { app, sim }
}

async function threadWith ({ app }: Ctx, text: string, headers = alice): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/openai/threads', headers, payload: { messages: [{ role: 'user', content: text }] } })
  return res.json().id
}

const runUrl = (threadId: string) => `/api/openai/threads/${threadId}/runs`

async function lastAssistantText ({ app }: Ctx, threadId: string, headers = alice): Promise<{ text: string, run_id: string | null, created_at: number | null }> {
  const page = (await app.inject({ url: `/api/openai/threads/${threadId}/messages?limit=1`, headers })).json()
  const message = page.data[0]
  return { text: message.content.map((c: { text: { value: string } }) => c.text.value).join(''), run_id: message.run_id, created_at: message.created_at }
}

t.test('completed: one request per turn, the answer lands in the thread, sampling forwarded', async t => {
  const ctx = await setup(t)
  const threadId = await threadWith(ctx, 'What should I study next?')
  const res = await ctx.app.inject({ method: 'POST', url: runUrl(threadId), headers: alice, payload: { assistant_type: 'curator', temperature: 0.4, top_p: 0.8 } })
  t.equal(res.statusCode, 200)
  const run = res.json()
  t.match(run, { object: 'thread.run', thread_id: threadId, assistant_type: 'curator', model: 'gpt-4.1-mini', status: 'completed', temperature: 0.4, top_p: 0.8, last_error: null })
  t.match(run.id, /^run_/)
  t.type(run.completed_at, 'number')
  t.ok(run.usage.total_tokens > 0 && run.usage.total_tokens === run.usage.prompt_tokens + run.usage.completion_tokens, 'usage summed')

  const answer = await lastAssistantText(ctx, threadId)
  t.match(answer.text, /You said: "What should I study next\?"/)
  t.equal(answer.run_id, run.id, 'the answer knows its run')
  t.type(answer.created_at, 'number')

  const record = await ctx.app.store.getRun(run.id)
  const upstream = ctx.sim.peek.response(record!.response_ids[0]!)!
  t.match(upstream, { background: true, store: true, temperature: 0.4, top_p: 0.8, model: 'gpt-4.1-mini', metadata: { gateway_run_id: run.id } })
  t.match(String(upstream.instructions), /course curator/)
  t.equal(ctx.sim.counters()['POST /v1/responses'], 1, 'one upstream response')
  t.equal(ctx.sim.counters()['GET /v1/responses/{response_id}'] ?? 0, 0, 'completion seen on the stream: no polling needed')

  const got = await ctx.app.inject({ url: `${runUrl(threadId)}/${run.id}`, headers: alice })
  t.same(got.json(), run)
  const list = await ctx.app.inject({ url: runUrl(threadId), headers: alice })
  t.same(list.json().data.map((r: { id: string }) => r.id), [run.id])
  t.same(ctx.sim.nonconforming(), [])
})

t.test('a reasoning assistant does not forward sampling parameters', async t => {
  const ctx = await setup(t)
  const threadId = await threadWith(ctx, 'How am I doing?')
  const res = await ctx.app.inject({ method: 'POST', url: runUrl(threadId), headers: alice, payload: { assistant_type: 'analyst', temperature: 0.4, top_p: 0.8 } })
  t.equal(res.statusCode, 200, 'the model would reject them with 400; the run completes')
  t.match(res.json(), { status: 'completed', temperature: null, top_p: null })
})

t.test('incomplete, failed, bad input', async t => {
  const ctx = await setup(t)
  const incomplete = await ctx.app.inject({ method: 'POST', url: runUrl(await threadWith(ctx, 'Tell me everything [incomplete]')), headers: alice, payload: { assistant_type: 'mentor' } })
  t.equal(incomplete.statusCode, 200)
  t.match(incomplete.json(), { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } })

  const capped = await ctx.app.inject({ method: 'POST', url: runUrl(await threadWith(ctx, 'Long answer please [len:400]')), headers: alice, payload: { assistant_type: 'mentor', max_output_tokens: 20 } })
  t.match(capped.json(), { status: 'incomplete', max_output_tokens: 20, incomplete_details: { reason: 'max_output_tokens' } })

  const failed = await ctx.app.inject({ method: 'POST', url: runUrl(await threadWith(ctx, 'Break [fail]')), headers: alice, payload: { assistant_type: 'mentor' } })
  t.equal(failed.statusCode, 502)
  t.match(failed.json(), { code: 'RUN_FAILED', run: { status: 'failed', last_error: { code: 'server_error', message: 'OpenAI failed while generating the answer' } } })
  t.type(failed.json().run.failed_at, 'number')

  const threadId = await threadWith(ctx, 'hi')
  const unknown = await ctx.app.inject({ method: 'POST', url: runUrl(threadId), headers: alice, payload: { assistant_type: 'wizard' } })
  t.equal(unknown.statusCode, 400)
  t.match(unknown.json().message, /assistant_type "wizard" is not a configured assistant/)
  const overCap = await ctx.app.inject({ method: 'POST', url: runUrl(threadId), headers: alice, payload: { assistant_type: 'curator', max_output_tokens: 100_000 } })
  t.equal(overCap.statusCode, 400)
  t.match(overCap.json().message, /max_output_tokens must be at most 1500/)
  const model = await ctx.app.inject({ method: 'POST', url: runUrl(threadId), headers: alice, payload: { assistant_type: 'curator', model: 'gpt-5.5' } })
  t.equal(model.statusCode, 400, 'the SPA never picks a model')
  t.match(model.json().message, /^body\.model is set by the assistant's profile/)
  t.equal(model.json().error.param, 'model')
  t.same(ctx.sim.nonconforming(), [])
})

t.test('wait deadline: 202 with Location, then long-poll to completion', async t => {
  const ctx = await setup(t, { RUN_WAIT_TIMEOUT_MS: '200' })
  const threadId = await threadWith(ctx, 'Think hard [slow:1200]')
  const res = await ctx.app.inject({ method: 'POST', url: runUrl(threadId), headers: alice, payload: { assistant_type: 'mentor' } })
  t.equal(res.statusCode, 202)
  const run = res.json()
  t.equal(res.headers.location, `/api/openai/threads/${threadId}/runs/${run.id}`)
  t.ok(['queued', 'in_progress'].includes(run.status))
  t.equal(run.usage, null, 'usage is null until the run ends')

  const busy = await ctx.app.inject({ method: 'POST', url: `/api/openai/threads/${threadId}/messages`, headers: alice, payload: { content: 'more' } })
  t.equal(busy.statusCode, 409, 'no new message while the run is active')
  t.equal(busy.json().code, 'THREAD_BUSY')
  t.match(busy.json().message, new RegExp(`^Can't add messages to ${threadId} while a run ${run.id} is active \\(status (queued|in_progress)\\); wait for it to end or cancel it$`), 'the message names the run and its status')
  t.equal(busy.headers['retry-after'], '2', 'waiting helps: retry after 2 s')
  t.equal(busy.headers['x-should-retry'], undefined)
  const again = await ctx.app.inject({ method: 'POST', url: runUrl(threadId), headers: alice, payload: { assistant_type: 'mentor' } })
  t.equal(again.statusCode, 409, 'and no second run')
  t.equal(again.json().code, 'THREAD_BUSY')
  t.match(again.json().message, `Can't start a run on ${threadId} while a run ${run.id} is active`)
  const deleted = await ctx.app.inject({ method: 'DELETE', url: `/api/openai/threads/${threadId}`, headers: alice })
  t.equal(deleted.statusCode, 409, 'nor is the thread deleted under a run going on')
  t.match(deleted.json().message, `Can't delete ${threadId} while a run ${run.id} is active`)

  const polled = await ctx.app.inject({ url: `${res.headers.location}?wait=10000`, headers: alice })
  t.equal(polled.statusCode, 200)
  t.equal(polled.json().status, 'completed')
  t.match((await lastAssistantText(ctx, threadId)).text, /Think hard/)

  const tooLong = await ctx.app.inject({ url: `${res.headers.location}?wait=9999999`, headers: alice })
  t.equal(tooLong.statusCode, 400)
  const noWait = await ctx.app.inject({ method: 'POST', url: runUrl(threadId), headers: alice, payload: { assistant_type: 'mentor', wait: false } })
  t.equal(noWait.statusCode, 202, 'wait: false answers at once')
  t.ok(noWait.headers.location)
  await ctx.app.inject({ url: `${noWait.headers.location}?wait=10000`, headers: alice })
})

t.test("the official SDK's semantics: a failed run is an answer (200) with OpenAI-Beta: assistants=v2, never retried into a new run", async t => {
  const ctx = await setup(t)
  const v2 = { ...alice, 'openai-beta': 'assistants=v2' }
  const failed = await ctx.app.inject({ method: 'POST', url: runUrl(await threadWith(ctx, 'Break [fail]')), headers: v2, payload: { assistant_type: 'mentor', wait: true } })
  t.equal(failed.statusCode, 200)
  t.match(failed.json(), { object: 'thread.run', status: 'failed', last_error: { code: 'server_error' } })
  t.equal(ctx.sim.counters()['POST /v1/responses'], 1)
  const v1 = await ctx.app.inject({ method: 'POST', url: runUrl(await threadWith(ctx, 'Break [fail]')), headers: alice, payload: { assistant_type: 'mentor' } })
  t.equal(v1.statusCode, 502, 'v1 clients still get RUN_FAILED')
  t.equal(v1.headers['x-should-retry'], 'false', 'and a retrying client is told not to')
})

t.test("the official SDK's semantics: with OpenAI-Beta: assistants=v2 and no wait, starting a run answers at once (queued), as the Assistants API did", async t => {
  const ctx = await setup(t)
  const v2 = { ...alice, 'openai-beta': 'assistants=v2' }
  const threadId = await threadWith(ctx, 'Take a while [slow:20000]')
  const started = await ctx.app.inject({ method: 'POST', url: runUrl(threadId), headers: v2, payload: { assistant_id: 'mentor' } })
  t.equal(started.statusCode, 202, 'answered before the run ended')
  const run = started.json()
  t.ok(['queued', 'in_progress'].includes(run.status), `the run still going (${run.status})`)
  t.equal(started.headers.location, `${runUrl(threadId)}/${run.id}`)
  t.equal(started.headers['openai-poll-after-ms'], '100')
  const cancelled = await ctx.app.inject({ method: 'POST', url: `${runUrl(threadId)}/${run.id}/cancel`, headers: v2 })
  t.equal(cancelled.json().status, 'cancelled', 'and its id is all a Stop button needs')

  const created = await ctx.app.inject({ method: 'POST', url: '/api/openai/threads/runs', headers: v2, payload: { assistant_id: 'mentor', thread: { messages: [{ role: 'user', content: 'New thread [slow:20000]' }] } } })
  t.equal(created.statusCode, 202, 'createAndRun too')
  t.ok(['queued', 'in_progress'].includes(created.json().status))
  await ctx.app.inject({ method: 'POST', url: `/api/openai/threads/${created.json().thread_id}/runs/${created.json().id}/cancel`, headers: v2 })

  const quick = await threadWith(ctx, 'Quick one')
  const waited = await ctx.app.inject({ method: 'POST', url: runUrl(quick), headers: v2, payload: { assistant_id: 'mentor', wait: true } })
  t.equal(waited.statusCode, 200, 'an explicit wait: true is still honoured')
  t.equal(waited.json().status, 'completed')
  const v1 = await ctx.app.inject({ method: 'POST', url: runUrl(quick), headers: alice, payload: { assistant_type: 'mentor' } })
  t.equal(v1.statusCode, 200, 'v1 clients (no OpenAI-Beta) still wait: one request per turn')
  t.equal(v1.json().status, 'completed')
})

t.test("runs.poll: run reads carry openai-poll-after-ms, and the SDK's poll helper is held until the run moves", async t => {
  const ctx = await setup(t)
  const threadId = await threadWith(ctx, 'Think [slow:1500]')
  const started = await ctx.app.inject({ method: 'POST', url: runUrl(threadId), headers: alice, payload: { assistant_type: 'mentor', wait: false } })
  t.equal(started.headers['openai-poll-after-ms'], '100')
  const plain = await ctx.app.inject({ url: started.headers.location as string, headers: alice })
  t.ok(['queued', 'in_progress'].includes(plain.json().status), 'a plain read answers at once')
  t.equal(plain.headers['openai-poll-after-ms'], '100')
  const custom = await ctx.app.inject({ url: started.headers.location as string, headers: { ...alice, 'x-stainless-poll-helper': 'true', 'x-stainless-custom-poll-interval': '1000' } })
  t.ok(['queued', 'in_progress'].includes(custom.json().status), 'a poll with its own interval answers at once')
  const held = await ctx.app.inject({ url: started.headers.location as string, headers: { ...alice, 'x-stainless-poll-helper': 'true' } })
  t.equal(held.json().status, 'completed', 'the poll helper gets the ended run in one request')
  t.equal(held.headers['openai-poll-after-ms'], undefined)
})

t.test('cancel: the upstream response is cancelled and the loop stops', async t => {
  const ctx = await setup(t)
  const threadId = await threadWith(ctx, 'Take your time [slow:5000]')
  const started = await ctx.app.inject({ method: 'POST', url: runUrl(threadId), headers: alice, payload: { assistant_type: 'mentor', wait: false } })
  const run = started.json()
  await until(async () => (await ctx.app.store.getRun(run.id))!.response_ids.length > 0, { message: 'the run to hold its upstream response' })
  const cancelled = await ctx.app.inject({ method: 'POST', url: `${runUrl(threadId)}/${run.id}/cancel`, headers: alice })
  t.equal(cancelled.statusCode, 200)
  t.equal(cancelled.json().status, 'cancelled')
  t.type(cancelled.json().cancelled_at, 'number')
  t.ok((ctx.sim.counters()['POST /v1/responses/{response_id}/cancel'] ?? 0) >= 1, 'cancelled upstream')
  const record = await ctx.app.store.getRun(run.id)
  t.equal(ctx.sim.peek.response(record!.response_ids[0]!)!.status, 'cancelled')
  const again = await ctx.app.inject({ method: 'POST', url: `${runUrl(threadId)}/${run.id}/cancel`, headers: alice })
  t.equal(again.json().status, 'cancelled', 'cancelling twice is harmless')
  const next = await ctx.app.inject({ method: 'POST', url: runUrl(threadId), headers: alice, payload: { assistant_type: 'mentor' } })
  t.equal(next.statusCode, 200, 'the thread is free again')
})

t.test('maximum duration: cancelled upstream, failed with run_timeout (also when stuck in queued)', async t => {
  const ctx = await setup(t, { RUN_MAX_DURATION_MS: '1000', RUN_WAIT_TIMEOUT_MS: '10000' })
  const slow = await ctx.app.inject({ method: 'POST', url: runUrl(await threadWith(ctx, 'Forever [slow:30000]')), headers: alice, payload: { assistant_type: 'mentor' } })
  t.equal(slow.statusCode, 502)
  t.match(slow.json().run, { status: 'failed', last_error: { code: 'run_timeout' } })
  t.ok((ctx.sim.counters()['POST /v1/responses/{response_id}/cancel'] ?? 0) >= 1, 'the upstream response was cancelled')

  const stuck = await ctx.app.inject({ method: 'POST', url: runUrl(await threadWith(ctx, 'Hello [stuck]')), headers: alice, payload: { assistant_type: 'mentor' } })
  t.equal(stuck.statusCode, 502)
  t.match(stuck.json().run.last_error, { code: 'run_timeout' })
})

t.test('TOO_MANY_ACTIVE_RUNS per user; other users unaffected', async t => {
  const ctx = await setup(t, { RUN_MAX_ACTIVE_PER_USER: '2' })
  const threads = await Promise.all([1, 2, 3].map(i => threadWith(ctx, `slow ${i} [slow:1500]`)))
  const first = await Promise.all(threads.slice(0, 2).map(id => ctx.app.inject({ method: 'POST', url: runUrl(id), headers: alice, payload: { assistant_type: 'mentor', wait: false } })))
  t.same(first.map(r => r.statusCode), [202, 202])
  const third = await ctx.app.inject({ method: 'POST', url: runUrl(threads[2]!), headers: alice, payload: { assistant_type: 'mentor', wait: false } })
  t.equal(third.statusCode, 429)
  t.equal(third.json().code, 'TOO_MANY_ACTIVE_RUNS')
  t.ok(third.headers['retry-after'])
  const bobs = await ctx.app.inject({ method: 'POST', url: runUrl(await threadWith(ctx, 'hi', bob)), headers: bob, payload: { assistant_type: 'mentor', wait: false } })
  t.equal(bobs.statusCode, 202)
  for (const r of [...first, bobs]) await ctx.app.inject({ url: `${r.headers.location}?wait=10000`, headers: r === bobs ? bob : alice })
})

t.test('creating runs has its own per-user rate bucket', async t => {
  const ctx = await setup(t, { RATE_LIMIT_RUNS_MAX: '2' })
  const threadId = await threadWith(ctx, 'Count my runs')
  const createRun = (headers = alice, id = threadId) => ctx.app.inject({ method: 'POST', url: runUrl(id), headers, payload: { assistant_type: 'mentor' } })
  t.equal((await createRun()).statusCode, 200)
  t.equal((await createRun()).statusCode, 200)
  const limited = await createRun()
  t.equal(limited.statusCode, 429)
  t.same(Object.keys(limited.json()).sort(), ['code', 'error', 'message', 'requestId', 'statusCode'])
  t.match(limited.json(), { statusCode: 429, code: 'RATE_LIMITED', error: { type: 'rate_limit_error', code: 'RATE_LIMITED' }, message: /at most 2 requests per 60 s/ })
  t.equal(limited.json().requestId, limited.headers['x-request-id'])
  t.ok(Number(limited.headers['retry-after']) >= 1, 'Retry-After in seconds')
  t.equal(limited.headers['x-ratelimit-remaining'], '0')

  t.equal((await createRun(bob, await threadWith(ctx, 'Mine', bob))).statusCode, 200, 'another user has a bucket of their own')
  t.equal((await ctx.app.inject({ url: runUrl(threadId), headers: alice })).json().data.length, 2, 'reads are not in the bucket')
  t.equal((await ctx.app.inject({ url: `/api/openai/threads/${threadId}/messages`, headers: alice })).statusCode, 200)
})

t.test('runs are private: another user gets 404 everywhere', async t => {
  const ctx = await setup(t)
  const threadId = await threadWith(ctx, 'mine')
  const run = (await ctx.app.inject({ method: 'POST', url: runUrl(threadId), headers: alice, payload: { assistant_type: 'mentor' } })).json()
  for (const req of [
    { method: 'POST' as const, url: runUrl(threadId), payload: { assistant_type: 'mentor' } },
    { method: 'GET' as const, url: runUrl(threadId) },
    { method: 'GET' as const, url: `${runUrl(threadId)}/${run.id}` },
    { method: 'POST' as const, url: `${runUrl(threadId)}/${run.id}/cancel` }
  ]) {
    const res = await ctx.app.inject({ ...req, headers: bob })
    t.equal(res.statusCode, 404, `${req.method} ${req.url}`)
  }
  const otherThread = await threadWith(ctx, 'bob thread', bob)
  const crossed = await ctx.app.inject({ url: `${runUrl(otherThread)}/${run.id}`, headers: bob })
  t.equal(crossed.statusCode, 404, 'a run id under another thread is not found')
})

t.test('a client that disconnects mid-wait changes nothing: the answer lands', async t => {
  const ctx = await setup(t)
  const address = await ctx.app.listen({ host: '127.0.0.1', port: 0 })
  const threadId = await threadWith(ctx, 'Closing my tab [slow:800]')
  const controller = new AbortController()
  const pending = fetch(`${address}${runUrl(threadId)}`, { method: 'POST', headers: { ...alice, 'content-type': 'application/json' }, body: JSON.stringify({ assistant_type: 'mentor' }), signal: controller.signal })
  await until(async () => (await ctx.app.inject({ url: runUrl(threadId), headers: alice })).json().data[0]?.status === 'in_progress', { message: 'the run to be under way' })
  controller.abort()
  await t.rejects(pending)
  const runs = (await ctx.app.inject({ url: runUrl(threadId), headers: alice })).json().data
  t.equal(runs.length, 1)
  const done = await ctx.app.inject({ url: `${runUrl(threadId)}/${runs[0].id}?wait=10000`, headers: alice })
  t.equal(done.json().status, 'completed')
  t.match((await lastAssistantText(ctx, threadId)).text, /Closing my tab/)
})

t.test('admin profile CRUD and its effect on the next run', async t => {
  const ctx = await setup(t)
  const admin = bearer(adminToken())
  const pub = await ctx.app.inject({ url: '/api/openai/assistants', headers: alice })
  t.same(pub.json().data.map((a: { id: string }) => a.id), ['analyst', 'curator', 'mentor'])
  t.same(Object.keys(pub.json().data[0]).sort(), ['created_at', 'description', 'id', 'instructions', 'metadata', 'model', 'name', 'object', 'response_format', 'temperature', 'tool_resources', 'tools', 'top_p'])
  t.equal(pub.json().data[0].instructions, null, 'the public view hides instructions')
  const asAdmin = await ctx.app.inject({ url: '/api/openai/assistants/mentor', headers: admin })
  t.match(asAdmin.json(), { id: 'mentor', version: 1, updated_at: null, instructions: /patient mentor/ })
  const asUser = await ctx.app.inject({ url: '/api/openai/assistants/mentor', headers: alice })
  t.equal(asUser.json().instructions, null)

  const profile = { name: 'Mentor', description: 'Socratic', model: 'gpt-4.1-mini', instructions: 'Answer only with questions.', tools: [], temperature: 0.2, top_p: 1, accepts_sampling: true, max_output_tokens: 500 }
  const forbidden = await ctx.app.inject({ method: 'PUT', url: '/api/openai/assistants/mentor', headers: alice, payload: profile })
  t.equal(forbidden.statusCode, 403)
  t.equal(forbidden.json().code, 'FORBIDDEN')
  const put = await ctx.app.inject({ method: 'PUT', url: '/api/openai/assistants/mentor', headers: admin, payload: profile })
  t.equal(put.statusCode, 200)
  t.match(put.json(), { id: 'mentor', version: 2, model: 'gpt-4.1-mini', instructions: 'Answer only with questions.' })
  t.type(put.json().updated_at, 'number')
  const badTool = await ctx.app.inject({ method: 'PUT', url: '/api/openai/assistants/mentor', headers: admin, payload: { ...profile, tools: ['rm_rf'] } })
  t.equal(badTool.statusCode, 400)

  const threadId = await threadWith(ctx, 'Teach me')
  const run = (await ctx.app.inject({ method: 'POST', url: runUrl(threadId), headers: alice, payload: { assistant_type: 'mentor' } })).json()
  t.match(run, { model: 'gpt-4.1-mini', temperature: 0.2, max_output_tokens: 500 })
  const record = await ctx.app.store.getRun(run.id)
  t.equal(ctx.sim.peek.response(record!.response_ids[0]!)!.instructions, 'Answer only with questions.', 'the next run uses the new profile')

  const created = await ctx.app.inject({ method: 'PUT', url: '/api/openai/assistants/tutor', headers: admin, payload: profile })
  t.equal(created.json().version, 1, 'a new profile starts at version 1')
  const removed = await ctx.app.inject({ method: 'DELETE', url: '/api/openai/assistants/curator', headers: admin })
  t.same(removed.json(), { id: 'curator', object: 'assistant.deleted', deleted: true })
  t.equal((await ctx.app.inject({ url: '/api/openai/assistants/curator', headers: alice })).statusCode, 404)
  const gone = await ctx.app.inject({ method: 'POST', url: runUrl(threadId), headers: alice, payload: { assistant_type: 'curator' } })
  t.equal(gone.statusCode, 400, 'a deleted assistant cannot run')
  t.same((await ctx.app.inject({ url: '/api/openai/assistants', headers: alice })).json().data.map((a: { id: string }) => a.id), ['analyst', 'mentor', 'tutor'])
  const back = await ctx.app.inject({ method: 'PUT', url: '/api/openai/assistants/curator', headers: admin, payload: profile })
  t.equal(back.json().version, 3, 'versions keep counting through a deletion')
})
