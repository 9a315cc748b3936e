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
