import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { API_ERRORS, IdempotencyHeadersSchema, ListOf, errorResponses } from '../../../../schemas/common.ts'
import {
  CreateMessageBodySchema, MessageDeletedSchema, MessageListQuerySchema, MessageParamsSchema, MessageSchema, ThreadParamsSchema, UpdateMessageBodySchema
} from '../../../../schemas/threads.ts'
import { refuseUnsupportedParts } from '../../../../services/content-parts.ts'

const tags = ['Messages']

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { messages } = fastify

  fastify.post('/:threadId/messages', {
    config: { idempotent: true },
    preValidation: refuseUnsupportedParts('content'),
    schema: {
      tags,
      operationId: 'createMessage',
      summary: 'Add a message (with optional file attachments and metadata) to a thread',
      description: 'role: user (default), or assistant to shape the caller\'s own thread (text only).',
      headers: IdempotencyHeadersSchema,
      params: ThreadParamsSchema,
      body: CreateMessageBodySchema,
      response: { 201: MessageSchema, ...errorResponses(...API_ERRORS, 404, 409, 413, 422, 502, 504) }
    }
  }, async function (request, reply) {
    const message = await messages.add(request.caller.id, request.params.threadId, request.body, request.id)
    return reply.code(201).send(message)
  })

  fastify.get('/:threadId/messages', {
    schema: {
      tags,
      operationId: 'listMessages',
      summary: 'List the user and assistant messages of a thread (?run_id= for the messages one run wrote)',
      params: ThreadParamsSchema,
      querystring: MessageListQuerySchema,
      response: { 200: ListOf(MessageSchema), ...errorResponses(...API_ERRORS, 404, 502, 504) }
    }
  }, async function (request) {
    const { run_id: runId, ...query } = request.query
    return messages.list(request.caller.id, request.params.threadId, query, runId)
  })

  fastify.get('/:threadId/messages/:messageId', {
    schema: {
      tags,
      operationId: 'getMessage',
      summary: 'Get one message of a thread',
      params: MessageParamsSchema,
      response: { 200: MessageSchema, ...errorResponses(...API_ERRORS, 404, 502, 504) }
    }
  }, async function (request) {
    return messages.get(request.caller.id, request.params.threadId, request.params.messageId)
  })

  fastify.post('/:threadId/messages/:messageId', {
    schema: {
      tags,
      operationId: 'updateMessage',
      summary: 'Replace a message\'s metadata',
      params: MessageParamsSchema,
      body: UpdateMessageBodySchema,
      response: { 200: MessageSchema, ...errorResponses(...API_ERRORS, 404, 413, 502, 504) }
    }
  }, async function (request) {
    return messages.update(request.caller.id, request.params.threadId, request.params.messageId, request.body.metadata)
  })

  fastify.delete('/:threadId/messages/:messageId', {
    schema: {
      tags,
      operationId: 'deleteMessage',
      summary: 'Delete a message, upstream too (not while a run is active on the thread)',
      params: MessageParamsSchema,
      response: { 200: MessageDeletedSchema, ...errorResponses(...API_ERRORS, 404, 409, 502, 504) }
    }
  }, async function (request) {
    return messages.delete(request.caller.id, request.params.threadId, request.params.messageId, request.id)
  })
}

export default plugin
