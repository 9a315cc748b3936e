import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createThreadService, type ThreadService } from '../../services/thread-service.ts'

declare module 'fastify' {
  interface FastifyInstance { threads: ThreadService }
}

async function threads (fastify: FastifyInstance) {
  fastify.decorate('threads', createThreadService({
    openai: fastify.openai, store: fastify.store, config: fastify.config, log: fastify.log, clock: fastify.clock
  }))
}

export default fp(threads, { name: 'threads', dependencies: ['openai', 'store'] })
