import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { API_ERRORS, ListOf, ListQuerySchema, Type, errorResponses } from '../../../../schemas/common.ts'
import {
  AssistantAdminSchema, AssistantBodySchema, AssistantCreateBodySchema, AssistantDeletedSchema, AssistantIdParamsSchema, AssistantParamsSchema, AssistantPublicSchema,
  AssistantUpdateBodySchema, AssistantViewSchema
} from '../../../../schemas/assistants.ts'
import { adminView, publicView } from '../../../../services/assistants/views.ts'
import { notFound } from '../../../../services/errors.ts'

const tags = ['Assistants']

import { pageOf } from '../../../../services/lists.ts'
/** Assistants are listed by id, a to z unless asked otherwise (there are few, and their ids are their names). */
const AssistantListQuerySchema = Type.Object({
  ...ListQuerySchema.properties,
  order: Type.Union([Type.Literal('asc'), Type.Literal('desc')], { default: 'asc' })
}, { additionalProperties: false })

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { assistants, tools } = fastify
  const requireAdmin = fastify.auth.requireAdmin

  fastify.get('/', {
    schema: {
      tags,
      operationId: 'listAssistants',
      summary: 'List the configured assistants (public view; ordered by id)',
      querystring: AssistantListQuerySchema,
      response: { 200: ListOf(AssistantPublicSchema), ...errorResponses(...API_ERRORS) }
    }
  }, async function (request) {
    return pageOf((await assistants.list()).map(a => publicView(a, tools)), request.query)
  })

  fastify.get('/:assistantId', {
    schema: {
      tags,
      operationId: 'getAssistant',
      summary: 'Get an assistant by id or alias (admins get the full profile)',
      params: AssistantParamsSchema,
      response: { 200: AssistantViewSchema, ...errorResponses(...API_ERRORS, 404) }
    }
  }, async function (request) {
    const found = await assistants.find(request.params.assistantId)
    if (!found) throw notFound('Assistant')
    return request.caller.isAdmin ? adminView(found, tools) : publicView(found, tools)
  })

  fastify.post('/', {
    preHandler: requireAdmin,
    schema: {
      tags,
      operationId: 'createAssistant',
      summary: 'Create an assistant profile (admin): the SDK\'s assistants.create, plus the gateway\'s profile settings',
      description: 'A function tool named like a configured server-side tool refers to it; any other function tool is a client tool, run by the SPA.',
      body: AssistantCreateBodySchema,
      response: { 200: AssistantAdminSchema, ...errorResponses(...API_ERRORS, 403) }
    }
  }, async function (request) {
    return adminView(await assistants.create(request.body), tools)
  })

  fastify.post('/:assistantId', {
    preHandler: requireAdmin,
    schema: {
      tags,
      operationId: 'updateAssistant',
      summary: 'Update an assistant profile (admin): what is sent replaces, the rest is kept; the version increments',
      params: AssistantParamsSchema,
      body: AssistantUpdateBodySchema,
      response: { 200: AssistantAdminSchema, ...errorResponses(...API_ERRORS, 403, 404) }
    }
  }, async function (request) {
    return adminView(await assistants.update(request.params.assistantId, request.body), tools)
  })

  fastify.put('/:assistantId', {
    preHandler: requireAdmin,
    schema: {
      tags,
      operationId: 'putAssistant',
      summary: 'Create or replace an assistant profile (admin; the version increments)',
      params: AssistantIdParamsSchema,
      body: AssistantBodySchema,
      response: { 200: AssistantAdminSchema, ...errorResponses(...API_ERRORS, 403) }
    }
  }, async function (request) {
    return adminView(await assistants.put(request.params.assistantId, request.body), tools)
  })

  fastify.delete('/:assistantId', {
    preHandler: requireAdmin,
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
