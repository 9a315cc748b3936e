import t, { type Test } from 'tap'
import { build, startSim, tempDir } from '../helpers/build.ts'
import { bearer, userToken } from '../helpers/tokens.ts'
import { startInternalService, startWebhookTools, writeAgentsFile, WEBHOOK_SECRET } from '../helpers/webhook-tools.ts'

const alice = bearer(userToken('alice'))

async function setup (t: Test, env: Record<string, string> = {}, toolHost = '127.0.0.1') {
  const sim = await startSim(t)
  const internal = await startInternalService(t)
  const hooks = await startWebhookTools(t, internal)
  const agents = writeAgentsFile(tempDir(t), hooks.url.replace('127.0.0.1', toolHost))
  // The tool service runs on this machine: its loopback address has to be allowed.
  const app = await build(t, sim, { env: { AGENTS_FILE: agents, TOOL_WEBHOOK_SECRET: WEBHOOK_SECRET, TOOL_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.1', RUN_WAIT_TIMEOUT_MS: '20000', ...env } })
  /** One chat turn with the curator (who has every tool); returns the run and the final answer. */
  async function turn (text: string) {
    const thread = (await app.inject({ method: 'POST', url: '/api/openai/threads', headers: alice, payload: { messages: [{ role: 'user', content: text }] } })).json()
    const res = await app.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}/runs`, headers: alice, payload: { assistant_type: 'curator' } })
    const messages = (await app.inject({ url: `/api/openai/threads/${thread.id}/messages?order=asc`, headers: alice })).json().data
    const answer = messages.at(-1)
    return { res, run: res.statusCode === 502 ? res.json().run : res.json(), threadId: thread.id, messages, answer: answer.role === 'assistant' ? answer.content[0].text.value as string : '' }
  }
  return { app, sim, hooks, internal, turn }
}

const outputOf = (answer: string) => JSON.parse(answer.replace(/^Tool result for call_[^:]+: /, ''))

t.test('a built-in tool: one round, then the answer quotes its output', async t => {
  const { sim, turn } = await setup(t)
  const { res, run, answer, messages } = await turn('What time is it in Moscow? [call:get_current_time {"timezone":"Europe/Moscow"}]')
  t.equal(res.statusCode, 200)
  t.equal(run.status, 'completed')
  const output = outputOf(answer)
  t.equal(output.timezone, 'Europe/Moscow')
  t.match(output.local, /GMT\+3/)
  t.same(messages.map((m: { role: string }) => m.role), ['user', 'assistant'], 'tool items are not shown as messages')
  t.equal(sim.counters()['POST /v1/responses'], 2, 'two upstream responses: the call, then the answer')
  t.ok(run.usage.total_tokens > 0)
  t.same(sim.nonconforming(), [])
})

t.test('parallel calls in one round', async t => {
  const { turn, sim } = await setup(t)
  const { answer } = await turn('Two zones [call:get_current_time {"timezone":"UTC"}] [call:get_current_time {"timezone":"Asia/Tokyo"}]')
  const lines = answer.split('\n')
  t.equal(lines.length, 2)
  t.same(lines.map(l => outputOf(l).timezone), ['UTC', 'Asia/Tokyo'])
  t.equal(sim.counters()['POST /v1/responses'], 2)
})

t.test('a webhook tool: signed call with the user id, output fed back', async t => {
  const { turn, hooks } = await setup(t)
  const { run, answer, threadId } = await turn('My achievements? [call:get_user_achievements {"limit":2}]')
  t.equal(run.status, 'completed')
  t.same(outputOf(answer), { user: 'alice', achievements: ['first-lesson', 'week-streak'] })
  t.equal(hooks.calls.length, 1)
  t.match(hooks.calls[0], { tool: 'get_user_achievements', arguments: { limit: 2 }, user_id: 'alice', run_id: run.id, thread_id: threadId, signatureValid: true })
})

t.test('failures become tool outputs and the run goes on', async t => {
  const { turn } = await setup(t)
  const bad = await turn('Bad args [call:get_user_achievements {"limit":"lots"}]')
  t.equal(bad.run.status, 'completed')
  t.match(outputOf(bad.answer), { error: 'invalid_arguments', message: /limit must be integer/ })

  const malformed = await turn('Broken JSON [call:get_current_time {"timezone":]')
  t.match(outputOf(malformed.answer), { error: 'invalid_arguments', message: 'arguments are not valid JSON' })

  const failing = await turn('Flaky [call:flaky_tool {}]')
  t.equal(failing.run.status, 'completed')
  t.same(outputOf(failing.answer), { error: 'tool_failed', message: 'the tool service answered 500' })

  const slow = await turn('Slow [call:slow_tool {}]')
  t.equal(slow.run.status, 'completed')
  t.match(outputOf(slow.answer), { error: 'timeout' })

  const unknown = await turn('Unknown [call:launch_rockets {"count":3}]')
  t.equal(unknown.run.status, 'completed')
  t.same(outputOf(unknown.answer), { error: 'unknown_tool', message: 'no tool named launch_rockets is available' })

  const zone = await turn('Bad zone [call:get_current_time {"timezone":"Mars/Olympus"}]')
  t.same(outputOf(zone.answer), { error: 'invalid_arguments', message: 'unknown time zone Mars/Olympus' })
})

t.test('the round limit fails the run with a clear code', async t => {
  const { turn, hooks, sim } = await setup(t, { RUN_MAX_TOOL_ROUNDS: '3' })
  const { res, run } = await turn('Loop [call:loop_tool {}]')
  t.equal(res.statusCode, 502)
  t.match(run, { status: 'failed', last_error: { code: 'tool_round_limit', message: /more than 3 rounds/ } })
  t.equal(hooks.calls.length, 3, 'exactly the allowed rounds ran')
  t.equal(sim.counters()['POST /v1/responses'], 4)
  t.ok(run.usage.total_tokens > 0, 'usage of every round is summed')
})

t.test('webhook tools never follow redirects: a 302 to an internal address, a 307 that would re-send the signed body', async t => {
  const { turn, hooks, internal } = await setup(t)
  const moved = await turn('Credentials? [call:redirect_tool {}]')
  t.equal(moved.run.status, 'completed')
  t.same(outputOf(moved.answer), { error: 'tool_failed', message: 'the tool service answered 302: redirects are not followed' })
  const resent = await turn('Resend [call:resend_tool {}]')
  t.same(outputOf(resent.answer), { error: 'tool_failed', message: 'the tool service answered 307: redirects are not followed' })
  t.equal(hooks.calls.length, 2, 'the tool service was called')
  t.same(internal.requests, [], 'nothing reached the address it redirected to')
  t.notMatch(moved.answer + resent.answer, /INTERNAL-ONLY/)
})

t.test('webhook destinations: loopback, private and link-local addresses only when TOOL_WEBHOOK_ALLOWED_NETWORKS lists them', async t => {
  // A name that resolves to loopback is checked when it is resolved, so DNS cannot point a tool inside.
  const refused = await setup(t, { TOOL_WEBHOOK_ALLOWED_NETWORKS: '' }, 'localhost')
  const { answer } = await refused.turn('My achievements? [call:get_user_achievements {"limit":2}]')
  t.same(outputOf(answer), { error: 'tool_failed', message: 'the tool service\'s address is not allowed (TOOL_WEBHOOK_ALLOWED_NETWORKS)' })
  t.equal(refused.hooks.calls.length, 0, 'the tool service was never reached')

  const allowed = await setup(t, { TOOL_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8, ::1' }, 'localhost')
  t.same(outputOf((await allowed.turn('My achievements? [call:get_user_achievements {"limit":2}]')).answer), { user: 'alice', achievements: ['first-lesson', 'week-streak'] })

  // An address written in the agents file is checked at start-up.
  const sim = await startSim(t)
  for (const url of ['http://127.0.0.1:9', 'http://169.254.169.254/latest', 'http://[::1]:9', 'http://10.1.2.3', 'http://[::ffff:127.0.0.1]:9']) {
    const agents = writeAgentsFile(tempDir(t), url)
    await t.rejects(build(t, sim, { env: { AGENTS_FILE: agents, TOOL_WEBHOOK_SECRET: WEBHOOK_SECRET } }), /TOOL_WEBHOOK_ALLOWED_NETWORKS/, url)
  }
  await t.rejects(build(t, sim, { env: { TOOL_WEBHOOK_ALLOWED_NETWORKS: '10.0.0.0/33' } }), /TOOL_WEBHOOK_ALLOWED_NETWORKS/, 'a bad range stops start-up')
})

t.test('a webhook answer is read up to TOOL_WEBHOOK_MAX_RESPONSE_BYTES, whole within the tool\'s time limit', async t => {
  const { turn } = await setup(t, { TOOL_WEBHOOK_MAX_RESPONSE_BYTES: String(2 * 1024 * 1024) })
  const big = await turn('Big [call:huge_tool {"mb":3}]')
  t.equal(big.run.status, 'completed')
  t.same(outputOf(big.answer), { error: 'tool_failed', message: 'the tool service\'s answer is larger than 2097152 bytes' })
  const fits = await turn('Fits [call:huge_tool {"mb":1}]')
  t.match(fits.answer, /^Tool result for call_\w+: x{1000}/, 'an answer within the limit is read')
  const trickle = await turn('Trickle [call:trickle_tool {}]')
  t.same(outputOf(trickle.answer), { error: 'timeout', message: 'the tool did not answer within 300 ms' })
})

t.test('a webhook tool without TOOL_WEBHOOK_SECRET stops start-up', async t => {
  const sim = await startSim(t)
  const agents = writeAgentsFile(tempDir(t), 'http://127.0.0.1:9')
  await t.rejects(build(t, sim, { env: { AGENTS_FILE: agents } }), /TOOL_WEBHOOK_SECRET is required: webhook tool/)
  await t.rejects(build(t, sim, { env: { AGENTS_FILE: '/nonexistent/agents.json' } }), /AGENTS_FILE \/nonexistent\/agents.json cannot be read/)
})
