import type { FastifyInstance } from 'fastify'

/** Everything under /api/openai/admin needs the admin role (on top of the /api checks). */
export default async function (fastify: FastifyInstance) {
  fastify.addHook('onRequest', fastify.auth.requireAdmin)
}
