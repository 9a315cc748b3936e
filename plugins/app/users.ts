import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createUserService, type UserService } from '../../services/users/service.ts'

declare module 'fastify' {
  interface FastifyInstance { users: UserService }
}

/** End users as admins act on them: suspension (their runs cancelled), safety notices, audited. */
async function users (fastify: FastifyInstance) {
  const { store, audit, budgets, runs, clock, log } = fastify
  fastify.decorate('users', createUserService({ store, audit, budgets, cancelRuns: userId => runs.cancelAllOf(userId), clock, log }))
}

export default fp(users, { name: 'users', dependencies: ['store', 'audit', 'budgets', 'runs'] })
