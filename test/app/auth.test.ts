import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { KeyObject } from 'node:crypto'
import t, { type Test } from 'tap'
import { build } from '../helpers/build.ts'
import {
  bearer, claims, ecKeyPair, rsaKeyPair, signAsymmetric, signHs256, unsigned, userToken, TEST_JWT_SECRET
} from '../helpers/tokens.ts'

const now = () => Math.floor(Date.now() / 1000)

async function get (app: Awaited<ReturnType<typeof build>>, headers: Record<string, string>) {
  return app.inject({ method: 'GET', url: '/api/openai/threads', headers })
}

function expect401 (t: Test, res: Awaited<ReturnType<typeof get>>, message: RegExp) {
  t.equal(res.statusCode, 401, `401 for ${message}`)
  const body = res.json()
  t.equal(body.code, 'UNAUTHORIZED')
  t.match(body.error, { type: 'authentication_error', code: 'UNAUTHORIZED', message: body.message, param: null })
  t.match(body.message, message)
  t.equal(body.requestId, res.headers['x-request-id'])
}

t.test('HS256 matrix', async t => {
  const app = await build(t, null, { env: { JWT_ISSUER: 'https://idp.test/', JWT_AUDIENCE: 'gateway', JWT_CLOCK_TOLERANCE_SECONDS: '30' } })
  const good = { iss: 'https://idp.test/', aud: 'gateway' }

  const ok = await get(app, bearer(signHs256(claims('alice', good))))
  t.equal(ok.statusCode, 200, 'a valid token passes')

  expect401(t, await get(app, {}), /Missing bearer token/)
  expect401(t, await get(app, { authorization: 'Basic YWxpY2U6cHc=' }), /Bearer <token>/)
  expect401(t, await get(app, bearer('not-a-jwt')), /Malformed|invalid/i)
  expect401(t, await get(app, bearer(signHs256(claims('alice', good), 'another-secret-of-at-least-32-chars!'))), /signature/)
  expect401(t, await get(app, bearer(signHs256(claims('alice', { ...good, exp: now() - 120 })))), /expired/)
  const withinTolerance = await get(app, bearer(signHs256(claims('alice', { ...good, exp: now() - 5 }))))
  t.equal(withinTolerance.statusCode, 200, 'expiry within the clock tolerance passes')
  expect401(t, await get(app, bearer(signHs256(claims('alice', { ...good, nbf: now() + 600 })))), /not yet valid/)
  expect401(t, await get(app, bearer(signHs256(claims('alice', { ...good, iss: 'https://evil.test/' })))), /issuer/)
  expect401(t, await get(app, bearer(signHs256(claims('alice', { ...good, aud: 'someone-else' })))), /audience/)
  expect401(t, await get(app, bearer(unsigned(claims('alice', good)))), /unsigned|algorithm|Malformed|invalid/i)
  expect401(t, await get(app, bearer(signHs256({ ...claims('x', good), sub: undefined }))), /required sub claim/)
  expect401(t, await get(app, bearer(signHs256({ ...claims('alice', good), exp: undefined }))), /required exp claim/)
  expect401(t, await get(app, bearer(signHs256(claims('', good)))), /subject|required claim/)
  expect401(t, await get(app, bearer(signHs256(claims(42 as unknown as string, good)))), /subject|invalid/)
})

t.test('configured iss and aud are required claims, not only checked when present', async t => {
  const app = await build(t, null, { env: { JWT_ISSUER: 'https://idp.test/', JWT_AUDIENCE: 'gateway' } })
  const good = { iss: 'https://idp.test/', aud: 'gateway' }
  t.equal((await get(app, bearer(signHs256(claims('alice', good))))).statusCode, 200)
  expect401(t, await get(app, bearer(signHs256(claims('alice', { aud: 'gateway' })))), /required iss claim/)
  expect401(t, await get(app, bearer(signHs256(claims('alice', { iss: 'https://idp.test/' })))), /required aud claim/)
  expect401(t, await get(app, bearer(signHs256(claims('alice')))), /required (iss|aud) claim/)

  const issuerOnly = await build(t, null, { env: { JWT_ISSUER: 'https://idp.test/' } })
  expect401(t, await get(issuerOnly, bearer(signHs256(claims('alice')))), /required iss claim/)
  t.equal((await get(issuerOnly, bearer(signHs256(claims('alice', { iss: 'https://idp.test/' }))))).statusCode, 200, 'aud stays optional when JWT_AUDIENCE is unset')
  const neither = await build(t, null)
  t.equal((await get(neither, bearer(signHs256(claims('alice'))))).statusCode, 200, 'neither is required when neither is configured')
})

t.test('odd subjects are refused: blank, control characters, too long', async t => {
  const app = await build(t, null)
  const subject = /subject \(sub\)/
  for (const sub of [' ', '   ', '\t', '\u00a0', 'alice\n', 'ali\u0000ce', 'bob\r\nX-Injected: 1', '\u001b[31mred', 'a\u2028b', 'x\u007f']) {
    expect401(t, await get(app, bearer(signHs256(claims(sub)))), subject)
  }
  expect401(t, await get(app, bearer(signHs256(claims('a'.repeat(257))))), subject)
  t.equal((await get(app, bearer(signHs256(claims('a'.repeat(256)))))).statusCode, 200, '256 characters are allowed')
  t.equal((await get(app, bearer(signHs256(claims('user 42 — Ünïcødé ✓'))))).statusCode, 200, 'inner spaces and any script are fine')
})

t.test('tokens never appear in error bodies', async t => {
  const app = await build(t, null)
  const token = signHs256(claims('alice', { exp: now() - 3600 }))
  const res = await get(app, bearer(token))
  t.equal(res.statusCode, 401)
  t.notMatch(res.body, token.split('.')[2]!)
  t.notMatch(res.body, TEST_JWT_SECRET)
})

t.test('the caller id is the token subject', async t => {
  const app = await build(t, null)
  const res = await get(app, bearer(userToken('bob')))
  t.equal(res.statusCode, 200)
  t.same(res.json().data, [])
})

async function adminUsage (app: Awaited<ReturnType<typeof build>>, extra: Parameters<typeof userToken>[1]) {
  return app.inject({ url: '/api/openai/admin/usage', headers: bearer(userToken('carol', extra)) })
}

function expect403 (t: Test, res: Awaited<ReturnType<typeof get>>, why: string) {
  t.equal(res.statusCode, 403, why)
  t.equal(res.json().code, 'FORBIDDEN')
}

t.test('admin comes from the role claim or an element of the roles array', async t => {
  const app = await build(t, null)
  t.equal((await adminUsage(app, { roles: ['admin'] })).statusCode, 200, 'roles: ["admin"] is an admin')
  t.equal((await adminUsage(app, { roles: ['user', 'admin'] })).statusCode, 200, 'anywhere in the array')
  expect403(t, await adminUsage(app, { roles: ['user'] }), 'roles: ["user"] is not')
  expect403(t, await adminUsage(app, { roles: 'admin' as unknown as string[] }), 'a roles string is not an array')
  expect403(t, await adminUsage(app, {}), 'no role at all')
})

t.test('JWT_ADMIN_ROLE names the admin role', async t => {
  const app = await build(t, null, { env: { JWT_ADMIN_ROLE: 'teacher' } })
  t.equal((await adminUsage(app, { role: 'teacher' })).statusCode, 200, 'role: "teacher" is an admin')
  t.equal((await adminUsage(app, { roles: ['teacher'] })).statusCode, 200, 'roles: ["teacher"] is an admin')
  expect403(t, await adminUsage(app, { role: 'admin' }), 'role: "admin" is no longer special')
  expect403(t, await adminUsage(app, { roles: ['admin'] }), 'nor roles: ["admin"]')
})

interface Jwks { server: Server, url: string, keys: object[], fetches: number, redirectTo: string | null }

/** An identity provider's JWKS endpoint; with `redirectTo` set, its usual path redirects there instead. */
async function startJwks (t: Test): Promise<Jwks> {
  const state: Jwks = { server: createServer(), url: '', keys: [], fetches: 0, redirectTo: null }
  state.server.on('request', (req, res) => {
    if (state.redirectTo !== null && req.url === '/.well-known/jwks.json') {
      res.writeHead(302, { location: state.redirectTo }).end()
      return
    }
    state.fetches++
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ keys: state.keys }))
  })
  await new Promise<void>(resolve => state.server.listen(0, '127.0.0.1', resolve))
  state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}/.well-known/jwks.json`
  t.teardown(() => new Promise(resolve => state.server.close(resolve)))
  return state
}

function jwk (key: KeyObject, kid: string, alg: string) {
  return { ...key.export({ format: 'jwk' }), kid, alg, use: 'sig' }
}

t.test('JWKS: RS256 and ES256, rotation, algorithm confusion', async t => {
  const jwks = await startJwks(t)
  const rsa = rsaKeyPair()
  const ec = ecKeyPair()
  jwks.keys = [jwk(rsa.publicKey, 'rsa-1', 'RS256'), jwk(ec.publicKey, 'ec-1', 'ES256')]
  const app = await build(t, null, { env: { JWT_SECRET: '', JWT_JWKS_URL: jwks.url, JWKS_MIN_REFETCH_INTERVAL_MS: '0' } })

  t.equal((await get(app, bearer(signAsymmetric(claims('alice'), rsa.privateKey, 'RS256', 'rsa-1')))).statusCode, 200, 'RS256 accepted')
  t.equal((await get(app, bearer(signAsymmetric(claims('alice'), ec.privateKey, 'ES256', 'ec-1')))).statusCode, 200, 'ES256 accepted')
  t.equal(jwks.fetches, 1, 'keys are cached')

  // HS256 signed with the RSA public key as the HMAC secret: the classic confusion attack.
  const publicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' })
  expect401(t, await get(app, bearer(signHs256(claims('mallory'), publicPem, { kid: 'rsa-1' }))), /algorithm/)
  expect401(t, await get(app, bearer(unsigned(claims('mallory')))), /algorithm|unsigned|Malformed|invalid/i)
  // An EC key presented as RS256.
  expect401(t, await get(app, bearer(signAsymmetric(claims('mallory'), ec.privateKey, 'ES256', 'rsa-1'))), /algorithm|signature/)
  expect401(t, await get(app, bearer(signAsymmetric(claims('mallory'), rsaKeyPair().privateKey, 'RS256', 'rsa-1'))), /signature/)
  expect401(t, await get(app, bearer(signAsymmetric(claims('mallory'), rsa.privateKey, 'RS256', 'unknown-kid'))), /unknown key/)

  // Rotation: the IdP publishes a new key; the first token signed with it triggers a refetch.
  const next = rsaKeyPair()
  jwks.keys = [jwk(next.publicKey, 'rsa-2', 'RS256')]
  const before = jwks.fetches
  t.equal((await get(app, bearer(signAsymmetric(claims('alice'), next.privateKey, 'RS256', 'rsa-2')))).statusCode, 200, 'rotated key accepted')
  t.equal(jwks.fetches, before + 1, 'one refetch for the new kid')
})

t.test('JWKS: unknown kids refetch at most once per interval', async t => {
  const jwks = await startJwks(t)
  const rsa = rsaKeyPair()
  jwks.keys = [jwk(rsa.publicKey, 'rsa-1', 'RS256')]
  const app = await build(t, null, { env: { JWT_SECRET: '', JWT_JWKS_URL: jwks.url, JWKS_MIN_REFETCH_INTERVAL_MS: '600000' } })
  t.equal((await get(app, bearer(signAsymmetric(claims('alice'), rsa.privateKey, 'RS256', 'rsa-1')))).statusCode, 200)
  for (let i = 0; i < 5; i++) {
    expect401(t, await get(app, bearer(signAsymmetric(claims('mallory'), rsa.privateKey, 'RS256', `random-${i}`))), /unknown key/)
  }
  t.equal(jwks.fetches, 1, 'random kids did not hammer the identity provider')
})

t.test('JWKS: a redirect is followed on the same origin, never to another one', async t => {
  const idp = await startJwks(t)
  const elsewhere = await startJwks(t)
  const rsa = rsaKeyPair()
  idp.keys = elsewhere.keys = [jwk(rsa.publicKey, 'rsa-1', 'RS256')]
  const token = bearer(signAsymmetric(claims('alice'), rsa.privateKey, 'RS256', 'rsa-1'))
  const env = { JWT_SECRET: '', JWT_JWKS_URL: idp.url }

  idp.redirectTo = '/keys/current.json'
  t.equal((await get(await build(t, null, { env }), token)).statusCode, 200, 'a redirect on the same origin is followed')
  t.equal(idp.fetches, 1)

  // Another port is another origin: whoever can redirect the JWKS URL must not choose the keys.
  idp.redirectTo = elsewhere.url
  const res = await get(await build(t, null, { env }), token)
  t.equal(res.statusCode, 503, 'no keys: the redirect was refused')
  t.equal(res.json().code, 'SERVICE_UNAVAILABLE')
  t.equal(elsewhere.fetches, 0, 'the other origin was never asked')
})

t.test('JWKS unreachable and nothing cached: 503, not a silent pass', async t => {
  const jwks = await startJwks(t)
  const url = jwks.url
  await new Promise(resolve => jwks.server.close(resolve))
  const app = await build(t, null, { env: { JWT_SECRET: '', JWT_JWKS_URL: url } })
  const res = await get(app, bearer(signAsymmetric(claims('alice'), rsaKeyPair().privateKey, 'RS256', 'k')))
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'SERVICE_UNAVAILABLE')
  t.ok(res.headers['retry-after'])
})
