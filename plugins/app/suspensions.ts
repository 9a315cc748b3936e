import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { UserSuspended } from '../../services/errors.ts'
import { createSuspensionCheck, type SuspensionCheck } from '../../services/users/suspensions.ts'

declare module 'fastify' {
  interface FastifyInstance {
    suspensions: SuspensionCheck & {
      /** onRequest for the /api tree, after auth.requireUser: 403 USER_SUSPENDED for a suspended caller. */
      requireActive: (request: FastifyRequest) => Promise<void>
    }
  }
}

/**
 * Suspended users are refused on every /api route, from every instance: the check reads a per-process
 * cache that the store's change feed invalidates the moment a suspension is written anywhere.
 */
async function suspensions (fastify: FastifyInstance) {
  const check = createSuspensionCheck({ store: fastify.store })
  fastify.decorate('suspensions', {
    ...check,
    async requireActive (request: FastifyRequest) {
      if (request.identity && await check.isSuspended(request.identity.id)) {
        // The contract: the message says so, never why (the reason is for admins).
        throw new UserSuspended('Your account is suspended; contact your administrator')
      }
    }
  })
  fastify.addHook('onClose', async () => { check.close() })
}

export default fp(suspensions, { name: 'suspensions', dependencies: ['store'] })
