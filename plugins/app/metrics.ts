import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createMetrics, type Metrics } from '../../services/metrics.ts'

declare module 'fastify' {
  interface FastifyInstance { metrics: Metrics }
}

/** Request duration by route template and status for every request, including rejected ones. */
async function metrics (fastify: FastifyInstance) {
  const m = createMetrics()
  fastify.decorate('metrics', m)
  fastify.addHook('onResponse', async (request, reply) => {
    m.httpDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: reply.statusCode },
      reply.elapsedTime / 1000
    )
  })
}

export default fp(metrics, { name: 'metrics' })
