import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { loadAgentsFile } from '../../services/assistants/agents-file.ts'
import { createAssistantService, type AssistantService } from '../../services/assistants/service.ts'

declare module 'fastify' {
  interface FastifyInstance { assistants: AssistantService }
}

/** Agent profiles: the agents file, overridden by admins; validated at boot so a bad AGENTS_FILE stops start-up. */
async function assistants (fastify: FastifyInstance) {
  const { config, store, tools, clock } = fastify
  fastify.decorate('assistants', createAssistantService({ file: loadAgentsFile(config.AGENTS_FILE), store, tools, clock }))
}

export default fp(assistants, { name: 'assistants', dependencies: ['store', 'tools'] })
