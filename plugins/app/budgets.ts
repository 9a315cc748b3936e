import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createBudgetService, loadPrices, type BudgetService } from '../../services/budget-service.ts'

declare module 'fastify' {
  interface FastifyInstance { budgets: BudgetService }
}

/** Daily budgets and the usage ledger; the price table is read (and checked) at boot. */
async function budgets (fastify: FastifyInstance) {
  const { store, config, clock, metrics } = fastify
  fastify.decorate('budgets', createBudgetService({ store, config, clock, prices: loadPrices(config.PRICES_FILE), metrics }))
}

export default fp(budgets, { name: 'budgets', dependencies: ['store', 'metrics'] })
