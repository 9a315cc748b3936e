import { createHash } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { API_ERRORS, ListOf, ListQuerySchema, Type, errorResponses } from '../../../../schemas/common.ts'
import {
  AssistantAdminSchema, AssistantBodySchema, AssistantCreateBodySchema, AssistantDeletedSchema, AssistantIdParamsSchema, AssistantParamsSchema, AssistantPublicSchema,
  AssistantUpdateBodySchema, AssistantViewSchema
} from '../../../../schemas/assistants.ts'
import type { ResolvedAssistant } from '../../../../services/assistants/service.ts'
import { adminView, publicView } from '../../../../services/assistants/views.ts'
import { canonicalJson } from '../../../../services/store/types.ts'
import { notFound } from '../../../../services/errors.ts'
import { pageOf } from '../../../../services/lists.ts'

const tags = ['Assistants']

/**
 * What the audit trail keeps of a profile write: who and when are the entry's; here the fields of the
 * request (as validated, defaults filled in), the version it made, the settings that spend budget, and a
 * digest of the whole profile (the prompt itself is not copied into the trail).
 */
function auditDetails (saved: ResolvedAssistant, sent: object): Record<string, unknown> {
  const { profile } = saved
  return {
    version: saved.version,
    fields: Object.keys(sent).sort(),
    model: profile.model,
    max_output_tokens: profile.max_output_tokens,
    daily_token_cap: profile.daily_token_cap,
    profile_sha256: createHash('sha256').update(canonicalJson(profile)).digest('hex')
  }
}

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
    const saved = await assistants.create(request.body)
    await fastify.audit.admin(request, { action: 'assistant.create', target: saved.profile.id, details: auditDetails(saved, request.body) })
    return adminView(saved, tools)
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
    const saved = await assistants.update(request.params.assistantId, request.body)
    await fastify.audit.admin(request, { action: 'assistant.update', target: saved.profile.id, details: auditDetails(saved, request.body) })
    return adminView(saved, tools)
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
    const saved = await assistants.put(request.params.assistantId, request.body)
    await fastify.audit.admin(request, { action: 'assistant.put', target: saved.profile.id, details: auditDetails(saved, request.body) })
    return adminView(saved, tools)
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
    await fastify.audit.admin(request, { action: 'assistant.delete', target: request.params.assistantId })
    return { id: request.params.assistantId, object: 'assistant.deleted' as const, deleted: true as const }
  })
}

export default plugin
