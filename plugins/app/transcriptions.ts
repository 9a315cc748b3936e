import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createTranscriptionService, type TranscriptionService } from '../../services/transcription-service.ts'

declare module 'fastify' {
  interface FastifyInstance { transcriptions: TranscriptionService }
}

async function transcriptions (fastify: FastifyInstance) {
  const { openai, budgets, config, log, clock, metrics, tracing } = fastify
  fastify.decorate('transcriptions', createTranscriptionService({ openai, budgets, config, log, clock, metrics, tracing }))
}

export default fp(transcriptions, { name: 'transcriptions', dependencies: ['openai', 'budgets', 'metrics', 'tracing'] })
