import fp from 'fastify-plugin'
import { metrics as otelMetrics } from '@opentelemetry/api'
import type { FastifyInstance } from 'fastify'
import { createMetrics, type Metrics } from '../../services/metrics.ts'
import { telemetrySettings } from '../../services/telemetry/settings.ts'

declare module 'fastify' {
  interface FastifyInstance { metrics: Metrics }
}

/**
 * Request duration by route template and status for every request, including rejected ones. The GenAI
 * metrics also go over OTLP when configured (the meter provider server.ts registered before the app).
 */
async function metrics (fastify: FastifyInstance) {
  const meter = telemetrySettings(fastify.config).metricsUrl ? otelMetrics.getMeter('assistant-gateway') : undefined
  const m = createMetrics({ meter })
  fastify.decorate('metrics', m)
  fastify.addHook('onResponse', async (request, reply) => {
    m.httpDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: reply.statusCode },
      reply.elapsedTime / 1000
    )
  })
}

export default fp(metrics, { name: 'metrics' })
