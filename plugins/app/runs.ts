import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { addRunGauges } from '../../services/metrics.ts'
import { createRuns } from '../../services/runs/index.ts'
import { createThreadAccess } from '../../services/threads/access.ts'
import type { RunService } from '../../services/runs/service.ts'

declare module 'fastify' {
  interface FastifyInstance { runs: RunService }
}

/** The run pipeline (services/runs/): runs left behind by a previous process are resumed once we serve. */
async function runs (fastify: FastifyInstance) {
  const { openai, store, messages, assistants, budgets, tools, config, log, clock, metrics, identities, suspensions, tracing } = fastify
  const pipeline = createRuns({ openai, store, access: createThreadAccess({ store }), messages, assistants, budgets, tools, config, log, clock, metrics, identities, suspensions, tracing })
  fastify.decorate('runs', pipeline.service)
  addRunGauges(metrics.registry, pipeline)
  fastify.addHook('onReady', async () => { pipeline.start() })
  fastify.addHook('preClose', async () => { await pipeline.close() })
}

export default fp(runs, { name: 'runs', dependencies: ['openai', 'store', 'messages', 'assistants', 'budgets', 'tools', 'metrics', 'identities', 'suspensions', 'tracing'] })
