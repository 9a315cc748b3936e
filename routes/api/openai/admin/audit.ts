import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { API_ERRORS, ListOf, errorResponses, listPage } from '../../../../schemas/common.ts'
import { AuditEntrySchema, AuditListQuerySchema, AuditVerificationSchema } from '../../../../schemas/audit.ts'
import { readPage } from '../../../../services/lists.ts'

const tags = ['Users and audit']

/** The audit trail (admin): entries newest first, and a verification of the hash chain. */
const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { audit } = fastify

  fastify.get('/audit', {
    schema: {
      tags,
      operationId: 'listAudit',
      summary: 'Audit entries, newest first (admin): every admin write, suspension and safety notice, hash-chained',
      querystring: AuditListQuerySchema,
      response: { 200: ListOf(AuditEntrySchema), ...errorResponses(...API_ERRORS, 403) }
    }
  }, async function (request) {
    const { limit, order, after, before, ...filters } = request.query
    return readPage({ limit, order, after, before }, async forward => {
      const page = await audit.list({ ...forward, ...filters })
      return listPage(page.data.map(entry => ({ ...entry, object: 'audit.entry' as const })), page.hasMore)
    })
  })

  fastify.get('/audit/verify', {
    schema: {
      tags,
      operationId: 'verifyAudit',
      summary: 'Walk the audit chain (admin): valid, the entries checked, the first edited, removed or re-chained entry',
      response: { 200: AuditVerificationSchema, ...errorResponses(...API_ERRORS, 403) }
    }
  }, async function () {
    return audit.verify()
  })
}

export default plugin
