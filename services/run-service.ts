import type { FastifyBaseLogger } from 'fastify'
import type OpenAI from 'openai'
import type { AssistantService } from './assistant-service.ts'
import type { BudgetService } from './budget-service.ts'
import type { Config } from './config.ts'
import { ThreadBusy, TooManyActiveRuns, ValidationFailed, notFound, withDetails } from './errors.ts'
import { newId } from './ids.ts'
import { estimateInputTokens, toRunView, type RunDriver } from './run-driver.ts'
import { TERMINAL_EVENTS, type RunEvents } from './run-events.ts'
import { newRunRecord } from './store/records.ts'
import { isActiveRunStatus, type RunRecord, type Store } from './store/types.ts'
import type { ThreadService } from './thread-service.ts'
import type { ToolRegistry } from './tools/registry.ts'
import { listPage, type ListQuery } from '../schemas/common.ts'
import type { CreateRunBody } from '../schemas/runs.ts'

export interface RunServiceDeps {
  openai: OpenAI
  store: Store
  threads: ThreadService
  assistants: AssistantService
  budgets: BudgetService
  tools: ToolRegistry
  driver: RunDriver
  events: RunEvents
  config: Config
  log: FastifyBaseLogger
  clock: () => number
}

/** How often a waiter re-reads a run that another instance drives (its events do not reach us). */
const REMOTE_CHECK_MS = 250
const LOCAL_CHECK_MS = 5000
const CANCEL_WAIT_MS = 3000

/**
 * Runs as the API sees them: start (with the atomic checks: one active run per thread, N per user,
 * budget), read, list, wait, cancel — and the sweeper that resumes runs whose driver died.
 */
export function createRunService (deps: RunServiceDeps) {
  const { openai, store, threads, assistants, budgets, tools, driver, events, config, log, clock } = deps
  const threadLockTtlMs = config.RUN_MAX_DURATION_MS + 60_000
  let sweeper: NodeJS.Timeout | undefined

  async function ownedRun (userId: string, threadId: string, runId: string): Promise<RunRecord> {
    await threads.ownedThread(userId, threadId)
    const run = await store.getRun(runId)
    if (!run || run.thread_id !== threadId || run.owner !== userId) throw notFound('Run')
    return run
  }

  /** A run whose driver's lease has lapsed is picked up by whoever touches it. */
  function ensureDriven (run: RunRecord): void {
    if (isActiveRunStatus(run.status) && run.lease_expires_at <= clock() && !driver.isDriving(run.id)) driver.kick(run.id)
  }

  async function waitForEnd (runId: string, ms: number, signal?: AbortSignal): Promise<RunRecord | null> {
    let resolveDone: () => void = () => {}
    const done = new Promise<void>(resolve => { resolveDone = resolve })
    const unsubscribe = events.subscribe(runId, event => { if (TERMINAL_EVENTS.has(event.event)) resolveDone() })
    try {
      const first = await store.getRun(runId)
      if (!first || !isActiveRunStatus(first.status) || ms <= 0) return first
      const timer = setTimeout(resolveDone, ms)
      const onAbort = () => resolveDone()
      signal?.addEventListener('abort', onAbort, { once: true })
      // Events only come from a local driver; a run driven elsewhere is re-read from the store often.
      // Decided at each check: a run can move here (resumed) or away (lease lost) while we wait.
      let check: NodeJS.Timeout | undefined
      let waiting = true
      const schedule = () => {
        check = setTimeout(() => {
          store.getRun(runId).then(run => {
            if (!run || !isActiveRunStatus(run.status)) resolveDone()
            else ensureDriven(run)
          }).catch(() => {}).finally(() => { if (waiting) schedule() })
        }, driver.isDriving(runId) ? LOCAL_CHECK_MS : REMOTE_CHECK_MS)
      }
      schedule()
      try {
        await done
      } finally {
        waiting = false
        clearTimeout(timer)
        clearTimeout(check)
        signal?.removeEventListener('abort', onAbort)
      }
      return store.getRun(runId)
    } finally {
      unsubscribe()
    }
  }

  return {
    waitForEnd,

    async start (userId: string, threadId: string, body: CreateRunBody): Promise<RunRecord> {
      const thread = await threads.ownedThread(userId, threadId)
      const { profile, version } = await assistants.require(body.assistant_type)
      if (body.max_output_tokens !== undefined && body.max_output_tokens > profile.max_output_tokens) {
        throw new ValidationFailed(`body.max_output_tokens must be at most ${profile.max_output_tokens} for ${profile.id}`)
      }
      const maxOutput = body.max_output_tokens ?? profile.max_output_tokens
      // Reasoning models reject sampling parameters: the SPA may still send them, they are not forwarded.
      const temperature = profile.accepts_sampling ? body.temperature ?? profile.temperature : null
      const topP = profile.accepts_sampling ? body.top_p ?? profile.top_p : null
      const id = newId('run')
      const now = clock()
      const reservationId = `${id}:r0`
      await budgets.reserveTokens({
        id: reservationId,
        user: userId,
        assistant: profile.id,
        tokens: estimateInputTokens(thread.token_estimate, profile, JSON.stringify(tools.definitions(profile.tools)).length, []) + maxOutput,
        assistantCap: profile.daily_token_cap,
        expiresAt: now + threadLockTtlMs
      })
      const run = newRunRecord({
        id,
        thread_id: threadId,
        owner: userId,
        assistant_type: profile.id,
        assistant_version: version,
        model: profile.model,
        created_at: Math.floor(now / 1000),
        temperature,
        top_p: topP,
        max_output_tokens: maxOutput,
        stream: body.stream === true,
        reservation_id: reservationId,
        deadline_at: now + config.RUN_MAX_DURATION_MS,
        // Born leased to this process, so another instance's sweeper never takes a run its creator
        // is about to drive (and stream to the client that asked for it).
        lease_owner: driver.workerId,
        lease_expires_at: now + config.RUN_LEASE_MS
      })
      let created
      try {
        created = await store.createRun(run, { maxActivePerUser: config.RUN_MAX_ACTIVE_PER_USER, threadLockTtlMs })
      } catch (err) {
        await budgets.release(reservationId)
        throw err
      }
      if (!created.ok) {
        await budgets.release(reservationId)
        if (created.reason === 'thread_busy') throw withDetails(new ThreadBusy('A run is already active on this thread'), { retryAfterSeconds: 2 })
        throw withDetails(new TooManyActiveRuns(`You already have ${config.RUN_MAX_ACTIVE_PER_USER} runs in flight; wait for one to finish`), { retryAfterSeconds: 2 })
      }
      driver.kick(id)
      return run
    },

    async get (userId: string, threadId: string, runId: string, waitMs = 0, signal?: AbortSignal): Promise<RunRecord> {
      const run = await ownedRun(userId, threadId, runId)
      ensureDriven(run)
      if (waitMs <= 0 || !isActiveRunStatus(run.status)) return run
      return (await waitForEnd(runId, waitMs, signal)) ?? run
    },

    async list (userId: string, threadId: string, query: ListQuery) {
      await threads.ownedThread(userId, threadId)
      const page = await store.listRuns(threadId, query)
      return listPage(page.data.map(toRunView), page.hasMore)
    },

    /** Stops the run: the flag stops further rounds, the upstream cancel stops the current one. */
    async cancel (userId: string, threadId: string, runId: string): Promise<RunRecord> {
      const run = await ownedRun(userId, threadId, runId)
      if (!isActiveRunStatus(run.status)) return run
      const flagged = await store.updateRun(runId, { cancel_requested: true, status: 'cancelling' }, null)
      if (!flagged) return (await store.getRun(runId)) ?? run
      const current = flagged.response_ids.at(-1)
      if (current && !flagged.settled_response_ids.includes(current)) {
        await openai.responses.cancel(current).catch(err => log.warn({ err, runId }, 'upstream cancel failed; the driver retries'))
      }
      driver.wake(runId)
      ensureDriven(flagged)
      return (await waitForEnd(runId, CANCEL_WAIT_MS)) ?? flagged
    },

    /** Resumes orphaned runs now and every lease period; releases reservations left by crashes. */
    startSweeper (): void {
      const sweep = async () => {
        try {
          for (const run of await store.listOrphanedRuns(100)) driver.kick(run.id)
          const released = await store.releaseExpiredReservations()
          if (released > 0) log.info({ released }, 'released expired budget reservations')
        } catch (err) {
          log.warn({ err }, 'run sweep failed')
        }
      }
      sweep().catch(() => {})
      sweeper = setInterval(() => { sweep().catch(() => {}) }, config.RUN_LEASE_MS)
      sweeper.unref()
    },

    async close (): Promise<void> {
      clearInterval(sweeper)
      await driver.shutdown()
    }
  }
}
export type RunService = ReturnType<typeof createRunService>
