import type { FastifyInstance } from 'fastify'

/**
 * The protected tree: every /api/openai route. The token is verified first so the rate limit can key
 * on the verified user (an invalid token is limited by IP); only then is a missing or bad token refused,
 * and then a suspended user (403 USER_SUSPENDED, on every route).
 */
export default async function (fastify: FastifyInstance) {
  fastify.addHook('onRequest', fastify.auth.identify)
  fastify.addHook('onRequest', fastify.rateLimits.api)
  fastify.addHook('onRequest', fastify.auth.requireUser)
  fastify.addHook('onRequest', fastify.suspensions.requireActive)
}
