import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { loadAgentsFile } from '../../services/assistants/agents-file.ts'
import { builtinTools } from '../../services/tools/builtins.ts'
import { createToolRegistry, type ToolRegistry } from '../../services/tools/registry.ts'

declare module 'fastify' {
  interface FastifyInstance { tools: ToolRegistry }
}

/** Every tool an assistant may use: the built-in ones and the agents file's webhook tools. */
async function tools (fastify: FastifyInstance) {
  const { config, clock, log, metrics } = fastify
  fastify.decorate('tools', createToolRegistry({
    builtins: builtinTools(clock),
    webhooks: loadAgentsFile(config.AGENTS_FILE).tools,
    webhookSecret: config.TOOL_WEBHOOK_SECRET,
    defaultTimeoutMs: config.TOOL_TIMEOUT_MS,
    log,
    metrics
  }))
}

export default fp(tools, { name: 'tools', dependencies: ['metrics'] })
