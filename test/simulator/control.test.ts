import t from 'tap'
import OpenAI from 'openai'
import { API_KEY, failure, setup } from './helpers.ts'

t.test('the /__sim control API over HTTP', async (t) => {
  const { sim, openai } = await setup(t)
  const auth = { authorization: `Bearer ${API_KEY}` }
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${sim.origin}/__sim/${path}`, {
      method,
      headers: body === undefined ? auth : { ...auth, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    return { status: res.status, body: await res.json() as Record<string, any> }
  }

  t.test('requires the key', async (t) => {
    const res = await fetch(`${sim.origin}/__sim/stats`)
    t.equal(res.status, 401)
  })

  t.test('stats: counters, nonconforming requests, responses', async (t) => {
    const conv = await openai.conversations.create()
    await openai.conversations.retrieve(conv.id)
    await openai.conversations.retrieve(conv.id)
    await fetch(`${sim.url}/responses`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"model":7}' })
    await openai.responses.create({ model: 'gpt-4.1', input: 'x', background: true })
    const { status, body } = await call('GET', 'stats')
    t.equal(status, 200)
    t.match(body.counters, { 'POST /v1/conversations': 1, 'GET /v1/conversations/{conversation_id}': 2, 'POST /v1/responses': 2 })
    t.equal(body.nonconforming.count, 1)
    t.match(body.nonconforming.requests[0], { route: 'POST /v1/responses', errors: Array })
    t.match(body.responses, { total: 1 })
    t.equal(body.conversations, 1)
  })

  t.test('faults: add, list, clear', async (t) => {
    const added = await call('POST', 'faults', { route: 'POST /v1/conversations', kind: 'status', status: 503, times: 2 })
    t.equal(added.status, 200)
    t.equal(added.body.ids.length, 1)
    const listed = await call('GET', 'faults')
    t.match(listed.body.data, [{ route: 'POST /v1/conversations', kind: 'status', status: 503, times: 2, fired: 0 }])
    t.match(await failure(openai.conversations.create()), { status: 503 })
    t.match((await call('GET', 'faults')).body.data, [{ fired: 1 }])
    t.same((await call('DELETE', 'faults')).body, { cleared: true })
    t.match((await openai.conversations.create()).id, /^conv_/, 'cleared before its second use')

    const several = await call('POST', 'faults', [{ route: '*', kind: 'latency', ms: 1 }, { route: 'GET /v1/files', kind: 'hang' }])
    t.equal(several.body.ids.length, 2, 'an array adds several rules')
    await call('DELETE', 'faults')
    const bad = await call('POST', 'faults', { route: 'POST /v1/nowhere', kind: 'status', status: 500 })
    t.equal(bad.status, 400)
    t.match(bad.body.error.message, /unknown route/)
  })

  t.test('config', async (t) => {
    const updated = await call('POST', 'config', { generationMs: 5, queueMs: 1, pollAfterMs: 250, latency: { fixedMs: 0, jitterMs: 0 } })
    t.match(updated.body, { generationMs: 5, queueMs: 1, pollAfterMs: 250, validate: true })
    const r = await openai.responses.create({ model: 'gpt-4.1', input: 'x', background: true })
    const raw = await openai.responses.retrieve(r.id).withResponse()
    t.equal(raw.response.headers.get('openai-poll-after-ms'), '250')
    t.equal((await call('POST', 'config', { generationMs: -1 })).status, 400)
    t.match((await call('GET', 'config')).body, { generationMs: 5 })
  })

  t.test('reset forgets everything', async (t) => {
    const conv = await openai.conversations.create()
    await call('POST', 'faults', { route: '*', kind: 'status', status: 500, times: 0 })
    t.same((await call('POST', 'reset')).body, { reset: true })
    const stats = (await call('GET', 'stats')).body
    t.same(stats.counters, {})
    t.equal(stats.nonconforming.count, 0)
    t.equal(stats.conversations, 0)
    t.same(stats.faults, [])
    t.equal((await call('GET', 'config')).body.generationMs, 30, 'config back to the start options')
    t.type(await failure(openai.conversations.retrieve(conv.id)), OpenAI.NotFoundError)
  })

  t.test('unknown control paths', async (t) => {
    t.equal((await call('GET', 'nothing')).status, 404)
  })
})
