import t, { type Test } from 'tap'
import { build, startSim, tempDir } from '../helpers/build.ts'
import { bearer, userToken } from '../helpers/tokens.ts'
import { startWebhookTools, writeAgentsFile, WEBHOOK_SECRET } from '../helpers/webhook-tools.ts'

const alice = bearer(userToken('alice'))

async function setup (t: Test, env: Record<string, string> = {}) {
  const sim = await startSim(t)
  const hooks = await startWebhookTools(t)
  const agents = writeAgentsFile(tempDir(t), hooks.url)
  const app = await build(t, sim, { env: { AGENTS_FILE: agents, TOOL_WEBHOOK_SECRET: WEBHOOK_SECRET, RUN_WAIT_TIMEOUT_MS: '20000', ...env } })
  /** One chat turn with the curator (who has every tool); returns the run and the final answer. */
  async function turn (text: string) {
    const thread = (await app.inject({ method: 'POST', url: '/api/openai/threads', headers: alice, payload: { messages: [{ role: 'user', content: text }] } })).json()
    const res = await app.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}/runs`, headers: alice, payload: { assistant_type: 'curator' } })
    const messages = (await app.inject({ url: `/api/openai/threads/${thread.id}/messages?order=asc`, headers: alice })).json().data
    const answer = messages.at(-1)
    return { res, run: res.statusCode === 502 ? res.json().run : res.json(), threadId: thread.id, messages, answer: answer.role === 'assistant' ? answer.content[0].text.value as string : '' }
  }
  return { app, sim, hooks, turn }
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

t.test('a webhook tool without TOOL_WEBHOOK_SECRET stops start-up', async t => {
  const sim = await startSim(t)
  const agents = writeAgentsFile(tempDir(t), 'http://127.0.0.1:9')
  await t.rejects(build(t, sim, { env: { AGENTS_FILE: agents } }), /TOOL_WEBHOOK_SECRET is required: webhook tool/)
  await t.rejects(build(t, sim, { env: { AGENTS_FILE: '/nonexistent/agents.json' } }), /AGENTS_FILE \/nonexistent\/agents.json cannot be read/)
})
