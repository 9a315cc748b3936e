import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { addMessageCacheGauges } from '../../services/metrics.ts'
import { createThreadAccess } from '../../services/threads/access.ts'
import { createMessageService, type MessageService } from '../../services/threads/messages.ts'

declare module 'fastify' {
  interface FastifyInstance { messages: MessageService }
}

async function messages (fastify: FastifyInstance) {
  const { openai, store, config, clock, metrics } = fastify
  const service = createMessageService({ openai, store, access: createThreadAccess({ store }), config, clock })
  addMessageCacheGauges(metrics.registry, service.cache)
  fastify.decorate('messages', service)
}

export default fp(messages, { name: 'messages', dependencies: ['openai', 'store', 'metrics'] })
