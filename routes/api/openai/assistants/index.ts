import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { API_ERRORS, ListOf, errorResponses, listPage } from '../../../../schemas/common.ts'
import {
  AssistantAdminSchema, AssistantBodySchema, AssistantDeletedSchema, AssistantParamsSchema, AssistantPublicSchema, AssistantViewSchema
} from '../../../../schemas/assistants.ts'
import type { ResolvedAssistant } from '../../../../services/assistant-service.ts'
import { notFound } from '../../../../services/errors.ts'

const tags = ['Assistants']

function publicView ({ profile }: ResolvedAssistant) {
  return { id: profile.id, object: 'assistant' as const, name: profile.name, description: profile.description, model: profile.model }
}

function adminView (assistant: ResolvedAssistant) {
  const { profile } = assistant
  return {
    ...publicView(assistant),
    instructions: profile.instructions,
    tools: profile.tools,
    temperature: profile.temperature,
    top_p: profile.top_p,
    accepts_sampling: profile.accepts_sampling,
    max_output_tokens: profile.max_output_tokens,
    daily_token_cap: profile.daily_token_cap,
    version: assistant.version,
    updated_at: assistant.updated_at
  }
}

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { assistants } = fastify

  fastify.get('/', {
    schema: {
      tags,
      operationId: 'listAssistants',
      summary: 'List the configured assistants (public view)',
      response: { 200: ListOf(AssistantPublicSchema), ...errorResponses(...API_ERRORS) }
    }
  }, async function () {
    return listPage((await assistants.list()).map(publicView), false)
  })

  fastify.get('/:assistantId', {
    schema: {
      tags,
      operationId: 'getAssistant',
      summary: 'Get an assistant (admins get the full profile)',
      params: AssistantParamsSchema,
      response: { 200: AssistantViewSchema, ...errorResponses(...API_ERRORS, 404) }
    }
  }, async function (request) {
    const found = await assistants.get(request.params.assistantId)
    if (!found) throw notFound('Assistant')
    return request.caller.isAdmin ? adminView(found) : publicView(found)
  })

  fastify.put('/:assistantId', {
    preHandler: fastify.auth.requireAdmin,
    schema: {
      tags,
      operationId: 'putAssistant',
      summary: 'Create or replace an assistant profile (admin; the version increments)',
      params: AssistantParamsSchema,
      body: AssistantBodySchema,
      response: { 200: AssistantAdminSchema, ...errorResponses(...API_ERRORS, 403) }
    }
  }, async function (request) {
    return adminView(await assistants.put(request.params.assistantId, request.body))
  })

  fastify.delete('/:assistantId', {
    preHandler: fastify.auth.requireAdmin,
    schema: {
      tags,
      operationId: 'deleteAssistant',
      summary: 'Delete an assistant profile (admin)',
      params: AssistantParamsSchema,
      response: { 200: AssistantDeletedSchema, ...errorResponses(...API_ERRORS, 403, 404) }
    }
  }, async function (request) {
    await assistants.delete(request.params.assistantId)
    return { id: request.params.assistantId, object: 'assistant.deleted' as const, deleted: true as const }
  })
}

export default plugin
