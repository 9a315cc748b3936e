import t from 'tap'
import { build, startSim } from '../helpers/build.ts'
import { bearer, userToken } from '../helpers/tokens.ts'
import { api, redisOrSkip, startRedisGateways } from '../helpers/redis.ts'
import { scaleRedis } from '../helpers/redis-topologies.ts'
import { loadAgentsFile } from '../../services/assistants/agents-file.ts'
import { estimateInputTokens } from '../../services/runs/usage.ts'
import { estimateTokens } from '../../services/threads/items.ts'

const CONTENT = '[slow:3000] How far along am I?'

if (redisOrSkip(t)) {
  t.test('a daily budget holds across instances under concurrency', async t => {
    const sim = await startSim(t)
    const redis = await scaleRedis(t)

    // What one run reserves: measured on an in-process gateway with the same assistant and thread text.
    const probe = await build(t, sim, { env: { STORE: 'redis', ...redis.env } })
    const headers = bearer(userToken('probe'))
    const thread = (await probe.inject({ method: 'POST', url: '/api/openai/threads', headers, payload: { messages: [{ role: 'user', content: CONTENT }] } })).json()
    const probeRun = await probe.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}/runs`, headers, payload: { assistant_type: 'mentor', wait: false } })
    t.equal(probeRun.statusCode, 202)
    const perRun: number = (await probe.inject({ url: '/api/openai/usage', headers })).json().reserved.tokens
    t.ok(perRun > 0, `one run reserves ${perRun} tokens`)

    const fits = 3
    const budget = fits * perRun + Math.floor(perRun / 2)
    const gateways = await startRedisGateways(t, sim, redis, 3, { BUDGET_USER_DAILY_TOKENS: String(budget), RUN_MAX_ACTIVE_PER_USER: '100' })
    const threads: string[] = []
    for (let i = 0; i < fits * 3; i++) {
      const res = await api(gateways[i % 3].url, 'POST', '/api/openai/threads', { user: 'bea', body: { messages: [{ role: 'user', content: CONTENT }] } })
      threads.push(res.body.id)
    }
    const before = sim.counters()['POST /v1/responses'] ?? 0

    // Three times as many runs as fit, on distinct threads, spread over the instances, all at once.
    const replies = await Promise.all(threads.map((id, i) =>
      api(gateways[i % 3].url, 'POST', `/api/openai/threads/${id}/runs`, { user: 'bea', body: { assistant_type: 'mentor', wait: false } })))
    const started = replies.filter(r => r.status === 202)
    const refused = replies.filter(r => r.status === 429)
    t.equal(started.length, fits, `exactly ${fits} runs start`)
    t.equal(refused.length, fits * 2, 'the rest are refused')
    t.ok(refused.every(r => r.body.code === 'BUDGET_EXCEEDED' && Number(r.headers.get('retry-after')) >= 1), '429 BUDGET_EXCEEDED with Retry-After')

    const usage = await api(gateways[2].url, 'GET', '/api/openai/usage', { user: 'bea' })
    t.equal(usage.body.reserved.tokens, fits * perRun, 'the shared counters hold exactly the admitted reservations')
    t.ok(usage.body.reserved.tokens <= budget)

    for (const run of started) {
      const ended = await api(gateways[0].url, 'GET', `/api/openai/threads/${run.body.thread_id}/runs/${run.body.id}?wait=20000`, { user: 'bea' })
      t.equal(ended.body.status, 'completed')
    }
    t.equal((sim.counters()['POST /v1/responses'] ?? 0) - before, fits, 'nothing refused went upstream')
    const after = await api(gateways[1].url, 'GET', '/api/openai/usage', { user: 'bea' })
    t.equal(after.body.runs, fits, 'the ledger counts the admitted runs')
    t.equal(after.body.reserved.tokens, 0, 'every reservation was settled')
    t.ok(after.body.tokens.total <= budget, 'and the day stayed within the budget')
    t.same(sim.nonconforming(), [])
  })

  t.test('twenty turns at once on a 3,000-token day across two instances: they wait for the reservations in flight, none is sent to midnight, no overshoot', async t => {
    const sim = await startSim(t)
    const redis = await scaleRedis(t)
    const budget = 3000
    const text = 'Quick one [len:5] [slow:300]'
    const maxOutput = 800
    const mentor = loadAgentsFile().agents.find(a => a.id === 'mentor')!
    const perTurn = estimateInputTokens(estimateTokens(text), mentor, 2, []) + maxOutput
    t.ok(perTurn * 3 <= budget && perTurn * 4 > budget, `three reservations of ${perTurn} fit at a time`)
    const gateways = await startRedisGateways(t, sim, redis, 2, { BUDGET_USER_DAILY_TOKENS: String(budget), RUN_MAX_ACTIVE_PER_USER: '100' })
    const threads: string[] = []
    for (let i = 0; i < 20; i++) {
      threads.push((await api(gateways[i % 2]!.url, 'POST', '/api/openai/threads', { user: 'cleo', body: { messages: [{ role: 'user', content: text }] } })).body.id)
    }
    const replies = await Promise.all(threads.map((id, i) =>
      api(gateways[i % 2]!.url, 'POST', `/api/openai/threads/${id}/runs`, { user: 'cleo', body: { assistant_type: 'mentor', max_output_tokens: maxOutput } })))
    for (const r of replies.filter(r => r.status !== 200)) {
      t.equal(r.status, 429, 'a turn that did not run was refused')
      t.ok(Number(r.headers.get('retry-after')) <= 60, `in seconds (${r.headers.get('retry-after')}), not to midnight`)
    }
    const completed = replies.filter(r => r.status === 200)
    t.equal(completed.length, 20, 'every turn ran, on both instances, each after the reservations ahead of it settled')
    const settled = completed.reduce((n, r) => n + (r.body.usage.total_tokens as number), 0)
    const usage = await api(gateways[1]!.url, 'GET', '/api/openai/usage', { user: 'cleo' })
    t.equal(usage.body.tokens.total, settled, 'the shared ledger holds exactly the settled usage')
    t.ok(settled <= budget, `settled usage ${settled} within the budget ${budget}`)
    t.equal(usage.body.reserved.tokens, 0)
    t.equal(sim.counters()['POST /v1/responses'], 20)
    t.same(sim.nonconforming(), [])
  })
}
