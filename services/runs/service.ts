import { toolObjects } from '../assistants/views.ts'
import type { BudgetWait } from '../budget-service.ts'
import { TooManyActiveRuns, invalidArgument, notFound, withDetails } from '../errors.ts'
import { newId } from '../ids.ts'
import { pageOf, readPage } from '../lists.ts'
import { newRunRecord } from '../store/records.ts'
import { isActiveRunStatus, isRunningStatus, type RunRecord } from '../store/types.ts'
import { estimateTokens, messageFileIds } from '../threads/items.ts'
import { listPage, type ListPage, type ListQuery } from '../../schemas/common.ts'
import type { Run, RunStep } from '../../schemas/runs.ts'
import type { RunDriver } from './driver.ts'
import type { RunsDeps } from './index.ts'
import type { RunEvents } from './events.ts'
import type { RunFollowers } from './followers.ts'
import { appliedContextPolicy } from './context.ts'
import type { RunRequest } from './request.ts'
import { roundTools } from './round-params.ts'
import type { RunEventSource } from './sse.ts'
import { toStepView } from './steps.ts'
import { compactionBound, estimateInputTokens } from './usage.ts'
import type { RunWatcher } from './watch.ts'
import type { RunTelemetry } from '../telemetry/run-telemetry.ts'
import { toRunView } from './views.ts'

/** What the service needs: the pipeline's dependencies and the parts of it the service drives or reads. */
export interface RunServiceDeps extends RunsDeps {
  driver: RunDriver
  events: RunEvents
  watcher: RunWatcher
  followers: RunFollowers
  telemetry: RunTelemetry
}

const CANCEL_WAIT_MS = 3000

/** What is wrong with a set of tool outputs for the calls a run waits for: every call, each once, no other. */
function toolOutputsProblem (pending: string[], given: string[]): string | null {
  const seen = new Set<string>()
  const repeated = given.filter(id => seen.has(id) || !seen.add(id))
  const unknown = given.filter(id => !pending.includes(id))
  const missing = pending.filter(id => !seen.has(id))
  const problems = [
    unknown.length > 0 ? `name calls the run does not wait for: ${[...new Set(unknown)].join(', ')}` : '',
    missing.length > 0 ? `miss the calls ${missing.join(', ')}` : '',
    repeated.length > 0 ? `answer calls more than once: ${[...new Set(repeated)].join(', ')}` : ''
  ].filter(Boolean)
  return problems.length > 0 ? problems.join('; ') : null
}
/** What a waiter waits for: the run ended, or paused for the client's tool outputs. */
const settled = (run: RunRecord) => !isRunningStatus(run.status)

/**
 * Runs as the API sees them: start (with the atomic checks: one active run per thread, N per user,
 * budget), read, list, wait, cancel, and the sources of their event streams.
 */
export function createRunService (deps: RunServiceDeps) {
  const { openai, store, access, messages, assistants, budgets, tools, driver, events, watcher, followers, config, log, clock, telemetry } = deps
  const threadLockTtlMs = config.RUN_MAX_DURATION_MS + 60_000

  async function ownedRun (userId: string, threadId: string, runId: string): Promise<RunRecord> {
    await access.ownedThread(userId, threadId)
    const run = await store.getRun(runId)
    if (!run || run.thread_id !== threadId || run.owner !== userId) throw notFound('Run')
    return run
  }

  /** A run whose driver's lease has lapsed is picked up by whoever touches it. */
  function ensureDriven (run: RunRecord): void {
    if (isActiveRunStatus(run.status) && run.lease_expires_at <= clock() && !driver.isDriving(run.id)) driver.kick(run.id)
  }

  /** A run whose additional messages OpenAI did not take: failed before it started, its budget and thread freed. */
  async function abandon (run: RunRecord): Promise<void> {
    await budgets.release(run.reservation_id!)
    await store.updateRun(run.id, {
      status: 'failed',
      failed_at: Math.floor(clock() / 1000),
      reservation_id: null,
      last_error: { code: 'upstream_error', message: 'OpenAI did not take the additional messages; the run did not start' }
    }, null)
  }

  /** Stops a run: the flag stops further rounds, the upstream cancel the current one. Null when it had ended meanwhile. */
  async function requestCancel (run: RunRecord): Promise<RunRecord | null> {
    const flagged = await store.updateRun(run.id, { cancel_requested: true, status: 'cancelling' }, null)
    if (!flagged) return null
    const current = flagged.response_ids.at(-1)
    if (current && !flagged.settled_response_ids.includes(current)) {
      await openai.responses.cancel(current).catch(err => log.warn({ err, runId: run.id }, 'upstream cancel failed; the driver retries'))
    }
    driver.wake(run.id)
    // A paused run is parked without a driver: it needs one now to end.
    if (run.status === 'requires_action') driver.kick(run.id)
    else ensureDriven(flagged)
    return flagged
  }

  /** Waits up to `ms` for the run to end; the run as it is then. */
  async function waitForEnd (runId: string, ms: number, signal?: AbortSignal): Promise<RunRecord | null> {
    return watcher.watch(runId, { until: settled, timeoutMs: ms, signal, onRead: ensureDriven })
  }

  return {
    waitForEnd,

    /** `budgetWait`: how long the start may wait for the caller's reservations in flight to settle (0: answer at once). */
    async start (userId: string, threadId: string, request: RunRequest, budgetWait?: BudgetWait): Promise<RunRecord> {
      const thread = await access.ownedThread(userId, threadId)
      const { profile, version } = await assistants.require(request.assistant, request.assistantField)
      if (request.max_output_tokens !== undefined && request.max_output_tokens > profile.max_output_tokens) {
        throw invalidArgument(request.max_output_field, `must be at most ${profile.max_output_tokens} for ${profile.id}`)
      }
      if (request.additional_instructions !== undefined && !profile.accepts_additional_instructions) {
        throw invalidArgument('additional_instructions', `are not accepted by ${profile.id} (its profile sets accepts_additional_instructions: false)`)
      }
      const runTools = toolObjects(profile, tools)
      const choice = request.tool_choice
      if (typeof choice === 'object' && !runTools.some(t => t.function.name === choice.function.name)) {
        throw invalidArgument('tool_choice', `names a function ${profile.id} does not have: ${choice.function.name}`)
      }
      const maxOutput = request.max_output_tokens ?? profile.max_output_tokens
      // Reasoning models reject sampling parameters: the SPA may still send them, they are not forwarded.
      const temperature = profile.accepts_sampling ? request.temperature ?? profile.temperature : null
      const topP = profile.accepts_sampling ? request.top_p ?? profile.top_p : null
      const added = request.additional_messages
      // Checked before the run exists (files must be the caller's), added once it holds the thread.
      const prepared = await messages.prepare(userId, added)
      const addedTokens = added.reduce((n, m) => n + estimateTokens(m.content, messageFileIds(m).length), 0)
      const id = newId('run')
      const reservationId = `${id}:r0`
      const contextPolicy = appliedContextPolicy(profile)
      await budgets.reserveTokens({
        id: reservationId,
        user: userId,
        assistant: profile.id,
        tokens: estimateInputTokens(thread.token_estimate + addedTokens, profile, JSON.stringify(roundTools(profile, tools)).length, [],
          compactionBound(contextPolicy, thread.turn_tokens === null ? null : thread.turn_tokens + addedTokens)) + maxOutput,
        assistantCap: profile.daily_token_cap,
        expiresAt: clock() + threadLockTtlMs
      }, budgetWait)
      // After the reservation, which may have waited for others to settle.
      const now = clock()
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
        stream: request.stream,
        reservation_id: reservationId,
        deadline_at: now + config.RUN_MAX_DURATION_MS,
        // Born leased to this process, so another instance's sweeper never takes a run its creator
        // is about to drive (and stream to the client that asked for it).
        lease_owner: driver.workerId,
        lease_expires_at: now + config.RUN_LEASE_MS,
        metadata: request.metadata ?? {},
        tools: runTools,
        max_prompt_tokens: request.max_prompt_tokens ?? null,
        truncation_strategy: request.truncation_strategy ?? null,
        response_format: request.response_format ?? profile.response_format,
        tool_choice: choice ?? null,
        parallel_tool_calls: request.parallel_tool_calls ?? true,
        additional_instructions: request.additional_instructions ?? null,
        context_policy: contextPolicy,
        // The run outlives this request and may be driven by another instance: its trace goes with it.
        trace_context: telemetry.origin()
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
        if (created.reason === 'thread_busy') throw await access.busy(threadId, 'start a run on')
        throw withDetails(new TooManyActiveRuns(`You already have ${config.RUN_MAX_ACTIVE_PER_USER} runs in flight; wait for one to finish`), { retryAfterSeconds: 2 })
      }
      if (added.length > 0) {
        // The run holds the thread from here: its messages go in before it starts, nobody else's between.
        try {
          await messages.commit(threadId, prepared)
        } catch (err) {
          await abandon(run)
          throw err
        }
      }
      driver.kick(id)
      return run
    },

    /** The caller's run; with `waitMs`, once it has ended or the wait is over. */
    async get (userId: string, threadId: string, runId: string, waitMs = 0, signal?: AbortSignal): Promise<RunRecord> {
      const run = await ownedRun(userId, threadId, runId)
      if (run.status === 'requires_action' && clock() >= (run.expires_at ?? 0) * 1000) {
        // Past its time but not yet expired by the sweeper: a reader sees it expire rather than a stale pause.
        driver.kick(runId)
        return (await watcher.watch(runId, { until: r => r.status !== 'requires_action', timeoutMs: CANCEL_WAIT_MS, signal })) ?? run
      }
      ensureDriven(run)
      if (waitMs <= 0 || !isRunningStatus(run.status)) return run
      return (await waitForEnd(runId, waitMs, signal)) ?? run
    },

    async list (userId: string, threadId: string, query: ListQuery): Promise<ListPage<Run>> {
      await access.ownedThread(userId, threadId)
      return readPage(query, async forward => {
        const page = await store.listRuns(threadId, forward)
        return listPage(page.data.map(run => toRunView(run)), page.hasMore)
      })
    },

    /** Replaces the run's metadata (the one thing about a run its caller may change). */
    async update (userId: string, threadId: string, runId: string, metadata: Record<string, string> | null | undefined): Promise<RunRecord> {
      const run = await ownedRun(userId, threadId, runId)
      if (metadata === undefined) return run
      return (await store.updateRun(runId, { metadata: metadata ?? {} }, null)) ?? run
    },

    /** Stops the run: the flag stops further rounds, the upstream cancel stops the current one. */
    async cancel (userId: string, threadId: string, runId: string): Promise<RunRecord> {
      const run = await ownedRun(userId, threadId, runId)
      if (!isActiveRunStatus(run.status)) return run
      const flagged = await requestCancel(run)
      if (!flagged) return (await store.getRun(runId)) ?? run
      return (await waitForEnd(runId, CANCEL_WAIT_MS)) ?? flagged
    },

    /**
     * Cancels a run paused in requires_action and waits for it to end (what deleting its thread needs: nothing
     * of it is in flight upstream). The run is claimed first, under a name of its own: a submit of its tool
     * outputs claims it too, so of the two only one goes on, and a run being resumed or driven is left alone.
     * Null when the run was not paused, or someone else had it.
     */
    async cancelPaused (runId: string): Promise<RunRecord | null> {
      const worker = `${driver.workerId}:cancel-paused`
      const fence = await store.claimRun(runId, worker, CANCEL_WAIT_MS)
      if (fence === null) return null
      let flagged: RunRecord | null = null
      try {
        const run = await store.getRun(runId)
        if (run?.status === 'requires_action') flagged = await store.updateRun(runId, { cancel_requested: true, status: 'cancelling' }, fence)
      } finally {
        // Given back at once: its driver (any instance's) ends it, or resumes whatever it was doing if it was not paused.
        await store.releaseRun(runId, worker, fence)
      }
      if (!flagged) return null
      driver.kick(runId)
      return (await waitForEnd(runId, CANCEL_WAIT_MS)) ?? flagged
    },

    /** Cancels every active run of the user (a suspension), upstream at once, without waiting for them to end. Returns how many. */
    async cancelAllOf (userId: string): Promise<number> {
      const active = await store.listActiveRuns(userId)
      await Promise.all(active.map(run => requestCancel(run).catch(err => log.warn({ err, runId: run.id }, 'could not cancel a run of a suspended user'))))
      return active.length
    },

    /**
     * The client's outputs for the calls a paused run waits for — exactly those calls, each once — sent
     * upstream in the run's next round. The run is claimed first, so of two submits only one resumes it.
     */
    async submitToolOutputs (userId: string, threadId: string, runId: string, given: Array<{ tool_call_id: string, output: string }>): Promise<RunRecord> {
      await ownedRun(userId, threadId, runId)
      // Claimed under a name of its own, not the driver's: a claim in the driver's name would take the lease
      // from under a drive going on here (a cancel's), which would then stop as if another worker had it.
      const worker = `${driver.workerId}:submit`
      const fence = await store.claimRun(runId, worker, CANCEL_WAIT_MS)
      try {
        const run = (await store.getRun(runId))!
        if (fence === null || run.status !== 'requires_action' || !run.required_action) {
          throw invalidArgument('tool_outputs', `are not awaited: the run is ${run.status === 'requires_action' ? 'being resumed' : run.status}, not requires_action`)
        }
        if (clock() >= (run.expires_at ?? 0) * 1000) throw invalidArgument('tool_outputs', 'came too late: the run has expired')
        const pending = run.required_action.submit_tool_outputs.tool_calls
        const problem = toolOutputsProblem(pending.map(call => call.id), given.map(o => o.tool_call_id))
        if (problem) throw invalidArgument('tool_outputs', problem)
        const outputs = new Map(given.map(o => [o.tool_call_id, o.output]))
        const resumed = await store.updateRun(runId, {
          status: 'queued',
          required_action: null,
          pending_input: [...(run.pending_input ?? []), ...pending.map(call => ({ type: 'function_call_output', call_id: call.id, output: outputs.get(call.id)! }))],
          // The run's time limit is for its own work, and starts again after a pause.
          deadline_at: clock() + config.RUN_MAX_DURATION_MS
        }, fence)
        if (!resumed) throw invalidArgument('tool_outputs', 'are not awaited: the run moved on meanwhile')
        await store.lockThread(threadId, runId, config.RUN_MAX_DURATION_MS + 60_000)
        return resumed
      } finally {
        // Whatever happened, the run was ours: given back, then its driver resumes it, ends it, or parks it again.
        if (fence !== null) {
          await store.releaseRun(runId, worker, fence)
          driver.kick(runId)
        }
      }
    },

    /** The run's steps (list conventions; newest first by default). */
    async listSteps (userId: string, threadId: string, runId: string, query: ListQuery): Promise<ListPage<RunStep>> {
      const run = await ownedRun(userId, threadId, runId)
      return pageOf((run.steps ?? []).map(step => toStepView(run, step)), query)
    },

    async getStep (userId: string, threadId: string, runId: string, stepId: string): Promise<RunStep> {
      const run = await ownedRun(userId, threadId, runId)
      const step = (run.steps ?? []).find(s => s.id === stepId)
      if (!step) throw notFound('Run step')
      return toStepView(run, step)
    },

    /**
     * The events of a run for a stream: first-hand from this process's driver for a run it just created
     * or resumed, else by following the run wherever it is driven (a reconnect, another instance).
     */
    events (run: RunRecord, from: 'created' | 'resumed' | 'follow'): RunEventSource {
      if (from !== 'follow') {
        return emit => {
          const unsubscribe = events.subscribe(run.id, emit)
          if (from === 'created') emit({ event: 'thread.run.created', data: toRunView(run) })
          emit({ event: 'thread.run.queued', data: toRunView(run) })
          return unsubscribe
        }
      }
      return followers.source(run.id)
    },

    /** Listeners of a run's first-hand events (for tests: a closed stream lets go of its run). */
    listeners: (runId: string) => events.listeners(runId)
  }
}
export type RunService = ReturnType<typeof createRunService>
