import cors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'
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
    allowedHeaders: ['authorization', 'content-type', 'accept', 'idempotency-key', 'x-request-id', ...SDK_REQUEST_HEADERS],
    exposedHeaders: [
      'x-request-id', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'retry-after', 'location', 'idempotent-replayed',
      'openai-poll-after-ms', 'x-should-retry'
    ],
    credentials: false,
    maxAge: 600
  }
}

export default cors
