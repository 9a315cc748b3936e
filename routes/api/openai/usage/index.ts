import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { API_ERRORS, errorResponses } from '../../../../schemas/common.ts'
import { UsageSchema } from '../../../../schemas/usage.ts'

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/', {
    schema: {
      tags: ['Usage'],
      operationId: 'getUsage',
      summary: 'The caller\'s usage today: tokens, audio seconds, runs, limits, remaining, resets_at',
      response: { 200: UsageSchema, ...errorResponses(...API_ERRORS) }
    }
  }, async function (request) {
    return fastify.budgets.usageFor(request.caller.id)
  })
}

export default plugin
