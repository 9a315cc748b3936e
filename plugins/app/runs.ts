import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createBudgetService, loadPrices, type BudgetService } from '../../services/budget-service.ts'
import { createRunDriver } from '../../services/run-driver.ts'
import { createRunEvents, type RunEvents } from '../../services/run-events.ts'
import { createRunService, type RunService } from '../../services/run-service.ts'

declare module 'fastify' {
  interface FastifyInstance {
    budgets: BudgetService
    runs: RunService
    runEvents: RunEvents
    /** Open SSE streams, ended when the server shuts down so close() is not held up by them. */
    eventStreams: Set<{ end: (reason: string) => void }>
  }
}

async function runs (fastify: FastifyInstance) {
  const { openai, store, threads, assistants, tools, config, log, clock, metrics } = fastify
  const budgets = createBudgetService({ store, config, clock, prices: loadPrices(config.PRICES_FILE), metrics })
  const events = createRunEvents()
  const workerId = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`
  const driver = createRunDriver({ openai, store, budgets, tools, assistants, events, config, log, clock, metrics, workerId })
  const service = createRunService({ openai, store, threads, assistants, budgets, tools, driver, events, config, log, clock })
  const streams = new Set<{ end: (reason: string) => void }>()

  fastify.decorate('budgets', budgets)
  fastify.decorate('runEvents', events)
  fastify.decorate('runs', service)
  fastify.decorate('eventStreams', streams)

  // Runs left behind by a previous process are resumed once we serve.
  fastify.addHook('onReady', async () => { service.startSweeper() })
  fastify.addHook('preClose', async () => {
    for (const stream of streams) stream.end('The gateway is shutting down; the run goes on, poll its Location')
    await service.close()
  })
}

export default fp(runs, { name: 'runs', dependencies: ['openai', 'store', 'threads', 'assistants', 'metrics'] })
