import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { API_ERRORS, IdempotencyHeadersSchema, ListOf, ListQuerySchema, errorResponses } from '../../../../schemas/common.ts'
import {
  CreateThreadBodySchema, ThreadDeletedSchema, ThreadParamsSchema, ThreadSchema, UpdateThreadBodySchema
} from '../../../../schemas/threads.ts'
import { refuseUnsupportedParts } from '../../../../services/content-parts.ts'

const tags = ['Threads']

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { threads } = fastify

  fastify.post('/', {
    config: { idempotent: true },
    preValidation: refuseUnsupportedParts('messages'),
    schema: {
      tags,
      operationId: 'createThread',
      summary: 'Create a thread, optionally with up to 20 user messages',
      headers: IdempotencyHeadersSchema,
      body: CreateThreadBodySchema,
      response: { 201: ThreadSchema, ...errorResponses(...API_ERRORS, 409, 413, 422, 502, 504) }
    }
  }, async function (request, reply) {
    const thread = await threads.create(request.caller.id, request.body)
    return reply.code(201).send(thread)
  })

  fastify.get('/', {
    schema: {
      tags,
      operationId: 'listThreads',
      summary: 'List the caller\'s threads, newest first',
      querystring: ListQuerySchema,
      response: { 200: ListOf(ThreadSchema), ...errorResponses(...API_ERRORS) }
    }
  }, async function (request) {
    return threads.list(request.caller.id, request.query)
  })

  fastify.get('/:threadId', {
    schema: {
      tags,
      operationId: 'getThread',
      summary: 'Get one of the caller\'s threads',
      params: ThreadParamsSchema,
      response: { 200: ThreadSchema, ...errorResponses(...API_ERRORS, 404) }
    }
  }, async function (request) {
    return threads.get(request.caller.id, request.params.threadId)
  })

  fastify.post('/:threadId', {
    schema: {
      tags,
      operationId: 'updateThread',
      summary: 'Change a thread\'s title or metadata (metadata is replaced as a whole)',
      params: ThreadParamsSchema,
      body: UpdateThreadBodySchema,
      response: { 200: ThreadSchema, ...errorResponses(...API_ERRORS, 404, 413) }
    }
  }, async function (request) {
    return threads.update(request.caller.id, request.params.threadId, request.body)
  })

  fastify.delete('/:threadId', {
    schema: {
      tags,
      operationId: 'deleteThread',
      summary: 'Delete a thread and erase its messages upstream',
      params: ThreadParamsSchema,
      response: { 200: ThreadDeletedSchema, ...errorResponses(...API_ERRORS, 404, 409, 502, 504) }
    }
  }, async function (request) {
    return threads.delete(request.caller.id, request.params.threadId, request.id)
  })
}

export default plugin
