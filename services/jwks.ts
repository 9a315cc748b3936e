// Hand-written rather than get-jwks, which was tried against test/app/auth.test.ts and fails it: it caches
// and fetches per (alg, kid), so a second key of the same set costs a second fetch and each unknown kid a fetch
// of its own (no cooldown, so random kids hammer the IdP), and a known kid under the wrong algorithm comes back
// as an unknown key. It also passes `timeout`, which fetch ignores (a hung IdP holds requests for undici's
// 300 s), and reads the set without a size check. Here: one fetch per set, a cooldown, a timeout, a size
// check, and redirects followed only within the JWKS URL's origin.
import { createPublicKey, type JsonWebKey as NodeJwk } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { ServiceUnavailable, Unauthorized, withDetails } from './errors.ts'

interface Jwk extends NodeJwk { kid?: string, alg?: string, use?: string }

/** Key type and curve each accepted algorithm needs: no HS/RS confusion, no curve mix-ups. */
const KEY_SHAPE: Record<string, { kty: string, crv?: string }> = {
  RS256: { kty: 'RSA' },
  RS384: { kty: 'RSA' },
  RS512: { kty: 'RSA' },
  PS256: { kty: 'RSA' },
  ES256: { kty: 'EC', crv: 'P-256' },
  ES384: { kty: 'EC', crv: 'P-384' },
  ES512: { kty: 'EC', crv: 'P-521' }
}

const MAX_JWKS_BYTES = 256 * 1024
const FETCH_TIMEOUT_MS = 5000
const MAX_REDIRECTS = 3

export interface JwksOptions {
  url: string
  algorithms: string[]
  ttlMs: number
  /** An unknown kid triggers at most one refetch per interval, so random kids cannot hammer the IdP. */
  minRefetchIntervalMs: number
  log: FastifyBaseLogger
  fetch?: typeof fetch
  now?: () => number
}

/**
 * The body as text, read as it arrives and abandoned past `max` bytes: whoever answers at the JWKS URL
 * must not be able to make the gateway hold an answer of any size (the timeout alone bounds time, not bytes).
 */
async function readBounded (res: Response, max: number): Promise<string> {
  const tooLarge = () => new Error(`JWKS document larger than ${max} bytes`)
  if (Number(res.headers.get('content-length') ?? 0) > max) {
    await res.body?.cancel()
    throw tooLarge()
  }
  const chunks: Uint8Array[] = []
  let size = 0
  // Leaving the loop early (the throw) cancels the stream and closes the connection.
  for await (const chunk of res.body ?? []) {
    size += chunk.byteLength
    if (size > max) throw tooLarge()
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * Fetches and caches an identity provider's signing keys. Keys are looked up by `kid`; an unknown kid
 * (key rotation) refetches the set, at most once per cooldown; concurrent lookups share one fetch.
 */
export function createJwksCache (options: JwksOptions) {
  const { url, algorithms, ttlMs, minRefetchIntervalMs, log } = options
  const doFetch = options.fetch ?? fetch
  const now = options.now ?? Date.now
  let keys = new Map<string, Jwk>()
  let pems = new Map<string, string>()
  let fetchedAt = -Infinity
  let inflight: Promise<void> | null = null

  /**
   * Redirects are followed only within the JWKS URL's origin: whoever can redirect that URL elsewhere (an
   * open redirect at the IdP, a plain-http hop) would otherwise choose the keys tokens are checked against.
   */
  async function fetchJwks (signal: AbortSignal): Promise<Response> {
    let target = new URL(url)
    for (let hops = 0; ; hops++) {
      const res = await doFetch(target, { signal, redirect: 'manual', headers: { accept: 'application/json' } })
      const location = res.status >= 300 && res.status < 400 ? res.headers.get('location') : null
      if (location === null) return res
      await res.body?.cancel()
      const next = new URL(location, target)
      if (next.origin !== target.origin) throw new Error(`JWKS endpoint redirected to another origin (${next.origin})`)
      if (hops === MAX_REDIRECTS) throw new Error('JWKS endpoint redirected too many times')
      target = next
    }
  }

  async function refresh (): Promise<void> {
    inflight ??= (async () => {
      try {
        const res = await fetchJwks(AbortSignal.timeout(FETCH_TIMEOUT_MS))
        if (!res.ok) throw new Error(`JWKS endpoint answered ${res.status}`)
        const text = await readBounded(res, MAX_JWKS_BYTES)
        const body = JSON.parse(text) as { keys?: Jwk[] }
        if (!Array.isArray(body.keys)) throw new Error('JWKS document has no keys array')
        const next = new Map<string, Jwk>()
        for (const jwk of body.keys) {
          if (typeof jwk.kid === 'string' && (jwk.use === undefined || jwk.use === 'sig')) next.set(jwk.kid, jwk)
        }
        keys = next
        pems = new Map()
        fetchedAt = now()
        log.info({ keys: next.size }, 'JWKS refreshed')
      } finally {
        inflight = null
      }
    })()
    return inflight
  }

  /** Returns the PEM public key for a token header, or throws 401 (unknown key) / 503 (IdP unreachable). */
  async function getKey (kid: unknown, alg: unknown): Promise<string> {
    if (typeof alg !== 'string' || !algorithms.includes(alg)) throw new Unauthorized('Token algorithm not allowed')
    if (typeof kid !== 'string' || kid.length === 0 || kid.length > 256) throw new Unauthorized('Token has no usable key id')
    const age = now() - fetchedAt
    if (age > ttlMs || (!keys.has(kid) && age >= minRefetchIntervalMs)) {
      try {
        await refresh()
      } catch (err) {
        log.warn({ err }, 'JWKS fetch failed')
        // Stale keys keep working while the IdP is briefly down; with none at all we cannot verify.
        if (keys.size === 0) throw withDetails(new ServiceUnavailable('Signing keys are unavailable'), { retryAfterSeconds: 5 })
      }
    }
    const jwk = keys.get(kid)
    if (!jwk) throw new Unauthorized('Token signed with an unknown key')
    const shape = KEY_SHAPE[alg]
    if (!shape || jwk.kty !== shape.kty || (shape.crv && jwk.crv !== shape.crv) || (jwk.alg && jwk.alg !== alg)) {
      throw new Unauthorized('Token algorithm does not match its key')
    }
    let pem = pems.get(kid)
    if (pem === undefined) {
      pem = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
      pems.set(kid, pem)
    }
    return pem
  }

  return { getKey }
}
export type JwksCache = ReturnType<typeof createJwksCache>
