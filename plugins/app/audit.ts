import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { createAuditService, type AuditEvent, type AuditService } from '../../services/audit/service.ts'

declare module 'fastify' {
  interface FastifyInstance {
    audit: AuditService & {
      /** Records an admin's write made in `request` (actor: the admin's sub; the request id). */
      admin: (request: FastifyRequest, event: Omit<AuditEvent, 'actor' | 'requestId'>) => Promise<void>
    }
  }
}

/** The tamper-evident audit trail (services/audit/): admin writes, suspensions, safety notices. */
async function audit (fastify: FastifyInstance) {
  const service = createAuditService({ store: fastify.store, clock: fastify.clock })
  fastify.decorate('audit', {
    ...service,
    async admin (request: FastifyRequest, event: Omit<AuditEvent, 'actor' | 'requestId'>) {
      await service.record({ ...event, actor: request.caller.id, requestId: request.id })
    }
  })
}

export default fp(audit, { name: 'audit', dependencies: ['store'] })
