import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createTracing, type Tracing } from '../../services/telemetry/tracing.ts'

declare module 'fastify' {
  interface FastifyInstance { tracing: Tracing }
}

/**
 * The spans the services make (runs, upstream responses, tools, transcriptions, files): a no-op unless
 * an OTLP endpoint is configured. The request spans come from @fastify/otel (plugins/external/otel.ts).
 */
async function tracing (fastify: FastifyInstance) {
  fastify.decorate('tracing', createTracing(fastify.config))
}

export default fp(tracing, { name: 'tracing' })
