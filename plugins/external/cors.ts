import cors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'
import { corsOrigins } from '../../services/config.ts'

/**
 * Browsers on the listed origins may call the API; every other origin gets no CORS headers, so the
 * browser refuses the response. The SPA authenticates with a bearer header, never cookies, so
 * credentials stay off.
 * @see https://github.com/fastify/fastify-cors
 */
export const autoConfig = (fastify: FastifyInstance) => {
  const allowed = new Set(corsOrigins(fastify.config))
  return {
    origin: allowed.size === 0 ? false : [...allowed],
    methods: ['GET', 'POST', 'PUT', 'DELETE'],
    allowedHeaders: ['authorization', 'content-type', 'accept', 'idempotency-key', 'x-request-id'],
    exposedHeaders: ['x-request-id', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'retry-after', 'location', 'idempotent-replayed'],
    credentials: false,
    maxAge: 600
  }
}

export default cors
