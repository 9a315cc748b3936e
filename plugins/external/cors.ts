import cors from '@fastify/cors'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { corsOrigins } from '../../services/config.ts'

/**
 * What the official `openai` SDK sends on its own from a browser (named one by one: an allow-list, not
 * a wildcard), so that an SPA written against the Assistants API works by changing its base URL.
 */
export const SDK_REQUEST_HEADERS = [
  'openai-beta', 'openai-organization', 'openai-project',
  'x-stainless-arch', 'x-stainless-lang', 'x-stainless-os', 'x-stainless-package-version', 'x-stainless-runtime',
  'x-stainless-runtime-version', 'x-stainless-retry-count', 'x-stainless-timeout', 'x-stainless-poll-helper',
  'x-stainless-custom-poll-interval', 'x-stainless-helper-method'
]

/** Distinct refused origins remembered for the warn-once log. */
export const MAX_WARNED_ORIGINS = 1000

/**
 * Browsers on the listed origins may call the API; every other origin gets no CORS headers, so the
 * browser refuses the response. The SPA authenticates with a bearer header, never cookies, so
 * credentials stay off.
 * @see https://github.com/fastify/fastify-cors
 */
export const autoConfig = (fastify: FastifyInstance) => {
  const allowed = new Set(corsOrigins(fastify.config))
  const options = {
    origin: allowed.size === 0 ? false : [...allowed],
    methods: ['GET', 'POST', 'PUT', 'DELETE'],
    allowedHeaders: ['authorization', 'content-type', 'accept', 'idempotency-key', 'x-request-id', ...SDK_REQUEST_HEADERS],
    exposedHeaders: [
      'x-request-id', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'retry-after', 'location', 'idempotent-replayed',
      'openai-poll-after-ms', 'x-should-retry'
    ],
    credentials: false,
    maxAge: 600
  }
  // A refused origin is the first thing to check when a browser says "CORS error", and the gateway is
  // the only side that knows it refused: warn once per origin. Same-origin requests (Swagger UI at /docs)
  // carry an Origin too and need no CORS. The set is emptied when full, so memory stays bounded however
  // many origins are made up, and an origin is warned about at most once per MAX_WARNED_ORIGINS new ones.
  const warned = new Set<string>()
  return {
    delegator: (request: FastifyRequest, callback: (error: Error | null, resolved: typeof options) => void) => {
      const given = request.headers.origin
      // Remembered and logged at most this long: the header is the caller's to make up.
      const origin = given?.slice(0, 256)
      if (origin && given && !allowed.has(given) && !warned.has(origin) && given !== `${request.protocol}://${request.host}`) {
        if (warned.size >= MAX_WARNED_ORIGINS) warned.clear()
        warned.add(origin)
        request.log.warn({ origin }, `CORS: origin ${origin} is not in CORS_ORIGINS; browsers on it cannot read the answers (logged once per origin)`)
      }
      callback(null, options)
    }
  }
}

export default cors
