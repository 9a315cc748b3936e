import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { API_ERRORS, errorResponses } from '../../../../schemas/common.ts'
import { SuspendBodySchema, UserParamsSchema, UserSchema } from '../../../../schemas/users.ts'

const tags = ['Users and audit']

/** End users (admin): read, suspend (with a reason; their runs are cancelled), unsuspend. Writes are audited. */
const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { users } = fastify

  fastify.get('/users/:userId', {
    schema: {
      tags,
      operationId: 'getUser',
      summary: 'A user\'s suspension, OpenAI safety notices and usage today (admin)',
      params: UserParamsSchema,
      response: { 200: UserSchema, ...errorResponses(...API_ERRORS, 403) }
    }
  }, async function (request) {
    return users.view(request.params.userId)
  })

  fastify.post('/users/:userId/suspend', {
    schema: {
      tags,
      operationId: 'suspendUser',
      summary: 'Suspend a user (admin): every /api request of theirs is 403 USER_SUSPENDED from then on, on every instance; their active runs are cancelled; nothing is deleted',
      params: UserParamsSchema,
      body: SuspendBodySchema,
      response: { 200: UserSchema, ...errorResponses(...API_ERRORS, 403) }
    }
  }, async function (request) {
    return users.suspend(request.params.userId, request.body.reason, { actor: request.caller.id, requestId: request.id })
  })

  fastify.post('/users/:userId/unsuspend', {
    schema: {
      tags,
      operationId: 'unsuspendUser',
      summary: 'Lift a user\'s suspension (admin)',
      params: UserParamsSchema,
      response: { 200: UserSchema, ...errorResponses(...API_ERRORS, 403) }
    }
  }, async function (request) {
    return users.unsuspend(request.params.userId, { actor: request.caller.id, requestId: request.id })
  })
}

export default plugin
