import fp from 'fastify-plugin'
import type OpenAI from 'openai'
import type { FastifyInstance } from 'fastify'
import { createOpenAIClient } from '../../services/openai-client.ts'
import { upstreamCallSpans } from '../../services/telemetry/upstream-spans.ts'
import { createUpstreamTransport } from '../../services/upstream-fetch.ts'

declare module 'fastify' {
  interface FastifyInstance { openai: OpenAI }
}

async function openaiClient (fastify: FastifyInstance) {
  const { upstreamCalls, upstreamDuration } = fastify.metrics
  const span = upstreamCallSpans(fastify.tracing, fastify.config.OPENAI_BASE_URL)
  const transport = createUpstreamTransport(fastify.config.OPENAI_BASE_URL)
  fastify.decorate('openai', createOpenAIClient(fastify.config, (operation, outcome, seconds) => {
    upstreamCalls.inc({ operation, outcome })
    upstreamDuration.observe({ operation }, seconds)
    span?.(operation, outcome, seconds)
  }, transport))
  // After everything that calls upstream has stopped (onClose hooks run in reverse registration order).
  fastify.addHook('onClose', () => transport.close())
}

export default fp(openaiClient, { name: 'openai', dependencies: ['metrics', 'tracing'] })
