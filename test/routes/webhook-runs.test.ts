import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { Simulator } from '../../simulator/index.ts'
import { build, startSim } from '../helpers/build.ts'
import { bearer, userToken } from '../helpers/tokens.ts'

const SECRET = `whsec_${randomBytes(24).toString('base64')}`
const READS = 'GET /v1/responses/{response_id}'

/**
 * A gateway that takes OpenAI's webhooks and streams no round (RUN_MAX_UPSTREAM_STREAMS=0: every run is
 * beyond the stream limit), the simulator delivering to it. `RUN_WEBHOOK_POLL_MS` is the fallback read's
 * delay; where a test must prove no read happened before the webhook, it is longer than the run may wait.
 */
async function setup (t: Test, env: Record<string, string>) {
  const sim = await startSim(t)
  const app = await build(t, sim, { env: { OPENAI_WEBHOOK_SECRET: SECRET, RUN_MAX_UPSTREAM_STREAMS: '0', RUN_WAIT_TIMEOUT_MS: '15000', ...env } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/webhooks/openai`
  sim.configure({ webhooks: { url, secret: SECRET, backoffMs: 20, maxBackoffMs: 100, timeoutMs: 5000 } })
  return { sim, app }
}

/** One chat turn (POST …/runs that waits for the answer) whose generation takes `ms`. */
async function turn (app: FastifyInstance, user: string, ms: number) {
  const headers = bearer(userToken(user))
  const thread = (await app.inject({ method: 'POST', url: '/api/openai/threads', headers, payload: { messages: [{ role: 'user', content: `[slow:${ms}] Hello` }] } })).json()
  const res = await app.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}/runs`, headers, payload: { assistant_id: 'mentor' } })
  return { status: res.statusCode, run: res.json() }
}

const responseEvents = (sim: Simulator) => sim.webhooks.deliveries().filter(d => d.event.type.startsWith('response.'))

t.test('a run beyond the stream limit ends on its webhook: the response is read once, when the webhook says it ended — no polls', async t => {
  // A fallback read would come after 60 s, beyond the run's 15 s wait: only the webhook can end this run in time.
  const { sim, app } = await setup(t, { RUN_WEBHOOK_POLL_MS: '60000' })
  const { status, run } = await turn(app, 'ada', 400)
  t.equal(status, 200)
  t.equal(run.status, 'completed')
  t.ok(run.usage.total_tokens > 0, 'settled from the response it read')
  t.equal(sim.counters()['POST /v1/responses'], 1, 'one response created, not streamed')
  t.equal(sim.counters()[READS], 1, 'one read of the finished response; polling from 20 ms on would have read it several times in 400 ms')
  await sim.webhooks.idle()
  t.match(responseEvents(sim), [{ event: { type: 'response.completed', data: { id: (await app.store.getRun(run.id))!.response_ids[0] } }, outcome: 'acknowledged' }])
  t.same(sim.nonconforming(), [])
})

t.test('a lost webhook: the run reads its response itself after RUN_WEBHOOK_POLL_MS and completes', async t => {
  const { sim, app } = await setup(t, { RUN_WEBHOOK_POLL_MS: '300' })
  sim.configure({ webhooks: { dropNext: 1 } })
  const { status, run } = await turn(app, 'bea', 100)
  t.equal(status, 200)
  t.equal(run.status, 'completed')
  t.match(responseEvents(sim), [{ event: { type: 'response.completed' }, outcome: 'dropped', attempts: 0 }], 'the only webhook of the run was never sent')
  t.ok(sim.counters()[READS] >= 1, 'the fallback read it')
})

t.test('a webhook delivered twice wakes the run once: one change published, one read, the usage counted once', async t => {
  const { sim, app } = await setup(t, { RUN_WEBHOOK_POLL_MS: '60000' })
  const heard: string[] = []
  app.store.changes.subscribe('response', id => { heard.push(id) })
  sim.configure({ webhooks: { duplicateNext: 1 } })
  const { run } = await turn(app, 'cleo', 200)
  t.equal(run.status, 'completed')
  await sim.webhooks.idle()
  const deliveries = responseEvents(sim)
  t.equal(deliveries.length, 2, 'delivered twice')
  t.equal(new Set(deliveries.map(d => d.webhookId)).size, 1, 'with one webhook-id')
  t.ok(deliveries.every(d => d.outcome === 'acknowledged'), 'both acknowledged')
  t.same(heard, (await app.store.getRun(run.id))!.response_ids, 'the response change was published once')
  t.equal(sim.counters()[READS], 1, 'the response was read once')
  const usage = (await app.inject({ url: '/api/openai/usage', headers: bearer(userToken('cleo')) })).json()
  t.match(usage, { runs: 1, tokens: { total: run.usage.total_tokens } }, 'the usage counted once')
})
