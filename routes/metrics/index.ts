import { timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, errorResponses } from '../../schemas/common.ts'
import { Unauthorized } from '../../services/errors.ts'

function sameSecret (given: string, expected: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { registry } = fastify.metrics
  const token = fastify.config.METRICS_TOKEN

  fastify.get('/', {
    schema: {
      tags: ['Operations'],
      operationId: 'metrics',
      summary: 'Prometheus metrics (bearer METRICS_TOKEN when configured)',
      security: token ? [{ bearerAuth: [] }] : [],
      produces: ['text/plain'],
      response: { 200: Type.String({ description: 'Prometheus text exposition format' }), ...errorResponses(401) }
    }
  }, async function (request, reply) {
    if (token && !sameSecret(request.headers.authorization ?? '', `Bearer ${token}`)) {
      throw new Unauthorized('Metrics need the metrics bearer token')
    }
    return reply.type(registry.contentType).send(await registry.metrics())
  })
}

export default plugin
