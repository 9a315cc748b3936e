import { join } from 'node:path'
import t from 'tap'
import { startGatewayProcess } from './helpers/process.ts'
import { startSim, tempDir, testEnv } from './helpers/build.ts'
import { bearer, userToken } from './helpers/tokens.ts'
import { until } from './helpers/until.ts'
import { createSqliteStore } from '../services/store/sqlite-store.ts'
import { budgetDay } from '../services/budget-service.ts'

t.test('a gateway killed (SIGKILL) mid-run: the restarted one resumes the run, once, usage counted once', async t => {
  const sim = await startSim(t)
  const dir = tempDir(t)
  const dbPath = join(dir, 'gw.db')
  const env = testEnv(sim, { SQLITE_PATH: dbPath, RUN_LEASE_MS: '1000' })
  const headers = { ...bearer(userToken('alice')), 'content-type': 'application/json' }

  const first = await startGatewayProcess(t, env)
  const thread = await (await fetch(`${first.url}/api/openai/threads`, { method: 'POST', headers, body: JSON.stringify({ messages: [{ role: 'user', content: 'Survive a crash [slow:2500]' }] }) })).json() as { id: string }
  const started = await fetch(`${first.url}/api/openai/threads/${thread.id}/runs`, { method: 'POST', headers, body: JSON.stringify({ assistant_type: 'mentor', wait: false }) })
  t.equal(started.status, 202)
  const run = await started.json() as { id: string }
  // Killed once the upstream response is recorded: mid-run, with the id the restarted process resumes from.
  const store = createSqliteStore({ path: dbPath })
  t.teardown(() => store.close())
  await until(async () => (await store.getRun(run.id))?.response_ids.length, { message: 'the first process to record its upstream response' })
  first.child.kill('SIGKILL')
  await first.exited

  const second = await startGatewayProcess(t, env)
  const done = await (await fetch(`${second.url}/api/openai/threads/${thread.id}/runs/${run.id}?wait=20000`, { headers })).json() as { status: string, usage: { total_tokens: number } }
  t.equal(done.status, 'completed', 'the second process finished the run')
  t.equal(sim.counters()['POST /v1/responses'], 1, 'no duplicate upstream response was started')

  const messages = await (await fetch(`${second.url}/api/openai/threads/${thread.id}/messages`, { headers })).json() as { data: Array<{ role: string, run_id: string | null }> }
  t.same(messages.data.map(m => m.role), ['assistant', 'user'], 'exactly one answer')
  t.equal(messages.data[0]!.run_id, run.id)

  const ledger = await store.usageLedger(budgetDay(Date.now(), 0).day, 'alice')
  t.equal(ledger.length, 1)
  t.equal(ledger[0]!.total_tokens, done.usage.total_tokens, 'the ledger holds the run\'s usage exactly once')
  t.equal(ledger[0]!.runs, 1)
  const counters = await store.budgetCounters(budgetDay(Date.now(), 0).day, 'alice')
  t.equal(counters.reserved_user_tokens, 0, 'no reservation leaked')
  t.same(sim.nonconforming(), [])
})

t.test('a paused run (requires_action) outlives a gateway restart: resumed by the next process, in time', async t => {
  const sim = await startSim(t)
  const dir = tempDir(t)
  const env = testEnv(sim, { SQLITE_PATH: join(dir, 'gw.db'), RUN_LEASE_MS: '1000', RUN_WAIT_TIMEOUT_MS: '20000' })
  const headers = { ...bearer(userToken('alice')), 'content-type': 'application/json' }

  const first = await startGatewayProcess(t, env)
  const thread = await (await fetch(`${first.url}/api/openai/threads`, { method: 'POST', headers, body: JSON.stringify({ messages: [{ role: 'user', content: 'Where am I? [call:get_learner_context {}]' }] }) })).json() as { id: string }
  const paused = await (await fetch(`${first.url}/api/openai/threads/${thread.id}/runs`, { method: 'POST', headers, body: JSON.stringify({ assistant_id: 'curator' }) })).json() as
    { id: string, status: string, required_action: { submit_tool_outputs: { tool_calls: Array<{ id: string }> } } }
  t.equal(paused.status, 'requires_action')
  first.child.kill('SIGKILL')
  await first.exited

  const second = await startGatewayProcess(t, env)
  const url = `${second.url}/api/openai/threads/${thread.id}/runs/${paused.id}`
  const still = await (await fetch(url, { headers })).json() as { status: string }
  t.equal(still.status, 'requires_action', 'the pause survived: it lives in the store, not in a process')
  const callId = paused.required_action.submit_tool_outputs.tool_calls[0]!.id
  const done = await (await fetch(`${url}/submit_tool_outputs`, { method: 'POST', headers, body: JSON.stringify({ tool_outputs: [{ tool_call_id: callId, output: 'page 5' }] }) })).json() as { status: string }
  t.equal(done.status, 'completed', 'the restarted process resumed it')
  t.equal(sim.counters()['POST /v1/responses'], 2, 'the call, then the answer: nothing started twice')
  t.same(sim.nonconforming(), [])
})
