import t from 'tap'
import { text } from '../fixtures/samples.ts'
import { userToken } from '../helpers/tokens.ts'
import { forEachSdk, setup, all, preflightHeaders } from './helpers.ts'

// CORS for the SDK in a browser: the headers it sends, the ones it reads.
forEachSdk(t, (test, factory) => {
  test('CORS: a browser preflight for exactly the headers this SDK sends is allowed, and the poll header is exposed', async t => {
    const ORIGIN = 'http://spa.example'
    const { sdk, sim, wire, baseURL } = await setup(t, factory, { env: { CORS_ORIGINS: ORIGIN } })
    const thread = await sdk.threads.create({ messages: [{ role: 'user', content: 'hi' }] })
    await sdk.runs.createAndPoll(thread.id, { assistant_id: 'mentor' })
    await all(sdk.messages.list(thread.id))
    await sdk.files.create(text.plain(), 'a.txt', 'assistants')
    await sdk.threads.del(thread.id)
    const sent = preflightHeaders(wire.entries)
    t.ok(sent.includes('openai-beta') && sent.some(h => h.startsWith('x-stainless-')), `the SDK's own headers were sent: ${sent.join(', ')}`)

    for (const method of ['POST', 'GET', 'DELETE']) {
      const res = await fetch(`${baseURL}/threads/${thread.id}`, {
        method: 'OPTIONS',
        headers: { origin: ORIGIN, 'access-control-request-method': method, 'access-control-request-headers': sent.join(',') }
      })
      t.ok(res.status === 204 || res.status === 200, `${method} preflight answered ${res.status}`)
      t.equal(res.headers.get('access-control-allow-origin'), ORIGIN)
      const allowed = new Set((res.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(',').map(s => s.trim()))
      t.same(sent.filter(h => !allowed.has(h)), [], `${method} preflight allows every header the SDK sends`)
    }
    const read = await fetch(`${baseURL}/threads`, { headers: { origin: ORIGIN, authorization: `Bearer ${userToken('alice')}` } })
    const exposed = (read.headers.get('access-control-expose-headers') ?? '').toLowerCase()
    for (const name of ['openai-poll-after-ms', 'x-request-id', 'retry-after', 'x-ratelimit-remaining']) t.ok(exposed.includes(name), `exposes ${name}`)
    t.same(sim.nonconforming(), [])
  })
})
