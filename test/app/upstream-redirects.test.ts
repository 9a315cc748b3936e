import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { build, startSim, SIM_KEY } from '../helpers/build.ts'
import { bearer, userToken } from '../helpers/tokens.ts'

/** An OPENAI_BASE_URL that answers every call with a redirect to `target` (another origin: another port). */
async function startRedirector (t: { teardown: (fn: () => unknown) => void }, target: string, status: number) {
  const seen: Array<{ method: string, url: string }> = []
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '' })
    req.resume()
    res.writeHead(status, { location: `${target}${req.url?.replace(/^\/v1/, '') ?? ''}` }).end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); return new Promise(resolve => server.close(resolve)) })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, seen }
}

t.test('the OpenAI client follows no redirect: the key and the caller\'s content never move to another host', async t => {
  const elsewhere = await startSim(t)
  for (const status of [302, 307, 308]) {
    const redirector = await startRedirector(t, elsewhere.url, status)
    const app = await build(t, { url: redirector.url })
    const res = await app.inject({ method: 'POST', url: '/api/openai/threads', headers: bearer(userToken('alice')), payload: { messages: [{ role: 'user', content: 'private words' }] } })
    t.equal(res.statusCode, 502, `a ${status} is an upstream error`)
    t.equal(res.json().code, 'UPSTREAM_ERROR')
    t.notMatch(res.body, new RegExp(SIM_KEY))
    t.same(redirector.seen.map(r => r.method), ['POST'], 'the configured upstream was asked once')
  }
  t.same(elsewhere.counters(), {}, 'the host the redirects named was never asked')
})
