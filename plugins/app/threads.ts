import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { addMessageCacheGauges } from '../../services/metrics.ts'
import { createThreadService, type ThreadService } from '../../services/thread-service.ts'

declare module 'fastify' {
  interface FastifyInstance { threads: ThreadService }
}

async function threads (fastify: FastifyInstance) {
  const { openai, store, config, log, clock, metrics } = fastify
  const service = createThreadService({ openai, store, config, log, clock })
  addMessageCacheGauges(metrics.registry, service.messageCache)
  fastify.decorate('threads', service)
}

export default fp(threads, { name: 'threads', dependencies: ['openai', 'store', 'metrics'] })
