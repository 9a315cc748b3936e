import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createThreadAccess } from '../../services/threads/access.ts'
import { createThreadService, type ThreadService } from '../../services/threads/threads.ts'

declare module 'fastify' {
  interface FastifyInstance { threads: ThreadService }
}

async function threads (fastify: FastifyInstance) {
  const { openai, store, config, log, clock, runs } = fastify
  // The runs service ends a run paused for its tool outputs when its thread is deleted.
  fastify.decorate('threads', createThreadService({ openai, store, access: createThreadAccess({ store }), config, log, clock, runs }))
}

export default fp(threads, { name: 'threads', dependencies: ['openai', 'store', 'runs'] })
