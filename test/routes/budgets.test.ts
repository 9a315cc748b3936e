import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, startSim } from '../helpers/build.ts'
import { farFromReset } from '../helpers/budget-day.ts'
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

/** The measured case of issue 18: a 3,000-token day, twenty chat turns at once, each reserving about a third of it. */
const BURST_BUDGET = 3000
const BURST_TEXT = 'Quick one [len:5] [slow:300]'
const BURST_MAX_OUTPUT = 800

t.test('twenty turns at once on a 3,000-token day: reservations in flight make them wait, never a day-long Retry-After, never an overshoot', async t => {
  const perTurn = reservationFor(BURST_TEXT) - MAX_OUTPUT + BURST_MAX_OUTPUT
  t.ok(perTurn * 3 <= BURST_BUDGET && perTurn * 4 > BURST_BUDGET, `three reservations of ${perTurn} fit at a time`)
  const { app, sim } = await setup(t, { BUDGET_USER_DAILY_TOKENS: String(BURST_BUDGET), BUDGET_DAY_OFFSET_MINUTES: farFromReset() })
  const threads = await Promise.all(Array.from({ length: 20 }, () => newThread(app, 'alice', BURST_TEXT)))
  const results = await Promise.all(threads.map(id => run(app, 'alice', id, { max_output_tokens: BURST_MAX_OUTPUT })))
  for (const r of results.filter(r => r.statusCode !== 200)) {
    t.equal(r.statusCode, 429, 'a turn that did not run was refused')
    t.ok(Number(r.headers['retry-after']) <= 60, `in seconds (${r.headers['retry-after']}), not to midnight`)
    t.not(r.headers['x-should-retry'], 'false', 'and the SDK may retry it')
  }
  const completed = results.filter(r => r.statusCode === 200)
  t.equal(completed.length, 20, 'every turn ran: each waited for the reservations ahead of it to settle')
  t.equal(sim.counters()['POST /v1/responses'], 20)
  const settled = completed.reduce((n, r) => n + r.json().usage.total_tokens, 0)
  const mine = await usage(app, 'alice')
  t.equal(mine.tokens.total, settled, 'the ledger holds exactly the settled usage')
  t.ok(settled <= BURST_BUDGET, `settled usage ${settled} within the budget ${BURST_BUDGET}`)
  t.equal(mine.reserved.tokens, 0, 'every reservation was settled')
  t.equal(mine.runs, 20)

  // Now settled usage is what leaves too little room: the reset time, and no retry.
  const big = await run(app, 'alice', await newThread(app, 'alice', BURST_TEXT), { max_output_tokens: BURST_BUDGET - settled })
  t.equal(big.statusCode, 429)
  t.match(big.json(), { code: 'BUDGET_EXCEEDED', message: /used up; it resets at/ })
  t.ok(Number(big.headers['retry-after']) > 60, 'Retry-After points at the reset')
  t.equal(big.headers['x-should-retry'], 'false')
  t.equal(sim.counters()['POST /v1/responses'], 20, 'nothing refused went upstream')
  t.same(sim.nonconforming(), [])
})

t.test('twenty turns at once with wait: false: the three that fit start, the rest are told to retry in seconds', async t => {
  const { app, sim } = await setup(t, { BUDGET_USER_DAILY_TOKENS: String(BURST_BUDGET), BUDGET_DAY_OFFSET_MINUTES: farFromReset() })
  const threads = await Promise.all(Array.from({ length: 20 }, () => newThread(app, 'alice', BURST_TEXT)))
  const results = await Promise.all(threads.map(id => run(app, 'alice', id, { max_output_tokens: BURST_MAX_OUTPUT, wait: false })))
  const started = results.filter(r => r.statusCode === 202)
  const refused = results.filter(r => r.statusCode === 429)
  t.equal(started.length, 3, 'exactly the three that fit started')
  t.equal(refused.length, 17)
  for (const r of refused) {
    t.match(r.json(), { code: 'BUDGET_EXCEEDED', error: { type: 'insufficient_quota' }, message: /held by your runs in progress; retry in a few seconds/ })
    t.equal(r.headers['retry-after'], '2', 'seconds, not the time to midnight')
    t.not(r.headers['x-should-retry'], 'false')
  }
  for (const r of started) {
    const done = await app.inject({ url: `/api/openai/threads/${r.json().thread_id}/runs/${r.json().id}?wait=10000`, headers: bearer(userToken('alice')) })
    t.equal(done.json().status, 'completed')
  }
  const retried = await run(app, 'alice', started[0]!.json().thread_id, { max_output_tokens: BURST_MAX_OUTPUT, wait: false })
  t.equal(retried.statusCode, 202, 'a turn sent once they settled is admitted')
  const retriedRun = retried.json()
  await app.inject({ url: `/api/openai/threads/${retriedRun.thread_id}/runs/${retriedRun.id}?wait=10000`, headers: bearer(userToken('alice')) })
  t.equal(sim.counters()['POST /v1/responses'], 4, 'only the admitted turns went upstream')
})

t.test('the global budget holds across users', async t => {
  const budget = reservationFor(TEXT) * 5 + 10
  const { app, sim } = await setup(t, { BUDGET_GLOBAL_DAILY_TOKENS: String(budget) })
  const users = Array.from({ length: 20 }, (_, i) => `user-${i}`)
  const threads = await Promise.all(users.map(u => newThread(app, u, TEXT)))
  const results = await Promise.all(users.map((u, i) => run(app, u, threads[i]!, { wait: false })))
  t.equal(results.filter(r => r.statusCode === 202).length, 5, 'five fit at once')
  t.ok(results.filter(r => r.statusCode === 429).every(r => /gateway's daily token budget is held by runs in progress/.test(r.json().message)))
  for (const [i, r] of results.entries()) {
    if (r.statusCode === 202) await app.inject({ url: `/api/openai/threads/${threads[i]}/runs/${r.json().id}?wait=10000`, headers: bearer(userToken(users[i]!)) })
  }
  t.equal(sim.counters()['POST /v1/responses'], 5, 'only the admitted turns went upstream')
  // The same twenty, waiting: more run as the first settle below their estimates, never past the budget.
  const waited = await Promise.all(users.map(async u => run(app, u, await newThread(app, u, TEXT))))
  for (const r of waited.filter(r => r.statusCode === 429)) {
    t.match(r.json().message, /gateway's daily token budget/)
  }
  const report = (await app.inject({ url: '/api/openai/admin/usage', headers: bearer(adminToken()) })).json()
  t.ok(report.totals.total_tokens <= budget, `${report.totals.total_tokens} within ${budget}`)
  t.ok(report.totals.runs > 5, 'runs waited for the reservations ahead of them')
  t.match(report.global, { tokens_limit: budget, tokens_used: report.totals.total_tokens })
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
