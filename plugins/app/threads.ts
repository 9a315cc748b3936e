import fp from 'fastify-plugin'
import { Gauge } from 'prom-client'
import type { FastifyInstance } from 'fastify'
import { createThreadService, type ThreadService } from '../../services/thread-service.ts'

declare module 'fastify' {
  interface FastifyInstance { threads: ThreadService }
}

async function threads (fastify: FastifyInstance) {
  const service = createThreadService({
    openai: fastify.openai, store: fastify.store, config: fastify.config, log: fastify.log, clock: fastify.clock
  })
  fastify.decorate('threads', service)
  const { messageCache } = service
  // Registered with the registry, read when /metrics is scraped (collect).
  const registers = [fastify.metrics.registry]
  new Gauge({ name: 'message_cache_bytes', help: 'Approximate memory held by cached message pages (bounded by MESSAGE_CACHE_MB)', registers, collect () { this.set(messageCache.bytes) } }) // eslint-disable-line no-new
  new Gauge({ name: 'message_cache_entries', help: 'Message pages cached', registers, collect () { this.set(messageCache.entries) } }) // eslint-disable-line no-new
}

export default fp(threads, { name: 'threads', dependencies: ['openai', 'store', 'metrics'] })
