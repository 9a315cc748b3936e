import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, startSim } from '../helpers/build.ts'
import { adminToken, bearer, userToken } from '../helpers/tokens.ts'
import { loadAgentsFile } from '../../services/assistants/agents-file.ts'
import { estimateInputTokens } from '../../services/runs/usage.ts'
import { estimateTokens } from '../../services/threads/items.ts'
import { budgetDay } from '../../services/budget-service.ts'

const MAX_OUTPUT = 64
const mentor = loadAgentsFile().agents.find(a => a.id === 'mentor')!

/** What the gateway reserves for a run of the mentor on a thread holding one message `text`. */
function reservationFor (text: string): number {
  return estimateInputTokens(estimateTokens(text), mentor, 2, []) + MAX_OUTPUT
}

async function newThread (app: FastifyInstance, user: string, text: string): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/openai/threads', headers: bearer(userToken(user)), payload: { messages: [{ role: 'user', content: text }] } })
  return res.json().id
}

function run (app: FastifyInstance, user: string, threadId: string, extra: object = {}) {
  return app.inject({ method: 'POST', url: `/api/openai/threads/${threadId}/runs`, headers: bearer(userToken(user)), payload: { assistant_type: 'mentor', max_output_tokens: MAX_OUTPUT, ...extra } })
}

async function usage (app: FastifyInstance, user: string) {
  return (await app.inject({ url: '/api/openai/usage', headers: bearer(userToken(user)) })).json()
}

async function setup (t: Test, env: Record<string, string>, clock?: () => number) {
  const sim = await startSim(t)
  const app = await build(t, sim, { env: { RUN_MAX_ACTIVE_PER_USER: '50', RATE_LIMIT_RUNS_MAX: '1000', RATE_LIMIT_MAX: '10000', ...env }, ...(clock ? { clock } : {}) })
  return { sim, app }
}

const TEXT = 'Budgeted question [slow:600]'

t.test('twenty concurrent runs against a user budget that fits five: at most five start, usage never exceeds it', async t => {
  const budget = reservationFor(TEXT) * 5 + reservationFor(TEXT) - 1
  const { app, sim } = await setup(t, { BUDGET_USER_DAILY_TOKENS: String(budget) })
  const threads = await Promise.all(Array.from({ length: 20 }, () => newThread(app, 'alice', TEXT)))
  const results = await Promise.all(threads.map(id => run(app, 'alice', id)))
  const started = results.filter(r => r.statusCode === 200)
  const refused = results.filter(r => r.statusCode === 429)
  t.equal(started.length + refused.length, 20, 'every request was either run or refused')
  t.equal(started.length, 5, 'exactly the five that fit started')
  for (const r of refused) {
    t.equal(r.json().code, 'BUDGET_EXCEEDED')
    const retryAfter = Number(r.headers['retry-after'])
    t.ok(retryAfter >= 1 && retryAfter <= 86_400, 'Retry-After is the time to the reset')
  }
  t.equal(sim.counters()['POST /v1/responses'], 5, 'nothing was sent upstream for the refused ones')
  const settled = started.reduce((n, r) => n + r.json().usage.total_tokens, 0)
  const mine = await usage(app, 'alice')
  t.equal(mine.tokens.total, settled, 'the ledger holds exactly the settled usage')
  t.ok(mine.tokens.total <= budget, `settled usage ${mine.tokens.total} within the budget ${budget}`)
  t.equal(mine.reserved.tokens, 0, 'every reservation was settled or released')
  t.equal(mine.runs, 5)
  t.equal(mine.limits.tokens, budget)
  t.equal(mine.remaining.tokens, budget - settled)
})

t.test('the global budget holds across users', async t => {
  const budget = reservationFor(TEXT) * 5 + 10
  const { app, sim } = await setup(t, { BUDGET_GLOBAL_DAILY_TOKENS: String(budget) })
  const users = Array.from({ length: 20 }, (_, i) => `user-${i}`)
  const threads = await Promise.all(users.map(u => newThread(app, u, TEXT)))
  const results = await Promise.all(users.map((u, i) => run(app, u, threads[i]!)))
  t.equal(results.filter(r => r.statusCode === 200).length, 5)
  t.ok(results.filter(r => r.statusCode === 429).every(r => /gateway's daily token budget/.test(r.json().message)))
  t.equal(sim.counters()['POST /v1/responses'], 5)
  const report = (await app.inject({ url: '/api/openai/admin/usage', headers: bearer(adminToken()) })).json()
  t.ok(report.totals.total_tokens <= budget)
  t.match(report.global, { tokens_limit: budget, tokens_used: report.totals.total_tokens, tokens_reserved: 0 })
})

t.test('reservations are released when a run fails, is cancelled or times out', async t => {
  const { app } = await setup(t, { BUDGET_USER_DAILY_TOKENS: '1000000', RUN_MAX_DURATION_MS: '1000' })
  const failed = await run(app, 'alice', await newThread(app, 'alice', 'Nope [fail]'))
  t.equal(failed.statusCode, 502)
  t.equal((await usage(app, 'alice')).reserved.tokens, 0, 'released after failure')

  const slowThread = await newThread(app, 'alice', 'Long one [slow:5000]')
  const started = await run(app, 'alice', slowThread, { wait: false })
  t.ok((await usage(app, 'alice')).reserved.tokens > 0, 'held while running')
  await app.inject({ method: 'POST', url: `/api/openai/threads/${slowThread}/runs/${started.json().id}/cancel`, headers: bearer(userToken('alice')) })
  t.equal((await usage(app, 'alice')).reserved.tokens, 0, 'released after cancel')

  const timedOut = await run(app, 'alice', await newThread(app, 'alice', 'Too long [slow:30000]'))
  t.equal(timedOut.json().run.last_error.code, 'run_timeout')
  t.equal((await usage(app, 'alice')).reserved.tokens, 0, 'released after the maximum duration')
})

t.test('the budget day rolls over (injected clock) and Retry-After points at the reset', async t => {
  let now = Date.parse('2026-11-22T23:59:00Z')
  const { app } = await setup(t, { BUDGET_USER_DAILY_TOKENS: String(reservationFor('Day one') + 5) }, () => now)
  t.equal((await run(app, 'alice', await newThread(app, 'alice', 'Day one'))).statusCode, 200)
  const refused = await run(app, 'alice', await newThread(app, 'alice', 'Day one'))
  t.equal(refused.statusCode, 429)
  t.equal(refused.headers['retry-after'], '60', 'one minute to midnight UTC')
  const before = await usage(app, 'alice')
  t.equal(before.date, '2026-11-22')
  t.equal(before.resets_at, Date.parse('2026-11-23T00:00:00Z') / 1000)

  now = Date.parse('2026-11-23T00:00:01Z')
  t.equal((await run(app, 'alice', await newThread(app, 'alice', 'Day one'))).statusCode, 200, 'a new day, a new budget')
  const after = await usage(app, 'alice')
  t.equal(after.date, '2026-11-23')
  t.equal(after.runs, 1)
  const report = (await app.inject({ url: '/api/openai/admin/usage?date=2026-11-22', headers: bearer(adminToken()) })).json()
  t.equal(report.totals.runs, 1, 'yesterday kept its own figures')
})

t.test('a run reserved before midnight and settled after it is charged to the day it reserved on', async t => {
  let now = Date.parse('2026-11-22T23:59:59Z')
  const text = 'Late one [slow:300]'
  const limit = reservationFor(text) + 5
  const { app } = await setup(t, { BUDGET_USER_DAILY_TOKENS: String(limit) }, () => now)
  const threadId = await newThread(app, 'alice', text)
  const started = await run(app, 'alice', threadId, { wait: false })
  t.equal(started.statusCode, 202)
  t.equal((await usage(app, 'alice')).reserved.tokens, reservationFor(text), 'reserved on 2026-11-22')

  now = Date.parse('2026-11-23T00:00:01Z')
  const done = (await app.inject({ url: `/api/openai/threads/${threadId}/runs/${started.json().id}?wait=10000`, headers: bearer(userToken('alice')) })).json()
  t.equal(done.status, 'completed', 'settled after midnight')
  const total = done.usage.total_tokens
  t.ok(total > 0)

  const report = async (date: string) => (await app.inject({ url: `/api/openai/admin/usage?date=${date}`, headers: bearer(adminToken()) })).json()
  const before = await report('2026-11-22')
  t.match(before.totals, { runs: 1, total_tokens: total }, 'the ledger charges the day of the reservation')
  t.match(before.global, { tokens_used: total, tokens_reserved: 0 }, 'and so do its counters, its reservation freed')
  const after = await report('2026-11-23')
  t.same(after.users, [], 'nothing in the new day\'s ledger')
  t.match(after.global, { tokens_used: 0, tokens_reserved: 0 }, 'nor in its counters')
  t.match(await usage(app, 'alice'), { date: '2026-11-23', runs: 0, tokens: { total: 0 }, reserved: { tokens: 0 }, remaining: { tokens: limit } })
  t.equal((await run(app, 'alice', await newThread(app, 'alice', text))).statusCode, 200, 'the new day still admits a full reservation')
})

t.test('the day boundary can be shifted from UTC', async t => {
  t.same(budgetDay(Date.parse('2026-11-22T21:30:00Z'), 180), { day: '2026-11-23', startsAt: Date.parse('2026-11-22T21:00:00Z'), resetsAt: Date.parse('2026-11-23T21:00:00Z') })
  t.equal(budgetDay(Date.parse('2026-11-22T20:59:59Z'), 180).day, '2026-11-22')
})

t.test('admin report: totals equal the sum of the runs, with cost; admins only', async t => {
  const { app } = await setup(t, {})
  const runs: Array<{ usage: Record<'total_tokens' | 'prompt_tokens' | 'completion_tokens', number> }> = []
  for (const user of ['alice', 'alice', 'bob']) runs.push((await run(app, user, await newThread(app, user, `hello from ${user}`))).json())
  const admin = bearer(adminToken())
  const report = (await app.inject({ url: '/api/openai/admin/usage', headers: admin })).json()
  t.match(report, { object: 'usage.report', currency: 'USD', prices_updated: '2026-11-01' })
  const sum = (field: 'total_tokens' | 'prompt_tokens' | 'completion_tokens') => runs.reduce((n, r) => n + r.usage[field], 0)
  t.equal(report.totals.total_tokens, sum('total_tokens'))
  t.equal(report.totals.input_tokens, sum('prompt_tokens'))
  t.equal(report.totals.output_tokens, sum('completion_tokens'))
  t.equal(report.totals.runs, 3)
  t.same(report.users.map((u: { user: string }) => u.user), ['alice', 'bob'])
  t.equal(report.users[0].runs, 2)
  t.equal(report.users[0].total_tokens + report.users[1].total_tokens, report.totals.total_tokens)
  t.match(report.users[0].by_model, [{ assistant: 'mentor', model: 'gpt-4.1' }])
  t.ok(report.totals.cost_usd > 0, 'priced from the bundled table')
  t.equal((await app.inject({ url: '/api/openai/admin/usage', headers: bearer(userToken('alice')) })).statusCode, 403)
  t.equal((await app.inject({ url: '/api/openai/admin/usage?date=2026-13-45', headers: admin })).statusCode, 400)
  t.same((await app.inject({ url: '/api/openai/admin/usage?date=2020-01-01', headers: admin })).json().users, [])
  const metrics = (await app.inject({ url: '/metrics' })).body
  t.match(metrics, /tokens_total\{assistant="mentor",model="gpt-4.1",kind="output"\} \d+/)
  t.notMatch(metrics, /alice/, 'no per-user labels')
})

t.test('a per-assistant daily cap limits that assistant for everyone', async t => {
  const { app } = await setup(t, {})
  const admin = bearer(adminToken())
  const cap = reservationFor('capped') + 5
  // A cap below the profile's max_output_tokens is refused (no default-sized run could ever fit): the cap here fits one.
  const belowOneAnswer = await app.inject({ method: 'PUT', url: '/api/openai/assistants/mentor', headers: admin, payload: { ...mentor, id: undefined, daily_token_cap: cap } })
  t.equal(belowOneAnswer.statusCode, 400)
  t.match(belowOneAnswer.json().message, /^body\.daily_token_cap must be 0 \(none\) or at least max_output_tokens \(2000\)/)
  const put = await app.inject({ method: 'PUT', url: '/api/openai/assistants/mentor', headers: admin, payload: { ...mentor, id: undefined, max_output_tokens: MAX_OUTPUT, daily_token_cap: cap } })
  t.equal(put.statusCode, 200)
  t.equal((await run(app, 'alice', await newThread(app, 'alice', 'capped'))).statusCode, 200)
  const refused = await run(app, 'bob', await newThread(app, 'bob', 'capped'))
  t.equal(refused.statusCode, 429)
  t.match(refused.json().message, /assistant's daily token budget/)
  const other = await app.inject({ method: 'POST', url: `/api/openai/threads/${await newThread(app, 'bob', 'x')}/runs`, headers: bearer(userToken('bob')), payload: { assistant_type: 'curator' } })
  t.equal(other.statusCode, 200, 'other assistants are unaffected')
})
