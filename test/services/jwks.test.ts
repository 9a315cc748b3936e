import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import type { FastifyBaseLogger } from 'fastify'
import { createJwksCache } from '../../services/jwks.ts'
import { rsaKeyPair } from '../helpers/tokens.ts'

const silent = { info () {}, warn () {} } as unknown as FastifyBaseLogger

/** An IdP whose JWKS can be changed or made to fail; counts the fetches. */
async function idp (t: Test) {
  const state = { keys: [] as object[], status: 200, fetches: 0, url: '' }
  const server = createServer((_req, res) => {
    state.fetches++
    res.writeHead(state.status, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: state.keys }))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise(resolve => server.close(resolve)))
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`
  return state
}

const jwk = (kid: string) => ({ ...rsaKeyPair().publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' })

t.test('keys are trusted for the TTL, then refetched; stale keys serve while the IdP is down', async t => {
  const server = await idp(t)
  server.keys = [jwk('a')]
  let clock = 1_000_000
  const jwks = createJwksCache({ url: server.url, algorithms: ['RS256'], ttlMs: 60_000, minRefetchIntervalMs: 5000, log: silent, now: () => clock })

  const pem = await jwks.getKey('a', 'RS256')
  t.match(pem, /^-----BEGIN PUBLIC KEY-----/)
  clock += 60_000
  t.equal(await jwks.getKey('a', 'RS256'), pem)
  t.equal(server.fetches, 1, 'within the TTL: no fetch')

  clock += 1
  server.keys = [jwk('b')]
  await t.rejects(jwks.getKey('a', 'RS256'), { statusCode: 401, message: 'Token signed with an unknown key' }, 'past the TTL the set is fetched again: key a is gone')
  t.equal(server.fetches, 2)

  clock += 60_001
  server.status = 500
  t.match(await jwks.getKey('b', 'RS256'), /^-----BEGIN PUBLIC KEY-----/, 'the IdP fails: the keys held keep working')
  t.equal(server.fetches, 3, 'after trying')
})

t.test('an unknown kid refetches once the cooldown has passed, not before', async t => {
  const server = await idp(t)
  server.keys = [jwk('a')]
  let clock = 1_000_000
  const jwks = createJwksCache({ url: server.url, algorithms: ['RS256'], ttlMs: 600_000, minRefetchIntervalMs: 5000, log: silent, now: () => clock })
  await jwks.getKey('a', 'RS256')
  server.keys = [jwk('a'), jwk('rotated')]
  clock += 4999
  await t.rejects(jwks.getKey('rotated', 'RS256'), { statusCode: 401, message: 'Token signed with an unknown key' })
  t.equal(server.fetches, 1, 'inside the cooldown: not fetched')
  clock += 1
  t.match(await jwks.getKey('rotated', 'RS256'), /^-----BEGIN PUBLIC KEY-----/, 'after it: fetched, the new key found')
  t.equal(server.fetches, 2)
})

t.test('a JWKS answer is bounded while it arrives: an endless body is abandoned past 256 KiB, declared or not', async t => {
  for (const declared of [true, false]) {
    let written = 0
    const state = { closed: false }
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', ...(declared ? { 'content-length': String(1 << 30) } : {}) })
      res.write('{"keys":[')
      const chunk = Buffer.alloc(64 * 1024, ' ')
      const pump = () => {
        // Endless unless the reader goes away; bounded here only so a broken reader cannot hang the test.
        let more = true
        while (more && !state.closed && written < 64 * 1024 * 1024) {
          more = res.write(chunk)
          written += chunk.length
        }
        if (!state.closed && written < 64 * 1024 * 1024) res.once('drain', pump)
      }
      res.on('close', () => { state.closed = true })
      pump()
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    t.teardown(() => { server.closeAllConnections(); return new Promise(resolve => server.close(resolve)) })
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`
    const jwks = createJwksCache({ url, algorithms: ['RS256'], ttlMs: 60_000, minRefetchIntervalMs: 5000, log: silent })
    await t.rejects(jwks.getKey('a', 'RS256'), { statusCode: 503, message: 'Signing keys are unavailable' }, `${declared ? 'a declared' : 'an undeclared'} huge answer: the IdP is unusable, not a 500`)
    await new Promise<void>(resolve => { const check = () => state.closed ? resolve() : setTimeout(check, 10); check() })
    t.ok(written < 16 * 1024 * 1024, `the connection was dropped early (${(written / 1024 / 1024).toFixed(1)} MiB written of 64)`)
  }
})
