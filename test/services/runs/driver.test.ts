import OpenAI from 'openai'
import type { Response, ResponseStreamEvent } from 'openai/resources/responses/responses'
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, startSim, testConfig, SIM_KEY } from '../../helpers/build.ts'
import { adminToken, bearer, userToken } from '../../helpers/tokens.ts'
import { until } from '../../helpers/until.ts'
import type { RunRecord } from '../../../services/store/types.ts'
import { newRunRecord } from '../../../services/store/records.ts'
import { openStore } from '../../../services/store/index.ts'
import { createMessageRelay } from '../../../services/runs/relay.ts'
import { estimateInputTokens } from '../../../services/runs/usage.ts'
import { roundTools } from '../../../services/runs/round-params.ts'
import type { RunEvent } from '../../../services/runs/events.ts'
import { estimateTokens } from '../../../services/threads/items.ts'

const alice = bearer(userToken('alice'))

async function setup (t: Test, env: Record<string, string> = {}, simOptions = {}) {
  const sim = await startSim(t, simOptions)
  const app = await build(t, sim, { env: { RUN_WAIT_TIMEOUT_MS: '20000', ...env } })
  const client = new OpenAI({ apiKey: SIM_KEY, baseURL: sim.url, maxRetries: 0 })
  return { sim, app, client }
}

async function newThread (app: FastifyInstance, text: string): Promise<string> {
  return (await app.inject({ method: 'POST', url: '/api/openai/threads', headers: alice, payload: { messages: [{ role: 'user', content: text }] } })).json().id
}

/** A run record as a crashed process would have left it (its lease long expired). */
function leftover (id: string, threadId: string, extra: Partial<RunRecord>): RunRecord {
  const now = Math.floor(Date.now() / 1000)
  return newRunRecord({
    id,
    thread_id: threadId,
    owner: 'alice',
    assistant_type: 'curator',
    assistant_version: 1,
    model: 'gpt-4.1-mini',
    status: 'in_progress',
    created_at: now,
    started_at: now,
    max_output_tokens: 500,
    deadline_at: Date.now() + 60_000,
    lease_owner: 'dead-worker',
    fence: 1,
    ...extra
  })
}

async function plant (app: FastifyInstance, run: RunRecord) {
  const created = await app.store.createRun(run, { maxActivePerUser: 10, threadLockTtlMs: 60_000 })
  if (!created.ok) throw new Error(created.reason)
}

const waitFor = (app: FastifyInstance, run: RunRecord) =>
  app.inject({ url: `/api/openai/threads/${run.thread_id}/runs/${run.id}?wait=15000`, headers: alice }).then(r => r.json())

t.test('died while creating a response (its id unknown): failed resume_uncertain, no second response', async t => {
  const { app, sim } = await setup(t)
  const run = leftover('run_uncertain', await newThread(app, 'hello'), { creating_since: Date.now() - 5000 })
  await plant(app, run)
  const done = await waitFor(app, run)
  t.match(done, { status: 'failed', last_error: { code: 'resume_uncertain' } })
  t.equal(sim.counters()['POST /v1/responses'] ?? 0, 0, 'nothing was started upstream')
})

t.test('died after a response was settled but before its tools ran: the tools run once, the run completes', async t => {
  const { app, sim, client } = await setup(t)
  const threadId = await newThread(app, 'What time? [call:get_current_time {"timezone":"UTC"}]')
  const profile = (await app.assistants.get('curator'))!.profile
  const first = await client.responses.create({ model: profile.model, conversation: threadId, instructions: profile.instructions, tools: app.tools.definitions(profile.tools), background: true, store: true })
  let response = first
  while (response.status !== 'completed') response = await client.responses.retrieve(first.id)
  t.equal(response.output[0]?.type, 'function_call')
  const run = leftover('run_tools', threadId, { response_ids: [first.id], settled_response_ids: [first.id] })
  await plant(app, run)
  const done = await waitFor(app, run)
  t.equal(done.status, 'completed')
  const answer = (await app.inject({ url: `/api/openai/threads/${threadId}/messages?limit=1`, headers: alice })).json().data[0]
  t.match(answer.content[0].text.value, /Tool result for call_.*"timezone":"UTC"/)
  t.equal(sim.counters()['POST /v1/responses'], 2, 'the original response plus the one round that followed it')
})

t.test('a stream that breaks before naming its response: failed resume_uncertain (never a blind retry)', async t => {
  const { app, sim } = await setup(t)
  sim.faults.add({ route: 'POST /v1/responses', kind: 'truncate-sse', afterEvents: 0 })
  const res = await app.inject({ method: 'POST', url: `/api/openai/threads/${await newThread(app, 'hi')}/runs`, headers: alice, payload: { assistant_type: 'mentor' } })
  t.equal(res.statusCode, 502)
  t.equal(res.json().run.last_error.code, 'resume_uncertain')
  t.equal(sim.counters()['POST /v1/responses'], 1)
})

t.test('streams that cannot be resumed fall back to polling', async t => {
  const { app, sim } = await setup(t, {}, { pollAfterMs: 30 })
  sim.faults.add({ route: 'POST /v1/responses', kind: 'truncate-sse', afterEvents: 4 })
  sim.faults.add({ route: 'GET /v1/responses/{response_id}', kind: 'status', status: 500, times: 2 })
  const threadId = await newThread(app, 'Keep going [slow:400]')
  const res = await app.inject({ method: 'POST', url: `/api/openai/threads/${threadId}/runs`, headers: alice, payload: { assistant_type: 'mentor' } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().status, 'completed')
  t.ok(sim.counters()['GET /v1/responses/{response_id}']! >= 3, 'two failed resumes, then polls')
  t.equal(sim.counters()['POST /v1/responses'], 1)
  t.match((await app.inject({ url: `/api/openai/threads/${threadId}/messages?limit=1`, headers: alice })).json().data[0].content[0].text.value, /Keep going/)
})

t.test('a dropped stream is resumed where it broke, without obfuscation padding (bytes nobody reads)', async t => {
  const { app, sim } = await setup(t)
  sim.faults.add({ route: 'POST /v1/responses', kind: 'truncate-sse', afterEvents: 4, times: 1 })
  const threadId = await newThread(app, 'Keep going [slow:300]')
  const res = await app.inject({ method: 'POST', url: `/api/openai/threads/${threadId}/runs`, headers: alice, payload: { assistant_type: 'mentor' } })
  t.equal(res.json().status, 'completed')
  t.equal(sim.counters()['GET /v1/responses/{response_id}'], 1, 'one resumed stream')
  t.equal(sim.stats().obfuscatedStreams, 0, 'the create and the resume both asked for no padding')
})

t.test('upstream refuses to start the response: retried on 5xx, then failed upstream_error', async t => {
  const { app, sim } = await setup(t)
  sim.faults.add({ route: 'POST /v1/responses', kind: 'status', status: 500, times: 2 })
  const ok = await app.inject({ method: 'POST', url: `/api/openai/threads/${await newThread(app, 'retry me')}/runs`, headers: alice, payload: { assistant_type: 'mentor' } })
  t.equal(ok.statusCode, 200, 'two 500s, then it started')
  t.equal(sim.counters()['POST /v1/responses'], 3)
  sim.faults.add({ route: 'POST /v1/responses', kind: 'status', status: 503, times: 3 })
  const failed = await app.inject({ method: 'POST', url: `/api/openai/threads/${await newThread(app, 'no luck')}/runs`, headers: alice, payload: { assistant_type: 'mentor' } })
  t.equal(failed.statusCode, 502)
  t.equal(failed.json().run.last_error.code, 'upstream_error')
  t.equal((await app.inject({ url: '/api/openai/usage', headers: alice })).json().reserved.tokens, 0, 'its reservation was released')
})

t.test('the assistant is deleted mid-run: the next round does not start', async t => {
  const { app } = await setup(t)
  const threadId = await newThread(app, 'Time please [slow:500] [call:get_current_time {"timezone":"UTC"}]')
  const started = await app.inject({ method: 'POST', url: `/api/openai/threads/${threadId}/runs`, headers: alice, payload: { assistant_type: 'curator', wait: false } })
  await app.inject({ method: 'DELETE', url: '/api/openai/assistants/curator', headers: bearer(adminToken()) })
  const done = await app.inject({ url: `${started.headers.location}?wait=10000`, headers: alice })
  t.match(done.json(), { status: 'failed', last_error: { code: 'assistant_deleted' } })
})

t.test('a budget that does not fit the next tool round fails the run with budget_exceeded', async t => {
  const text = 'Time please [call:get_current_time {"timezone":"UTC"}]'
  const probe = await setup(t)
  const curator = (await probe.app.assistants.get('curator'))!.profile
  const firstRound = estimateInputTokens(estimateTokens(text), curator, JSON.stringify(roundTools(curator, probe.app.tools)).length, []) + curator.max_output_tokens
  const { app, sim } = await setup(t, { BUDGET_USER_DAILY_TOKENS: String(firstRound + 10) })
  const res = await app.inject({ method: 'POST', url: `/api/openai/threads/${await newThread(app, text)}/runs`, headers: alice, payload: { assistant_type: 'curator' } })
  t.equal(res.statusCode, 502)
  t.match(res.json().run, { status: 'failed', last_error: { code: 'budget_exceeded' } })
  t.equal(sim.counters()['POST /v1/responses'], 1, 'the second round was never sent')
  const usage = (await app.inject({ url: '/api/openai/usage', headers: alice })).json()
  t.equal(usage.reserved.tokens, 0)
  t.ok(usage.tokens.total > 0 && usage.tokens.total <= firstRound + 10, 'the first round is counted, within budget')
})

t.test('shutdown hands runs back: the lease is released at once, the run stays active', async t => {
  const sim = await startSim(t)
  // The store outlives the gateway, as a shared one does.
  const store = await openStore(testConfig(sim), Date.now)
  t.teardown(() => store.close())
  const app = await build(t, sim, { store, env: { RUN_WAIT_TIMEOUT_MS: '20000' } })
  const threadId = await newThread(app, 'Long [slow:5000]')
  const started = (await app.inject({ method: 'POST', url: `/api/openai/threads/${threadId}/runs`, headers: alice, payload: { assistant_type: 'mentor', wait: false } })).json()
  await until(async () => (await store.getRun(started.id))!.response_ids.length > 0, { message: 'the driver to hold the upstream response' })
  await app.close()
  const record = await store.getRun(started.id)
  t.equal(record!.status, 'in_progress', 'still active, for another process to resume')
  t.equal(record!.lease_owner, null, 'lease handed back')
})

t.test('past RUN_MAX_UPSTREAM_STREAMS runs are polled; runs a client streams still get their stream', async t => {
  const { app, sim } = await setup(t, { RUN_MAX_UPSTREAM_STREAMS: '0' })
  const polled = await app.inject({ method: 'POST', url: `/api/openai/threads/${await newThread(app, 'Polled answer [slow:300]')}/runs`, headers: alice, payload: { assistant_type: 'mentor' } })
  t.equal(polled.statusCode, 200)
  t.equal(polled.json().status, 'completed')
  const record = await app.store.getRun(polled.json().id)
  t.notOk(sim.peek.response(record!.response_ids[0]!)!.stream, 'created without a stream')
  t.ok(sim.counters()['GET /v1/responses/{response_id}']! >= 2, 'its end was found by polling')

  const streamed = await app.inject({ method: 'POST', url: `/api/openai/threads/${await newThread(app, 'Streamed answer')}/runs`, headers: alice, payload: { assistant_type: 'mentor', stream: true } })
  t.ok(streamed.body.includes('thread.message.delta'), 'a streaming client still sees the answer in pieces')
  t.match(streamed.body, /event: thread\.run\.completed/)
})

t.test('the message relay never repeats text: a final text that does not continue what was sent gets no delta', async t => {
  const sent: RunEvent[] = []
  const relay = createMessageRelay(event => sent.push(event), () => 1)
  const run = { id: 'run_1', thread_id: 'conv_1', assistant_type: 'mentor' }
  relay.forward(run, { type: 'response.output_item.added', item: { type: 'message', id: 'msg_1', content: [] } } as unknown as ResponseStreamEvent)
  relay.forward(run, { type: 'response.output_text.delta', item_id: 'msg_1', content_index: 0, delta: 'Hello wor' } as unknown as ResponseStreamEvent)
  const message = (text: string) => ({ type: 'message', id: 'msg_1', content: [{ type: 'output_text', text, annotations: [] }] })
  relay.finish(run, { output: [message('Goodbye')] } as unknown as Response)
  t.same(sent.map(e => e.event), [
    'thread.run.step.created', 'thread.run.step.in_progress', 'thread.message.created', 'thread.message.in_progress', 'thread.message.delta',
    'thread.message.completed', 'thread.run.step.completed'
  ])
  t.match(sent.find(e => e.event === 'thread.message.completed')!.data, { id: 'msg_1', content: [{ text: { value: 'Goodbye' } }] }, 'message.completed carries the final text')
})
