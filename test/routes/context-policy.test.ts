import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, startSim } from '../helpers/build.ts'
import { adminToken, bearer, userToken } from '../helpers/tokens.ts'
import { loadAgentsFile } from '../../services/assistants/agents-file.ts'
import { estimateInputTokens } from '../../services/runs/usage.ts'

const admin = bearer(adminToken())
const alice = bearer(userToken('alice'))
const mentor = loadAgentsFile().agents.find(a => a.id === 'mentor')!
const MAX_OUTPUT = 200
/** A question of ~300 tokens (the simulator counts characters / 4) with a 40-word answer: a thread grows ~360 tokens a turn. */
const question = (n: number) => `Question ${n}: ${'lorem ipsum '.repeat(100)} [len:40]`

async function putProfile (app: FastifyInstance, id: string, contextPolicy?: object) {
  const { id: _id, created_at: _c, aliases: _a, ...body } = mentor
  const res = await app.inject({ method: 'PUT', url: `/api/openai/assistants/${id}`, headers: admin, payload: { ...body, max_output_tokens: MAX_OUTPUT, ...(contextPolicy ? { context_policy: contextPolicy } : {}) } })
  if (res.statusCode !== 200) throw new Error(res.body)
  return res.json()
}

interface Turn { input: number, reserved: number, wholeEstimate: number }

/** `turns` chat turns on one thread; per turn what was reserved while it ran, what the whole thread would have reserved, and the input it read. */
async function longThread (app: FastifyInstance, assistant: string, turns: number, stream = false): Promise<{ threadId: string, turns: Turn[] }> {
  const threadId = (await app.inject({ method: 'POST', url: '/api/openai/threads', headers: alice, payload: {} })).json().id
  const out: Turn[] = []
  for (let n = 1; n <= turns; n++) {
    await app.inject({ method: 'POST', url: `/api/openai/threads/${threadId}/messages`, headers: alice, payload: { content: `${question(n)} [slow:150]` } })
    const thread = (await app.store.getThread(threadId))!
    const started = await app.inject({ method: 'POST', url: `/api/openai/threads/${threadId}/runs`, headers: alice, payload: { assistant_id: assistant, wait: false, ...(stream ? { stream: true } : {}) } })
    const runId = stream ? (await app.store.listRuns(threadId, { limit: 1, order: 'desc' })).data[0]!.id : started.json().id
    const reserved = (await app.inject({ url: '/api/openai/usage', headers: alice })).json().reserved.tokens
    const run = (await app.inject({ url: `/api/openai/threads/${threadId}/runs/${runId}?wait=10000`, headers: alice })).json()
    if (run.status !== 'completed') throw new Error(`turn ${n}: ${JSON.stringify(run)}`)
    out.push({ input: run.usage.prompt_tokens, reserved, wholeEstimate: estimateInputTokens(thread.token_estimate, mentor, 2, []) + MAX_OUTPUT })
  }
  return { threadId, turns: out }
}

t.test('without a policy nothing changes: no truncation, no compaction, each turn re-reads the whole thread', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim)
  await putProfile(app, 'plain')
  const { turns } = await longThread(app, 'plain', 8)
  for (const entry of sim.requestLog()) t.match(entry, { truncation: null, context_management: null })
  t.ok(turns.every((turn, i) => i === 0 || turn.input > turns[i - 1]!.input), `input grows every turn: ${turns.map(x => x.input).join(', ')}`)
  t.same(turns.map(x => x.reserved), turns.map(x => x.wholeEstimate), 'and the reservation is the whole thread\'s estimate')
  const run = (await app.inject({ url: `/api/openai/threads/${sim.requestLog()[0]!.conversation}/runs`, headers: alice })).json().data[0]
  t.match(run, { context_policy: null, truncation_strategy: null })
})

t.test('a context policy: truncation and compaction upstream, input per turn bounded, the budget follows, the run shows it; nothing deleted', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim)
  const profile = await putProfile(app, 'bounded', { truncation: 'auto', compact_threshold: 1500 })
  t.same(profile.context_policy, { truncation: 'auto', compact_threshold: 1500, max_input_tokens: null }, 'the admin view shows it, defaults filled in')
  const { threadId, turns } = await longThread(app, 'bounded', 10)
  for (const entry of sim.requestLog()) t.match(entry, { truncation: 'auto', context_management: [{ type: 'compaction', compact_threshold: 1500 }] })
  const prefix = Math.ceil((mentor.instructions.length + 2) / 4)
  t.ok(turns.every(turn => turn.input <= 1500 + prefix + 400), `input per turn stays near the threshold: ${turns.map(x => x.input).join(', ')}`)
  t.ok(turns.some(turn => turn.reserved < turn.wholeEstimate), 'the reservation follows the policy (below the whole thread\'s estimate once it is long)')
  t.ok(turns.every(turn => turn.reserved >= turn.input + MAX_OUTPUT), 'and never below what the turn read (no overshoot)')

  const run = (await app.inject({ url: `/api/openai/threads/${threadId}/runs`, headers: alice })).json().data[0]
  t.same(run.context_policy, { truncation: 'auto', compact_threshold: 1500, max_input_tokens: null }, 'the run shows what it applied')
  t.same(run.truncation_strategy, { type: 'auto', last_messages: null }, 'and says it truncates, as the Assistants API did')
  const compactions = (sim.peek.conversation(threadId)!.items as Array<{ type: string }>).filter(i => i.type === 'compaction')
  t.ok(compactions.length >= 1, `the thread was compacted upstream (${compactions.length} times)`)
  const messages = (await app.inject({ url: `/api/openai/threads/${threadId}/messages?limit=100`, headers: alice })).json().data
  t.equal(messages.length, 20, 'every message is still listed: compaction hides nothing from the user')
  t.same(sim.nonconforming(), [])
})

t.test('a per-turn cap alone compacts at the cap; a streamed run over a compacting response relays its answer', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim)
  await putProfile(app, 'capped', { max_input_tokens: 1200 })
  const { threadId, turns } = await longThread(app, 'capped', 7, true)
  for (const entry of sim.requestLog()) t.match(entry, { truncation: null, context_management: [{ type: 'compaction', compact_threshold: 1200 }] })
  t.ok(turns.every(x => x.input <= 1200 + 400), `input bounded by the cap and one turn: ${turns.map(x => x.input).join(', ')}`)
  t.ok(turns.some(x => x.reserved < x.wholeEstimate), 'the reservation follows the cap')
  const messages = (await app.inject({ url: `/api/openai/threads/${threadId}/messages?limit=100`, headers: alice })).json().data
  t.equal(messages.filter((m: { role: string }) => m.role === 'assistant').length, 7, 'every answer landed in the thread')
  t.same(sim.nonconforming(), [])
})

t.test('the estimate: whole thread without compaction; with it, the threshold or the compacted turn, whichever is larger', async t => {
  const whole = estimateInputTokens(10_000, mentor, 2, [])
  t.equal(estimateInputTokens(10_000, mentor, 2, [], null), whole)
  t.equal(estimateInputTokens(10_000, mentor, 2, [], { threshold: 2000, turnTokens: null }), whole, 'an unknown turn (a thread from before) assumes the whole thread')
  t.equal(estimateInputTokens(10_000, mentor, 2, [], { threshold: 2000, turnTokens: 100 }), 2000, 'a small turn: the threshold')
  t.equal(estimateInputTokens(10_000, mentor, 2, [], { threshold: 2000, turnTokens: 5000 }), whole - 10_000 + 1000 + 5000, 'a big turn: instructions, one compaction item, the turn')
  t.equal(estimateInputTokens(500, mentor, 2, [], { threshold: 2000, turnTokens: 100 }), estimateInputTokens(500, mentor, 2, []), 'never above the whole thread')
})

t.test('a bad policy is refused', async t => {
  const app = await build(t, null)
  for (const policy of [{ compact_threshold: 999 }, { truncation: 'sometimes' }, { max_input_tokens: 10 }, { other: 1 }]) {
    const { id: _id, created_at: _c, aliases: _a, ...body } = mentor
    const res = await app.inject({ method: 'PUT', url: '/api/openai/assistants/x', headers: admin, payload: { ...body, context_policy: policy } })
    t.equal(res.statusCode, 400, JSON.stringify(policy))
    t.match(res.json().message, /^body\.context_policy/)
  }
})
