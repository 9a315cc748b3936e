import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, errorResponses } from '../../schemas/common.ts'
import { ServiceUnavailable, withDetails } from '../../services/errors.ts'
import { RECHECK_MS } from '../../services/upstream-key.ts'

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
      summary: 'Readiness: 200 when the store answers, the upstream has not refused OPENAI_API_KEY and the gateway is not shutting down',
      security: [],
      response: {
        200: Type.Object({
          status: Type.Literal('ready'),
          store: Type.String(),
          upstream: Type.Union([Type.Literal('ok'), Type.Literal('unverified'), Type.Literal('unchecked')], {
            description: 'what the start-up check of OPENAI_API_KEY learnt: accepted, could not tell (network, 403, 404, 5xx), or not asked'
          })
        }),
        ...errorResponses(503)
      }
    }
  }, async function () {
    if (fastify.lifecycle.draining) throw withDetails(new ServiceUnavailable('The gateway is shutting down'), { retryAfterSeconds: 1 })
    // A refused key fails every run: not ready. An unverified one (the upstream could not be asked) is
    // not held against the gateway, or an upstream outage would take every instance out of rotation.
    const upstream = fastify.upstreamKey.current()
    if (upstream === 'refused') {
      throw withDetails(new ServiceUnavailable(`The upstream refuses OPENAI_API_KEY (${fastify.upstreamKey.detail ?? '401'})`), { retryAfterSeconds: RECHECK_MS / 1000 })
    }
    try {
      await Promise.race([
        fastify.store.ping(),
        new Promise((_resolve, reject) => setTimeout(() => reject(new Error('store check timed out')), STORE_CHECK_TIMEOUT_MS).unref())
      ])
    } catch (err) {
      fastify.log.warn({ err }, 'readiness: store check failed')
      throw withDetails(new ServiceUnavailable('The store is not answering'), { retryAfterSeconds: 2 })
    }
    return { status: 'ready' as const, store: fastify.store.kind, upstream }
  })
}

export default plugin
