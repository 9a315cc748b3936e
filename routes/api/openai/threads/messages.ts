import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { API_ERRORS, IdempotencyHeadersSchema, ListOf, ListQuerySchema, errorResponses } from '../../../../schemas/common.ts'
import { CreateMessageBodySchema, MessageSchema, ThreadParamsSchema } from '../../../../schemas/threads.ts'

const tags = ['Messages']

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { threads } = fastify

  fastify.post('/:threadId/messages', {
    config: { idempotent: true },
    schema: {
      tags,
      operationId: 'createMessage',
      summary: 'Add a user message (with optional file attachments) to a thread',
      headers: IdempotencyHeadersSchema,
      params: ThreadParamsSchema,
      body: CreateMessageBodySchema,
      response: { 201: MessageSchema, ...errorResponses(...API_ERRORS, 404, 409, 413, 422, 502, 504) }
    }
  }, async function (request, reply) {
    const message = await threads.addMessage(request.caller.id, request.params.threadId, request.body, request.id)
    return reply.code(201).send(message)
  })

  fastify.get('/:threadId/messages', {
    schema: {
      tags,
      operationId: 'listMessages',
      summary: 'List the user and assistant messages of a thread',
      params: ThreadParamsSchema,
      querystring: ListQuerySchema,
      response: { 200: ListOf(MessageSchema), ...errorResponses(...API_ERRORS, 404, 502, 504) }
    }
  }, async function (request) {
    return threads.listMessages(request.caller.id, request.params.threadId, request.query)
  })
}

export default plugin
