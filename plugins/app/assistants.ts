import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createAssistantService, loadAgentsFile, type AssistantService } from '../../services/assistant-service.ts'
import { createToolRegistry, type ToolRegistry } from '../../services/tools/registry.ts'
import { createGetCurrentTime } from '../../services/tools/get-current-time.ts'
import type { BuiltinTool } from '../../services/tools/types.ts'

declare module 'fastify' {
  interface FastifyInstance {
    tools: ToolRegistry
    assistants: AssistantService
  }
}

/** The built-in tools of the gateway. Add yours here (see services/tools/README.md). */
export function builtinTools (clock: () => number): BuiltinTool[] {
  return [createGetCurrentTime(clock)]
}

/** Agent profiles and their tools, validated at boot so a bad AGENTS_FILE stops start-up. */
async function assistants (fastify: FastifyInstance) {
  const { config, store, clock, log, metrics } = fastify
  const file = loadAgentsFile(config.AGENTS_FILE)
  const tools = createToolRegistry({
    builtins: builtinTools(clock),
    webhooks: file.tools,
    webhookSecret: config.TOOL_WEBHOOK_SECRET,
    defaultTimeoutMs: config.TOOL_TIMEOUT_MS,
    log,
    metrics
  })
  fastify.decorate('tools', tools)
  fastify.decorate('assistants', createAssistantService({ file, store, tools, clock }))
}

export default fp(assistants, { name: 'assistants', dependencies: ['store', 'metrics'] })
