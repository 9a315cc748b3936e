import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { RateLimited, ServiceUnavailable, withDetails } from '../../services/errors.ts'

export type RateBucket = 'runs' | 'uploads'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A stricter per-user bucket applied on top of the /api limit. */
    rateBucket?: RateBucket
  }
  interface FastifyInstance {
    rateLimits: {
      /** onRequest hook for the /api tree: per-user limit plus the route's bucket, contract headers. */
      api: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
      /** preHandler for the not-found handler: per-IP, so unknown URLs cannot be enumerated freely. */
      notFound: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    }
  }
}

interface LimitResult { isAllowed: boolean, max?: number, remaining?: number, ttlInSeconds?: number, isExceeded?: boolean }
type Limiter = (request: FastifyRequest) => Promise<LimitResult>

function callerKey (request: FastifyRequest): string {
  // Verified subject when the token was good; the client IP otherwise (bad tokens are limited too).
  return request.identity ? `u:${request.identity.id}` : `ip:${request.ip}`
}

async function rateLimits (fastify: FastifyInstance) {
  const { config } = fastify
  const make = (name: string, max: number, key: (r: FastifyRequest) => string): Limiter =>
    fastify.createRateLimit({ max, timeWindow: config.RATE_LIMIT_WINDOW_MS, keyGenerator: (r: FastifyRequest) => `${name}:${key(r)}` }) as unknown as Limiter

  const api = make('api', config.RATE_LIMIT_MAX, callerKey)
  const buckets: Record<RateBucket, Limiter> = {
    runs: make('runs', config.RATE_LIMIT_RUNS_MAX, callerKey),
    uploads: make('uploads', config.RATE_LIMIT_UPLOADS_MAX, callerKey)
  }
  const notFound = make('notfound', config.RATE_LIMIT_MAX, r => r.ip)

  async function check (limiter: Limiter, request: FastifyRequest, reply: FastifyReply) {
    let result: LimitResult
    try {
      result = await limiter(request)
    } catch (err) {
      request.log.error({ err }, 'rate-limit store failed')
      throw withDetails(new ServiceUnavailable('Rate limiting is unavailable, retry shortly'), { retryAfterSeconds: 2 })
    }
    if (result.isAllowed) return
    reply.header('x-ratelimit-limit', result.max)
    reply.header('x-ratelimit-remaining', result.remaining)
    reply.header('x-ratelimit-reset', result.ttlInSeconds)
    if (result.isExceeded) {
      throw withDetails(new RateLimited(`Rate limit exceeded: at most ${result.max} requests per ${Math.round(config.RATE_LIMIT_WINDOW_MS / 1000)} s`),
        { retryAfterSeconds: Math.max(1, result.ttlInSeconds ?? 1) })
    }
  }

  fastify.decorate('rateLimits', {
    async api (request: FastifyRequest, reply: FastifyReply) {
      await check(api, request, reply)
      const bucket = request.routeOptions.config.rateBucket
      if (bucket) await check(buckets[bucket], request, reply)
    },
    async notFound (request: FastifyRequest, reply: FastifyReply) {
      await check(notFound, request, reply)
    }
  })
}

export default fp(rateLimits, { name: 'rate-limits', dependencies: ['@fastify/rate-limit', 'auth'] })
