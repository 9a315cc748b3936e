import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Forbidden, Unauthorized, isGatewayError, type GatewayError } from '../../services/errors.ts'
import { createVerifiedTokens } from '../../services/verified-tokens.ts'

export interface Caller {
  /** The token's `sub`: the user id every thread, run and file is owned by. */
  id: string
  isAdmin: boolean
}

interface TokenClaims { sub?: unknown, role?: unknown, roles?: unknown, [claim: string]: unknown }

declare module '@fastify/jwt' {
  interface FastifyJWT { payload: TokenClaims, user: TokenClaims }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified caller, or null when the token is missing or bad (decided by auth.requireUser). */
    identity: Readonly<Caller> | null
    /** The caller of a route in the protected tree (autohooks guarantee one); throws 401 elsewhere. */
    readonly caller: Readonly<Caller>
  }
  interface FastifyInstance {
    auth: {
      /** onRequest: verifies the bearer token and sets request.identity, or records why it failed (decided later). */
      identify: (request: FastifyRequest) => Promise<void>
      /** onRequest: answers 401 for a request without a valid token. */
      requireUser: (request: FastifyRequest) => Promise<void>
      /** onRequest/preHandler: answers 403 unless the caller has the admin role. */
      requireAdmin: (request: FastifyRequest) => Promise<void>
    }
  }
}

const MAX_SUBJECT_LENGTH = 256
/**
 * The subject keys every record, rate-limit bucket and log line of the user: control characters (line
 * breaks, escapes, NUL) and line/paragraph separators would forge log lines or split keys, and a blank
 * one is nobody's name.
 */
const UNSAFE_SUBJECT = /[\p{Cc}\u2028\u2029]/u

function acceptableSubject (sub: unknown): sub is string {
  return typeof sub === 'string' && sub.length <= MAX_SUBJECT_LENGTH && sub.trim().length > 0 && sub.isWellFormed() && !UNSAFE_SUBJECT.test(sub)
}

/** Safe, specific reasons for a 401: they tell a developer what to fix without echoing the token. */
function reasonFor (err: unknown, hasAuthorizationHeader: boolean): string {
  const code = (err as { code?: string }).code ?? ''
  switch (code) {
    case 'FST_JWT_NO_AUTHORIZATION_IN_HEADER':
      return hasAuthorizationHeader ? 'Authorization header must be "Bearer <token>"' : 'Missing bearer token'
    case 'FST_JWT_BAD_REQUEST': return 'Authorization header must be "Bearer <token>"'
    case 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED': return 'Token expired'
    case 'FAST_JWT_INACTIVE': return 'Token not yet valid'
    case 'FAST_JWT_MALFORMED':
    case 'FAST_JWT_INVALID_TYPE':
    case 'FST_JWT_AUTHORIZATION_TOKEN_UNSIGNED':
    case 'FAST_JWT_MISSING_SIGNATURE': return 'Malformed or unsigned token'
    case 'FAST_JWT_INVALID_ALGORITHM': return 'Token algorithm not allowed'
    case 'FST_JWT_AUTHORIZATION_TOKEN_INVALID': {
      const message = (err as Error).message
      const missing = /The (\w+) claim is required/.exec(message)
      if (missing) return `Token lacks the required ${missing[1]} claim`
      if (/iss claim/.test(message)) return 'Token issuer not accepted'
      if (/aud claim/.test(message)) return 'Token audience not accepted'
      return 'Token signature is invalid'
    }
    default: return 'Token is invalid'
  }
}

function hasRole (claims: TokenClaims, role: string): boolean {
  if (claims.role === role) return true
  return Array.isArray(claims.roles) && claims.roles.includes(role)
}

async function auth (fastify: FastifyInstance) {
  const adminRole = fastify.config.JWT_ADMIN_ROLE
  /** Why a request's token was refused, kept until the route decides whether it needs one. */
  const refusals = new WeakMap<FastifyRequest, GatewayError>()
  const refusal = (request: FastifyRequest) => refusals.get(request) ?? new Unauthorized('Missing bearer token')
  const verified = createVerifiedTokens<Caller>({ clockToleranceMs: fastify.config.JWT_CLOCK_TOLERANCE_SECONDS * 1000 })

  fastify.decorateRequest('identity', null)
  fastify.decorateRequest('caller', {
    getter (this: FastifyRequest) {
      if (!this.identity) throw refusal(this)
      return this.identity
    }
  })

  async function identify (request: FastifyRequest) {
    // Sound only because jwtVerify runs with the global options alone: per-call options (maxAge, a
    // trusted callback) would be skipped on a remembered token.
    const authorization = request.headers.authorization
    const known = authorization === undefined ? undefined : verified.get(authorization)
    if (known) {
      request.identity = known
      return
    }
    let claims: TokenClaims
    try {
      claims = await request.jwtVerify<TokenClaims>()
    } catch (err) {
      refusals.set(request, isGatewayError(err) ? err : new Unauthorized(reasonFor(err, authorization !== undefined)))
      return
    }
    const sub = claims.sub
    if (!acceptableSubject(sub)) {
      refusals.set(request, new Unauthorized(`Token subject (sub) must be a non-blank string of at most ${MAX_SUBJECT_LENGTH} characters without control characters`))
      return
    }
    // Frozen: the same object serves every later request with this token.
    request.identity = Object.freeze({ id: sub, isAdmin: hasRole(claims, adminRole) })
    if (authorization !== undefined) verified.set(authorization, claims.exp, request.identity)
  }

  fastify.decorate('auth', {
    identify,
    async requireUser (request: FastifyRequest) {
      if (!request.identity) throw refusal(request)
    },
    async requireAdmin (request: FastifyRequest) {
      if (!request.identity) throw refusal(request)
      if (!request.identity.isAdmin) throw new Forbidden('This route needs the admin role')
    }
  })
}

export default fp(auth, { name: 'auth', dependencies: ['@fastify/jwt'] })
