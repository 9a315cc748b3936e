import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, errorResponses } from '../../schemas/common.ts'
import { ServiceUnavailable, withDetails } from '../../services/errors.ts'

const tags = ['Operations']
const STORE_CHECK_TIMEOUT_MS = 2000

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/live', {
    schema: {
      tags,
      operationId: 'healthLive',
      summary: 'Liveness: 200 while the process runs',
      security: [],
      response: { 200: Type.Object({ status: Type.Literal('ok') }) }
    }
  }, async function () {
    return { status: 'ok' as const }
  })

  fastify.get('/ready', {
    schema: {
      tags,
      operationId: 'healthReady',
      summary: 'Readiness: 200 when the store answers and the gateway is not shutting down',
      security: [],
      response: { 200: Type.Object({ status: Type.Literal('ready'), store: Type.String() }), ...errorResponses(503) }
    }
  }, async function () {
    if (fastify.lifecycle.draining) throw withDetails(new ServiceUnavailable('The gateway is shutting down'), { retryAfterSeconds: 1 })
    try {
      await Promise.race([
        fastify.store.ping(),
        new Promise((_resolve, reject) => setTimeout(() => reject(new Error('store check timed out')), STORE_CHECK_TIMEOUT_MS).unref())
      ])
    } catch (err) {
      fastify.log.warn({ err }, 'readiness: store check failed')
      throw withDetails(new ServiceUnavailable('The store is not answering'), { retryAfterSeconds: 2 })
    }
    return { status: 'ready' as const, store: fastify.store.kind }
  })
}

export default plugin
