import t from 'tap'
import { startSim } from '../helpers/build.ts'
import { api, redisOrSkip, startRedisGateways } from '../helpers/redis.ts'
import { scaleRedis } from '../helpers/redis-topologies.ts'
import { startGatewayProcess } from '../helpers/process.ts'
import { createRedisStore } from '../../services/store/redis-store.ts'
import { testEnv } from '../helpers/build.ts'
import { userToken } from '../helpers/tokens.ts'
import { until } from '../helpers/until.ts'

if (redisOrSkip(t)) {
  const sim = await startSim(t)
  const redis = await scaleRedis(t)
  const env = { RUN_LEASE_MS: '1000', RUN_POLL_MIN_MS: '50', RUN_POLL_MAX_MS: '200' }
  const [a, b, c] = await startRedisGateways(t, sim, redis, 3, env)
  const store = await createRedisStore({ url: redis.target })
  t.teardown(() => store.close())

  async function newThread (baseUrl: string, user: string, content: string): Promise<string> {
    const res = await api(baseUrl, 'POST', '/api/openai/threads', { user, body: { messages: [{ role: 'user', content }] } })
    if (res.status !== 201) throw new Error(`thread not created: ${res.status} ${JSON.stringify(res.body)}`)
    return res.body.id
  }
  const startRun = (baseUrl: string, user: string, threadId: string) =>
    api(baseUrl, 'POST', `/api/openai/threads/${threadId}/runs`, { user, body: { assistant_type: 'mentor', wait: false } })

  t.test('one active run per thread across instances', async t => {
    const threadId = await newThread(a.url, 'tess', '[slow:3000] Take your time.')
    const first = await startRun(a.url, 'tess', threadId)
    t.equal(first.status, 202)
    const second = await startRun(b.url, 'tess', threadId)
    t.equal(second.status, 409, 'another instance refuses a second run on the thread')
    t.equal(second.body.code, 'THREAD_BUSY')
    t.ok(Number(second.headers.get('retry-after')) >= 1)

    // A race: one request per instance at the same moment, on a fresh thread.
    const raced = await newThread(b.url, 'tess', '[slow:3000] Race.')
    const replies = await Promise.all([a, b, c].map(gw => startRun(gw.url, 'tess', raced)))
    t.same(replies.map(r => r.status).sort(), [202, 409, 409], 'exactly one instance starts it')
    t.ok(replies.filter(r => r.status === 409).every(r => r.body.code === 'THREAD_BUSY'))
    t.equal((await api(c.url, 'GET', `/api/openai/threads/${raced}/runs`, { user: 'tess' })).body.data.length, 1, 'one run was written')

    for (const [thread, runId] of [[threadId, first.body.id], [raced, replies.find(r => r.status === 202)!.body.id]]) {
      const ended = await api(c.url, 'GET', `/api/openai/threads/${thread}/runs/${runId}?wait=20000`, { user: 'tess' })
      t.equal(ended.body.status, 'completed')
    }
    t.equal((await startRun(b.url, 'tess', threadId)).status, 202, 'a finished run frees the thread for every instance')
  })

  t.test('a run started on one instance is polled and cancelled through others', async t => {
    const threadId = await newThread(a.url, 'paula', '[slow:1500] Hello there.')
    const started = await startRun(a.url, 'paula', threadId)
    t.equal(started.status, 202)
    const location = started.headers.get('location')
    t.equal(location, `/api/openai/threads/${threadId}/runs/${started.body.id}`)
    const done = await api(b.url, 'GET', `${location}?wait=20000`, { user: 'paula' })
    t.equal(done.status, 200)
    t.equal(done.body.status, 'completed', 'the long poll on B ends when the run ends')
    t.ok(done.body.usage.total_tokens > 0)
    const messages = await api(c.url, 'GET', `/api/openai/threads/${threadId}/messages?order=asc`, { user: 'paula' })
    t.equal(messages.body.data.at(-1)?.role, 'assistant', 'and C shows the answer')
    t.equal(messages.body.data.at(-1)?.run_id, started.body.id)

    const slowThread = await newThread(a.url, 'paula', '[slow:8000] Never mind.')
    const slow = await startRun(a.url, 'paula', slowThread)
    const path = `/api/openai/threads/${slowThread}/runs/${slow.body.id}`
    const running = await until(async () => {
      const run = await store.getRun(slow.body.id)
      return run?.response_ids.length === 1 ? run : null
    }, { timeoutMs: 15_000, message: 'the run to be in flight upstream' })
    t.ok(running.lease_owner, 'an instance drives it')
    const polled = await api(b.url, 'GET', `${path}?wait=100`, { user: 'paula' })
    t.equal(polled.body.status, 'in_progress', 'B sees it running')
    const cancels = sim.counters()['POST /v1/responses/{response_id}/cancel'] ?? 0
    const cancelled = await api(c.url, 'POST', `${path}/cancel`, { user: 'paula' })
    t.equal(cancelled.status, 200)
    t.match(cancelled.body.status, /^(cancelling|cancelled)$/)
    t.ok((sim.counters()['POST /v1/responses/{response_id}/cancel'] ?? 0) > cancels, 'the upstream response was cancelled')
    const final = await api(b.url, 'GET', `${path}?wait=20000`, { user: 'paula' })
    t.equal(final.body.status, 'cancelled', 'the run ends cancelled, seen from B')
    t.equal(sim.peek.response(running.response_ids[0])?.status, 'cancelled')
    t.equal((await startRun(b.url, 'paula', slowThread)).status, 202, 'and the thread is free again')
  })

  t.test('a run started on one instance is streamed through another (GET with Accept: text/event-stream)', async t => {
    const threadId = await newThread(a.url, 'sofia', '[slow:1200] Stream me from elsewhere.')
    const started = await startRun(a.url, 'sofia', threadId)
    t.equal(started.status, 202)
    const res = await fetch(`${b.url}/api/openai/threads/${threadId}/runs/${started.body.id}`, {
      headers: { authorization: `Bearer ${userToken('sofia')}`, accept: 'text/event-stream' }, signal: AbortSignal.timeout(30_000)
    })
    t.equal(res.status, 200)
    t.match(res.headers.get('content-type'), /^text\/event-stream/)
    const events = (await res.text()).split('\n\n').filter(b => b.startsWith('event: ')).map(block => ({
      event: block.split('\n')[0]!.slice(7),
      data: block.split('\n').find(l => l.startsWith('data: '))!.slice(6)
    }))
    const names = events.map(e => e.event)
    t.ok(names.includes('thread.message.created'), 'the message, followed from the other instance')
    t.same(names.slice(-2), ['thread.run.completed', 'done'])
    const deltas = events.filter(e => e.event === 'thread.message.delta').map(e => JSON.parse(e.data).delta.content[0].text.value).join('')
    const messages = await api(c.url, 'GET', `/api/openai/threads/${threadId}/messages?limit=1`, { user: 'sofia' })
    t.equal(deltas, messages.body.data[0].content[0].text.value, 'the whole answer arrived through the other instance')
  })

  t.test('an instance killed mid-run: another resumes it, completes it once and counts its usage once', async t => {
    const victim = await startGatewayProcess(t, testEnv(sim, { STORE: 'redis', ...redis.env, ...env }))
    const threadId = await newThread(victim.url, 'kim', '[slow:3000] Long answer please.')
    const createdBefore = sim.counters()['POST /v1/responses'] ?? 0
    const started = await startRun(victim.url, 'kim', threadId)
    t.equal(started.status, 202)
    const runId: string = started.body.id
    const inFlight = await until(async () => {
      const run = await store.getRun(runId)
      return run?.response_ids.length === 1 && run.creating_since === null ? run : null
    }, { timeoutMs: 15_000, message: 'the upstream response to be recorded' })
    // Usually the instance that started the run drives it, but any instance's sweeper may claim a fresh run first.
    const gateways = [victim, a, b, c]
    const driver = gateways.find(gw => inFlight.lease_owner?.split(':')[1] === String(gw.child.pid))
    t.ok(driver, 'one of the instances holds the lease')
    driver!.child.kill('SIGKILL')
    await driver!.exited
    const survivor = gateways.find(gw => gw !== driver && gw !== victim)!

    const done = await api(survivor.url, 'GET', `/api/openai/threads/${threadId}/runs/${runId}?wait=30000`, { user: 'kim' })
    t.equal(done.body.status, 'completed', 'another instance picked the run up and finished it')
    const stored = await store.getRun(runId)
    t.ok(stored && stored.fence > inFlight.fence, 'under a new fence: the dead instance could no longer write')
    t.equal((sim.counters()['POST /v1/responses'] ?? 0) - createdBefore, 1, 'no second upstream response was started')
    const responseId = inFlight.response_ids[0]
    t.same(stored?.settled_response_ids, [responseId], 'the response was settled once')
    const upstream = sim.peek.response(responseId) as unknown as { status: string, usage: { total_tokens: number } }
    t.equal(upstream.status, 'completed')
    t.equal(done.body.usage.total_tokens, upstream.usage.total_tokens, "the run's usage is the response's, once")

    const usage = await api(survivor.url, 'GET', '/api/openai/usage', { user: 'kim' })
    t.equal(usage.status, 200)
    t.equal(usage.body.runs, 1, 'the ledger counts one run')
    t.equal(usage.body.tokens.total, upstream.usage.total_tokens, 'and its tokens once')
    t.equal(usage.body.reserved.tokens, 0, 'no reservation left open')
    const ledger = await store.usageLedger(usage.body.date, 'kim')
    t.equal(ledger.reduce((n, row) => n + row.total_tokens, 0), upstream.usage.total_tokens, 'the stored ledger agrees')
  })

  t.test('a run paused for client tools on one instance is resumed on another, and its end is seen on a third', async t => {
    const threadId = await newThread(a.url, 'cora', 'Where am I? [call:get_learner_context {}]')
    const paused = await api(a.url, 'POST', `/api/openai/threads/${threadId}/runs`, { user: 'cora', body: { assistant_id: 'curator' } })
    t.equal(paused.body.status, 'requires_action')
    const waiting = api(c.url, 'GET', `/api/openai/threads/${threadId}/runs/${paused.body.id}?wait=20000`, { user: 'cora' })
    t.equal((await waiting).body.status, 'requires_action', 'a waiter anywhere sees the pause')
    const callId = paused.body.required_action.submit_tool_outputs.tool_calls[0].id
    const resumed = await api(b.url, 'POST', `/api/openai/threads/${threadId}/runs/${paused.body.id}/submit_tool_outputs`,
      { user: 'cora', body: { tool_outputs: [{ tool_call_id: callId, output: 'lesson 4' }], wait: false } })
    t.equal(resumed.status, 202)
    const done = await api(c.url, 'GET', `/api/openai/threads/${threadId}/runs/${paused.body.id}?wait=20000`, { user: 'cora' })
    t.equal(done.body.status, 'completed', 'driven by B, seen by C through the change feed')
    const again = await api(a.url, 'POST', `/api/openai/threads/${threadId}/runs/${paused.body.id}/submit_tool_outputs`,
      { user: 'cora', body: { tool_outputs: [{ tool_call_id: callId, output: 'lesson 4' }] } })
    t.equal(again.status, 400, 'resumed once')
  })

  t.test('the simulator saw only conforming requests', async t => {
    t.same(sim.nonconforming(), [])
  })
}
