import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { FastifyBaseLogger } from 'fastify'
import type OpenAI from 'openai'
import type { AssistantService } from '../assistants/service.ts'
import type { BudgetService } from '../budget-service.ts'
import type { Config } from '../config.ts'
import type { Metrics } from '../metrics.ts'
import type { Store } from '../store/types.ts'
import type { ThreadAccess } from '../threads/access.ts'
import type { MessageService } from '../threads/messages.ts'
import type { ToolRegistry } from '../tools/registry.ts'
import type { UserIdentities } from '../users/identities.ts'
import type { SuspensionCheck } from '../users/suspensions.ts'
import { createRunTelemetry } from '../telemetry/run-telemetry.ts'
import { NO_TRACING, type Tracing } from '../telemetry/tracing.ts'
import { createRunDriver } from './driver.ts'
import { createRunEvents } from './events.ts'
import { createRunFollowers } from './followers.ts'
import { createLeaseKeeper } from './leases.ts'
import { createRunService } from './service.ts'
import { createRunSweeper } from './sweeper.ts'
import { createResponseEnds } from './response-ends.ts'
import { createUpstreamResponses } from './upstream.ts'
import { createRunWatcher } from './watch.ts'

export interface RunsDeps {
  openai: OpenAI
  store: Store
  access: ThreadAccess
  messages: MessageService
  assistants: AssistantService
  budgets: BudgetService
  tools: ToolRegistry
  config: Config
  log: FastifyBaseLogger
  clock: () => number
  metrics?: Metrics
  /** Who a request is for upstream (safety identifiers), and whether its user is suspended. */
  identities: Pick<UserIdentities, 'safetyIdentifier'>
  suspensions: Pick<SuspensionCheck, 'isSuspended'>
  /** Spans of runs, rounds and tools (a no-op without tracing). */
  tracing?: Tracing
}

/**
 * The run pipeline of one process, assembled: the driver (its leases and upstream responses), the
 * watcher every waiter uses, the service the routes call, and the sweeper. `start` once serving,
 * `close` on shutdown (the leases are handed back so the runs resume elsewhere).
 */
export function createRuns (deps: RunsDeps) {
  const { openai, store, config, log } = deps
  const workerId = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`
  const events = createRunEvents()
  const leases = createLeaseKeeper({ store, workerId, leaseMs: config.RUN_LEASE_MS, log })
  // With OpenAI's webhooks configured, a run with no stream waits for its response.* webhook, not for polls.
  const ends = config.OPENAI_WEBHOOK_SECRET ? createResponseEnds({ store, log }) : null
  const upstream = createUpstreamResponses({ openai, config, log, ends })
  const telemetry = createRunTelemetry({ tracing: deps.tracing ?? NO_TRACING, metrics: deps.metrics, config })
  const driver = createRunDriver({ ...deps, upstream, leases, events, telemetry })
  const watcher = createRunWatcher({ store, log })
  const followers = createRunFollowers({ openai, store, watcher, log, clock: deps.clock })
  const service = createRunService({ ...deps, driver, events, watcher, followers, telemetry })
  const sweeper = createRunSweeper({ store, driver, log, intervalMs: config.RUN_LEASE_MS })
  return {
    service,
    /** Runs this process drives now. */
    get driving () { return driver.drivingCount() },
    start: () => sweeper.start(),
    async close (): Promise<void> {
      sweeper.stop()
      watcher.close()
      await driver.shutdown()
      ends?.close()
    }
  }
}
