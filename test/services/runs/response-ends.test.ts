import t from 'tap'
import pino from 'pino'
import { createSqliteStore } from '../../../services/store/sqlite-store.ts'
import { createResponseEnds } from '../../../services/runs/response-ends.ts'

function setup (t: { teardown: (fn: () => unknown) => void }) {
  const store = createSqliteStore({ path: ':memory:' })
  const ends = createResponseEnds({ store, log: pino({ level: 'silent' }) })
  t.teardown(async () => { ends.close(); await store.close() })
  return { store, ends }
}

t.test('a response change wakes the wait for that response only; without one the wait ends false at its time', async t => {
  const { store, ends } = setup(t)
  const never = new AbortController().signal
  const mine = ends.wait('resp_a', 60_000, never)
  const other = ends.wait('resp_b', 50, never)
  t.equal(ends.waiting(), 2)
  await store.changes.publish('response', 'resp_a')
  t.equal(await mine, true, 'woken by its change')
  t.equal(await other, false, 'the other one was not, and gave up at its time')
  t.equal(ends.waiting(), 0, 'nothing left registered')
})

t.test('a change heard before the wait began (the webhook beat the create\'s answer) ends the wait at once, once', async t => {
  const { store, ends } = setup(t)
  await store.changes.publish('response', 'resp_early')
  await new Promise(resolve => setImmediate(resolve))
  const never = new AbortController().signal
  t.equal(await ends.wait('resp_early', 60_000, never), true)
  t.equal(await ends.wait('resp_early', 20, never), false, 'remembered for one wait only')
})

t.test('an aborted wait rejects with the reason and unregisters', async t => {
  const { ends } = setup(t)
  const stop = new AbortController()
  const waiting = ends.wait('resp_c', 60_000, stop.signal)
  stop.abort(new Error('woken'))
  await t.rejects(waiting, { message: 'woken' })
  t.equal(ends.waiting(), 0)
  await t.rejects(ends.wait('resp_c', 60_000, stop.signal), { message: 'woken' }, 'an already aborted signal rejects at once')
})
