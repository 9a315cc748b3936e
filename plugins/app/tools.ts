import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { loadAgentsFile } from '../../services/assistants/agents-file.ts'
import { builtinTools } from '../../services/tools/builtins.ts'
import { createToolRegistry, type ToolRegistry } from '../../services/tools/registry.ts'
import { createWebhookClient } from '../../services/tools/webhook.ts'

declare module 'fastify' {
  interface FastifyInstance { tools: ToolRegistry }
}

/** Every tool an assistant may use: the built-in ones and the agents file's webhook tools. */
async function tools (fastify: FastifyInstance) {
  const { config, clock, log, metrics, tracing } = fastify
  const webhookClient = createWebhookClient({
    allowedNetworks: config.TOOL_WEBHOOK_ALLOWED_NETWORKS,
    maxResponseBytes: config.TOOL_WEBHOOK_MAX_RESPONSE_BYTES,
    log
  })
  fastify.addHook('onClose', async () => webhookClient.close())
  fastify.decorate('tools', createToolRegistry({
    builtins: builtinTools(clock),
    webhooks: loadAgentsFile(config.AGENTS_FILE).tools,
    webhookSecret: config.TOOL_WEBHOOK_SECRET,
    defaultTimeoutMs: config.TOOL_TIMEOUT_MS,
    log,
    metrics,
    webhookClient,
    tracing
  }))
}

export default fp(tools, { name: 'tools', dependencies: ['metrics', 'tracing'] })
