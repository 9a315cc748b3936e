import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createUserIdentities, type UserIdentities } from '../../services/users/identities.ts'

declare module 'fastify' {
  interface FastifyInstance { identities: UserIdentities }
}

/** Safety identifiers (a keyed hash of the user id, sent upstream) and the reverse index a safety notice is mapped back with. */
async function identities (fastify: FastifyInstance) {
  fastify.decorate('identities', createUserIdentities({ config: fastify.config, store: fastify.store }))
}

export default fp(identities, { name: 'identities', dependencies: ['store'] })
