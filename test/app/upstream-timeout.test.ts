import t from 'tap'
import { build, startSim } from '../helpers/build.ts'
import { bearer, userToken } from '../helpers/tokens.ts'

// With the default OPENAI_TIMEOUT_MS and OPENAI_MAX_RETRIES (the test helper's own shorter ones unset), a
// hanging upstream must be answered before a common proxy's 60 s read timeout cuts the client off. This
// test is slow by nature: it waits for the defaults.
t.test('a hanging upstream is answered 504 in under 60 s with the default timeouts', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim, { env: { OPENAI_TIMEOUT_MS: '', OPENAI_MAX_RETRIES: '' } })
  t.equal(app.config.OPENAI_MAX_RETRIES, 2, 'the defaults are in force')
  sim.faults.add({ route: 'POST /v1/conversations', kind: 'hang', times: 0 })
  const started = performance.now()
  const res = await app.inject({ method: 'POST', url: '/api/openai/threads', headers: bearer(userToken('alice')), payload: {} })
  const seconds = (performance.now() - started) / 1000
  t.equal(res.statusCode, 504)
  t.equal(res.json().code, 'UPSTREAM_TIMEOUT')
  t.equal(sim.counters()['POST /v1/conversations'], 3, 'every attempt was made')
  t.ok(seconds < 60, `answered in ${seconds.toFixed(1)} s`)
})
