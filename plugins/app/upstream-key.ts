import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createUpstreamKeyCheck, type UpstreamKeyCheck } from '../../services/upstream-key.ts'

declare module 'fastify' {
  interface FastifyInstance { upstreamKey: UpstreamKeyCheck }
}

/**
 * Whether the upstream accepts OPENAI_API_KEY, for readiness. server.ts asks once at start-up; an app
 * built without it (the tests) reports `unchecked` and never calls the upstream on its own.
 */
async function upstreamKey (fastify: FastifyInstance) {
  const { openai, log, config, clock } = fastify
  fastify.decorate('upstreamKey', createUpstreamKeyCheck({ openai, log, baseUrl: config.OPENAI_BASE_URL, timeoutMs: config.OPENAI_TIMEOUT_MS, clock }))
}

export default fp(upstreamKey, { name: 'upstream-key', dependencies: ['openai'] })
