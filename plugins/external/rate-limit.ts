import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'

/**
 * The rate-limit engine. It is not applied globally: plugins/app/rate-limits.ts builds the limiters
 * (per user across /api, stricter buckets for runs and uploads, per IP for unknown URLs) on top of it,
 * so one store serves them all — in memory, or Redis when STORE=redis so limits hold across instances.
 * @see https://github.com/fastify/fastify-rate-limit
 */
export const autoConfig = (_fastify: FastifyInstance) => ({
  global: false,
  cache: 10_000,
  skipOnError: false
})

export default rateLimit
