import fp from 'fastify-plugin'
import type OpenAI from 'openai'
import type { FastifyInstance } from 'fastify'
import { createOpenAIClient } from '../../services/openai-client.ts'

declare module 'fastify' {
  interface FastifyInstance { openai: OpenAI }
}

async function openaiClient (fastify: FastifyInstance) {
  const { upstreamCalls, upstreamDuration } = fastify.metrics
  fastify.decorate('openai', createOpenAIClient(fastify.config, (operation, outcome, seconds) => {
    upstreamCalls.inc({ operation, outcome })
    upstreamDuration.observe({ operation }, seconds)
  }))
}

export default fp(openaiClient, { name: 'openai', dependencies: ['metrics'] })
