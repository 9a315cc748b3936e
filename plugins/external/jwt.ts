import jwt, { type FastifyJWTOptions } from '@fastify/jwt'
import type { FastifyInstance } from 'fastify'
import { createJwksCache } from '../../services/jwks.ts'

/**
 * Bearer JWT verification: HS256 with JWT_SECRET, or RS/ES keys from JWT_JWKS_URL. Only the
 * configured algorithms are accepted (never `none`, never HS with a public key); `exp` and `sub` are
 * required, `nbf` honoured, `iss`/`aud` required and checked when configured.
 * @see https://github.com/fastify/fastify-jwt
 */
export const autoConfig = (fastify: FastifyInstance): FastifyJWTOptions => {
  const config = fastify.config
  const verify = {
    clockTolerance: config.JWT_CLOCK_TOLERANCE_SECONDS * 1000,
    // fast-jwt checks iss/aud only when the token has them: a configured one is also required.
    requiredClaims: ['sub', 'exp', ...(config.JWT_ISSUER ? ['iss'] : []), ...(config.JWT_AUDIENCE ? ['aud'] : [])],
    ...(config.JWT_ISSUER ? { allowedIss: config.JWT_ISSUER } : {}),
    ...(config.JWT_AUDIENCE ? { allowedAud: config.JWT_AUDIENCE } : {})
    // No fast-jwt cache: plugins/app/auth.ts remembers verified tokens for a minute (services/verified-tokens.ts).
  }
  const messages = { authorizationTokenInvalid: (err: Error) => `Authorization token is invalid: ${err.message}` }
  if (config.JWT_SECRET) {
    return {
      secret: config.JWT_SECRET,
      sign: { algorithm: 'HS256' },
      verify: { ...verify, algorithms: ['HS256'] },
      messages
    }
  }
  const algorithms = config.JWT_ALGORITHMS.split(',')
  const jwks = createJwksCache({
    url: config.JWT_JWKS_URL!,
    algorithms,
    ttlMs: config.JWKS_CACHE_TTL_SECONDS * 1000,
    minRefetchIntervalMs: config.JWKS_MIN_REFETCH_INTERVAL_MS,
    log: fastify.log
  })
  return {
    decode: { complete: true },
    secret: (_request: unknown, token: unknown) => {
      const header = (token as { header?: { kid?: unknown, alg?: unknown } }).header ?? {}
      return jwks.getKey(header.kid, header.alg)
    },
    verify: { ...verify, algorithms: algorithms as NonNullable<FastifyJWTOptions['verify']>['algorithms'] },
    messages
  }
}

export default jwt
