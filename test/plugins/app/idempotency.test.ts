import t, { type Test } from 'tap'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import idempotency from '../../../plugins/app/idempotency.ts'
import store from '../../../plugins/app/store.ts'
import { createSqliteStore } from '../../../services/store/sqlite-store.ts'
import { testConfig } from '../../helpers/build.ts'

/** The plugin on a bare Fastify: a route without a header schema, so only the plugin's own check applies. */
async function bare (t: Test) {
  const config = testConfig(null)
  const app = Fastify()
  t.teardown(() => app.close())
  app.decorate('config', config)
  app.decorate('clock', Date.now)
  await app.register(store, { config, store: createSqliteStore({ path: ':memory:' }) })
  await app.register(fp(async f => {
    f.decorateRequest('identity', null)
    f.addHook('onRequest', async request => { request.identity = { id: 'alice', isAdmin: false } })
  }, { name: 'auth' }))
  await app.register(idempotency)
  let created = 0
  app.post('/things', { config: { idempotent: true } }, async (_request, reply) => reply.code(201).send({ id: ++created }))
  return app
}

t.test('Idempotency-Key is 1-255 visible ASCII characters without spaces, as in the header schema', async t => {
  const app = await bare(t)
  const post = (key: string) => app.inject({ method: 'POST', url: '/things', headers: { 'idempotency-key': key }, payload: {} })

  for (const key of ['with space', 'tab\there', 'x'.repeat(256)]) {
    const res = await post(key)
    t.equal(res.statusCode, 400, `${JSON.stringify(key.slice(0, 12))} (${key.length}) is refused`)
    t.equal(res.json().code, 'VALIDATION_FAILED')
    t.match(res.json().message, /^headers\.idempotency-key /, 'the message names the header')
  }

  const longest = 'k'.repeat(255)
  const first = await post(longest)
  t.equal(first.statusCode, 201, '255 characters are accepted')
  const again = await post(longest)
  t.equal(again.headers['idempotent-replayed'], 'true')
  t.same(again.json(), first.json())
})
