import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, errorResponses } from '../../schemas/common.ts'

/**
 * POST /webhooks/openai: OpenAI's webhook deliveries (contract v2), outside /api and without a JWT — the
 * Standard Webhooks signature is the authentication. Not registered without OPENAI_WEBHOOK_SECRET, so it
 * answers 404 like any unknown route.
 */
const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  if (!fastify.config.OPENAI_WEBHOOK_SECRET) return

  // The signature is over the exact bytes: this route reads its JSON body as text and parses it after checking.
  fastify.removeContentTypeParser('application/json')
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => { done(null, body) })

  fastify.post('/openai', {
    schema: {
      tags: ['Operations'],
      operationId: 'openaiWebhook',
      summary: 'OpenAI webhooks (Standard Webhooks signature): safety notices, response events; a replayed webhook-id has no effect',
      security: [],
      response: {
        200: Type.Object({ received: Type.Literal(true), outcome: Type.Union([Type.Literal('handled'), Type.Literal('duplicate'), Type.Literal('ignored')]) }),
        ...errorResponses(400, 415, 500, 503)
      }
    }
  }, async function (request) {
    const outcome = await fastify.webhooks.receive(typeof request.body === 'string' ? request.body : '', request.headers, request.id)
    return { received: true as const, outcome }
  })
}

export default plugin
