import OpenAI from 'openai'
import type { FastifyBaseLogger } from 'fastify'
import type { Response, ResponseFunctionToolCall, ResponseInputItem } from 'openai/resources/responses/responses'
import type { RequiredAction } from '../../schemas/runs.ts'
import type { TokenUsage } from '../../schemas/usage.ts'
import type { AssistantService } from '../assistants/service.ts'
import type { BudgetService } from '../budget-service.ts'
import type { Config } from '../config.ts'
import { StoreUnavailable, isGatewayError } from '../errors.ts'
import type { Metrics } from '../metrics.ts'
import { isActiveRunStatus, type AssistantProfile, type RunRecord, type RunStatus, type Store } from '../store/types.ts'
import type { ToolRegistry } from '../tools/registry.ts'
import type { UserIdentities } from '../users/identities.ts'
import type { SuspensionCheck } from '../users/suspensions.ts'
import type { RoundObservation, RunDrive, RunTelemetry } from '../telemetry/run-telemetry.ts'
import type { RunEvents } from './events.ts'
import type { LeaseKeeper } from './leases.ts'
import { createMessageRelay, type MessageRelay } from './relay.ts'
import { roundParams, roundTools } from './round-params.ts'
import { callsDeltaEvent, completeCalls, endSteps, mergeSteps, openCallsStep, responseSteps, stepEvent } from './steps.ts'
import { sleep, type ResponseStream, type UpstreamResponses } from './upstream.ts'
import { addUsage, compactionBound, estimateInputTokens, usageOf } from './usage.ts'
import { toRunView } from './views.ts'

export interface RunDriverDeps {
  upstream: UpstreamResponses
  leases: LeaseKeeper
  store: Store
  budgets: BudgetService
  tools: ToolRegistry
  assistants: AssistantService
  events: RunEvents
  config: Config
  log: FastifyBaseLogger
  clock: () => number
  metrics?: Metrics
  identities: Pick<UserIdentities, 'safetyIdentifier'>
  suspensions: Pick<SuspensionCheck, 'isSuspended'>
  telemetry: RunTelemetry
}

const CANCEL_SETTLE_MS = 10_000

/** Why a driver stops before the run ends: its lease went to another worker, shutdown, or the run is paused (parked). */
type Stop = 'lease_lost' | 'shutdown' | 'paused'
class StopDriving extends Error {
  readonly reason: Stop
  constructor (reason: Stop) {
    super(reason)
    this.reason = reason
  }
}

/** Messages shown for a failed upstream response: ours, never the upstream's text. */
const FAILURE_MESSAGES: Record<string, string> = {
  server_error: 'OpenAI failed while generating the answer',
  rate_limit_exceeded: 'OpenAI was rate-limited while generating the answer',
  invalid_prompt: 'OpenAI refused the prompt',
  vector_store_timeout: 'OpenAI timed out reading files'
}

const functionCalls = (response: Response) => response.output.filter((o): o is ResponseFunctionToolCall => o.type === 'function_call')

type CallOutput = { type: 'function_call_output', call_id: string, output: string }
const callOutputs = (input: unknown[] | null): CallOutput[] =>
  (input ?? []).filter((item): item is CallOutput => (item as { type?: string }).type === 'function_call_output')

/** What a run's calls are answered with when the run ends before they could be: the model reads it next turn. */
const ENDED_CALL_OUTPUTS: Record<string, string> = {
  cancelled: 'the run was cancelled before this call was answered',
  expired: 'the client did not answer this call in time',
  failed: 'the run failed before this call was answered',
  incomplete: 'the run ended before this call was answered'
}

interface DriveContext {
  runId: string
  fence: number
  stop: AbortSignal
  messages: MessageRelay
  /** A signal for the next wait, aborted on stop, at the deadline or when the run is woken (cancel). */
  waitSignal: () => AbortSignal
  /** This drive's span and metrics (set once the run is read). */
  drive?: RunDrive
}

/**
 * Drives runs to their end: the state machine. A run is a chain of background responses on the
 * thread's conversation (upstream.ts creates them and learns of their end). Tool calls are executed
 * here and their outputs start the next round. Every step is persisted under a lease with a fence, so
 * a run whose process died is resumed elsewhere from the last upstream response — never a duplicate
 * response, never usage counted twice.
 */
export function createRunDriver (deps: RunDriverDeps) {
  const { upstream, leases, store, budgets, tools, assistants, events, config, log, clock, metrics, identities, suspensions, telemetry } = deps
  const driving = new Map<string, { stop: AbortController, wake: () => void }>()
  /** Runs kicked here whose driver has not registered yet (it first claims the lease). */
  const starting = new Set<string>()
  let closing = false

  const seconds = () => Math.floor(clock() / 1000)

  function kick (runId: string): void {
    if (closing || driving.has(runId) || starting.has(runId)) return
    starting.add(runId)
    // Deferred, so a caller that subscribes to the run's events right after starting it sees them all.
    setImmediate(() => {
      drive(runId).catch(err => log.error({ err, runId }, 'run driver crashed')).finally(() => starting.delete(runId))
    })
  }

  async function drive (runId: string): Promise<void> {
    if (closing || driving.has(runId)) return
    const fence = await leases.claim(runId)
    if (fence === null) return
    const stop = new AbortController()
    // Linked to `stop` by hand: AbortSignal.any would leave a composite signal behind for every wait.
    let current: AbortController | null = null
    const wake = () => current?.abort('wake')
    stop.signal.addEventListener('abort', () => current?.abort(stop.signal.reason), { once: true })
    driving.set(runId, { stop, wake })
    leases.hold(runId, fence, () => stop.abort(new StopDriving('lease_lost')))
    const ctx: DriveContext = {
      runId,
      fence,
      stop: stop.signal,
      messages: createMessageRelay(event => events.publish(runId, event), seconds),
      waitSignal () {
        current = new AbortController()
        if (stop.signal.aborted) current.abort(stop.signal.reason)
        return current.signal
      }
    }
    try {
      await loop(ctx)
    } catch (err) {
      const stopped = err instanceof StopDriving ? err : (stop.signal.reason instanceof StopDriving ? stop.signal.reason : null)
      if (stopped) {
        log.info({ runId, reason: stopped.reason }, 'stopped driving run')
        if (stopped.reason === 'shutdown') await leases.release(runId, fence)
      } else if (err instanceof StoreUnavailable) {
        // The store is down, not the run: let the lease lapse; whoever sees the store again resumes it.
        log.warn({ runId }, 'store unavailable; the run will be resumed when it answers again')
      } else {
        log.error({ err, runId }, 'run failed inside the gateway')
        const run = await store.getRun(runId)
        if (run && isActiveRunStatus(run.status)) {
          await finish(ctx, run, 'failed', { last_error: { code: 'server_error', message: 'The gateway failed while running this run' } })
        }
      }
    } finally {
      leases.drop(runId)
      driving.delete(runId)
    }
  }

  async function update (ctx: DriveContext, patch: Partial<RunRecord>): Promise<RunRecord> {
    const updated = await store.updateRun(ctx.runId, patch, ctx.fence)
    if (!updated) throw new StopDriving('lease_lost')
    return updated
  }

  /**
   * A cancel (or a suspension) that came while the response was being created could not reach it
   * upstream: now that its id is recorded, it is cancelled there, rather than generating to its end.
   */
  async function cancelIfRequested (run: RunRecord, responseId: string): Promise<void> {
    if (run.cancel_requested) await upstream.cancel(responseId).catch(err => log.warn({ err, runId: run.id }, 'upstream cancel failed'))
  }

  async function loop (ctx: DriveContext): Promise<void> {
    let run = await store.getRun(ctx.runId)
    if (!run) return
    const drive = ctx.drive = telemetry.drive(run)
    const deadlineTimer = setTimeout(() => driving.get(ctx.runId)?.wake(), Math.max(0, run.deadline_at - clock()))
    deadlineTimer.unref()
    let stopped: string | undefined
    try {
      // Everything the drive does (rounds, tools, store writes' logs) happens inside its span.
      await drive.within(async () => {
        while (run && isActiveRunStatus(run.status)) {
          if (ctx.stop.aborted) throw ctx.stop.reason
          run = await step(ctx, run)
        }
      })
    } catch (err) {
      const stop = err instanceof StopDriving ? err : ctx.stop.reason instanceof StopDriving ? ctx.stop.reason : null
      stopped = stop?.reason ?? 'error'
      throw err
    } finally {
      clearTimeout(deadlineTimer)
      drive.end(run, stopped)
    }
  }

  /** One step of the state machine; returns the run as persisted after it. */
  async function step (ctx: DriveContext, run: RunRecord): Promise<RunRecord> {
    if (run.status === 'requires_action') {
      // Claimed while paused: its time is up (it expires), or it was woken early and goes back to sleep.
      const expiresAt = (run.expires_at ?? 0) * 1000
      if (clock() >= expiresAt) return finish(ctx, run, 'expired')
      return park(ctx, run, expiresAt)
    }
    const current = run.response_ids.at(-1)
    const unsettled = current && !run.settled_response_ids.includes(current) ? current : null

    if (run.cancel_requested || clock() >= run.deadline_at) {
      const timedOut = !run.cancel_requested
      if (unsettled) {
        await upstream.cancel(unsettled).catch(err => log.warn({ err, runId: run.id }, 'upstream cancel failed'))
        const final = await upstream.pollUntilEnd(unsettled, AbortSignal.any([ctx.stop, AbortSignal.timeout(CANCEL_SETTLE_MS)])).catch(() => null)
        if (final) run = await settle(ctx, run, final)
      }
      return timedOut
        ? finish(ctx, run, 'failed', { last_error: { code: 'run_timeout', message: `The run exceeded its maximum duration of ${config.RUN_MAX_DURATION_MS} ms` } })
        : finish(ctx, run, 'cancelled')
    }

    const resolved = await assistants.get(run.assistant_type)
    if (!resolved) return finish(ctx, run, 'failed', { last_error: { code: 'assistant_deleted', message: 'The assistant of this run was deleted' } })
    const profile = resolved.profile

    if (unsettled) {
      // Resumed (or woken) with a response in flight: wait for it without starting another.
      return awaitRound(ctx, run, profile, unsettled, null)
    }

    if (run.creating_since !== null) {
      // The process died while creating a response: it may exist upstream without our knowing its id.
      // Starting another could answer twice, so the run ends here; any answer still lands in the thread.
      return finish(ctx, run, 'failed', { last_error: { code: 'resume_uncertain', message: 'The gateway restarted while starting the answer; it may still appear in the thread' } })
    }

    if (current && run.pending_input === null) {
      // Settled, but what followed was not recorded (crash between steps): decide again from the response.
      return afterResponse(ctx, run, await upstream.retrieve(current, ctx.stop), profile)
    }

    // A run started just before its user was suspended (or resumed after) ends before its next round.
    if (await suspensions.isSuspended(run.owner)) return finish(ctx, run, 'cancelled')

    return startRound(ctx, run, profile, (run.pending_input ?? []) as ResponseInputItem[])
  }

  /** Reserves the round's budget: null when it fits, else the run, failed with budget_exceeded. */
  async function reserveRound (ctx: DriveContext, run: RunRecord, profile: AssistantProfile, reservationId: string, toolChars: number, input: ResponseInputItem[]): Promise<RunRecord | null> {
    const thread = await store.getThread(run.thread_id)
    try {
      await budgets.reserveTokens({
        id: reservationId,
        user: run.owner,
        assistant: run.assistant_type,
        tokens: estimateInputTokens(thread?.token_estimate ?? 0, profile, toolChars, input, compactionBound(run.context_policy, thread?.turn_tokens ?? null)) +
          (run.max_output_tokens ?? profile.max_output_tokens),
        assistantCap: profile.daily_token_cap,
        expiresAt: run.deadline_at + 60_000
      }, { waitMs: Math.max(0, run.deadline_at - clock()), signal: ctx.stop })
      return null
    } catch (err) {
      if (isGatewayError(err) && err.code === 'BUDGET_EXCEEDED') {
        return finish(ctx, run, 'failed', { last_error: { code: 'budget_exceeded', message: err.message } })
      }
      throw err
    }
  }

  async function startRound (ctx: DriveContext, run: RunRecord, profile: AssistantProfile, input: ResponseInputItem[]): Promise<RunRecord> {
    const round = run.response_ids.length
    const toolDefinitions = roundTools(profile, tools)
    const reservationId = run.reservation_id ?? `${run.id}:r${round}`
    if (!run.reservation_id) {
      const refused = await reserveRound(ctx, run, profile, reservationId, JSON.stringify(toolDefinitions).length, input)
      if (refused) return refused
    }
    const starting = run.status === 'queued'
    run = await update(ctx, {
      reservation_id: reservationId,
      creating_since: clock(),
      status: starting ? 'in_progress' : run.status,
      started_at: run.started_at ?? seconds()
    })
    // Queued at creation, and again after a client submitted its tool outputs.
    if (starting) events.publish(run.id, { event: 'thread.run.in_progress', data: toRunView(run) })

    // Each open upstream stream holds a connection and its buffers. Past the limit, runs that no
    // client is streaming are created unstreamed and polled: memory stays bounded however many wait.
    const streamed = run.stream || upstream.openStreams() < config.RUN_MAX_UPSTREAM_STREAMS
    const safetyIdentifier = await identities.safetyIdentifier(run.owner)
    const params = roundParams({
      run, profile, round, input, tools: toolDefinitions, streamed, safetyIdentifier, promptCacheShards: config.PROMPT_CACHE_SHARDS
    })
    const observed = ctx.drive!.round(run, { params, round, streamed, resumed: false })
    let created: ResponseStream | Response
    try {
      created = await observed.within(() => upstream.create(params, ctx.stop))
    } catch (err) {
      observed.fail(err)
      if (ctx.stop.aborted) throw err
      log.warn({ err, runId: run.id }, 'could not start the upstream response')
      run = await update(ctx, { creating_since: null })
      const uncertain = err instanceof OpenAI.APIError && err.code === 'conversation_locked'
      return finish(ctx, run, 'failed', {
        last_error: uncertain
          ? { code: 'upstream_uncertain', message: 'OpenAI may have started the answer but the connection broke; it may still appear in the thread' }
          : { code: 'upstream_error', message: 'OpenAI could not start the answer' }
      })
    }
    if ('id' in created && typeof created.id === 'string') {
      observed.created(created.id)
      run = await update(ctx, { response_ids: [...run.response_ids, created.id], creating_since: null })
      await cancelIfRequested(run, created.id)
      return awaitRound(ctx, run, profile, created.id, null, observed)
    }
    return awaitRound(ctx, run, profile, null, created as ResponseStream, observed)
  }

  /**
   * Waits for the round's response to end, then settles it and decides what follows. `observed`: the
   * round as this drive started it; without it, the drive resumes a response an earlier one created.
   */
  async function awaitRound (ctx: DriveContext, run: RunRecord, profile: AssistantProfile, knownId: string | null, stream: ResponseStream | null, observed?: RoundObservation): Promise<RunRecord> {
    const round = observed ?? ctx.drive!.round(run, { params: null, round: Math.max(0, run.response_ids.length - 1), streamed: false, resumed: true, ...(knownId ? { responseId: knownId } : {}) })
    let final: Response | null
    try {
      final = await round.within(() => upstream.awaitEnd({
        knownId,
        stream,
        signal: ctx.waitSignal(),
        stop: ctx.stop,
        key: run.id,
        hooks: {
          async onCreated (responseId) {
            round.created(responseId)
            // Recorded before anything else happens: from here on a crash resumes this response.
            Object.assign(run, await update(ctx, { response_ids: [...run.response_ids, responseId], creating_since: null }))
            await cancelIfRequested(run, responseId)
          },
          onEvent: event => {
            round.event(event)
            ctx.messages.forward(run, event)
          }
        }
      }))
    } catch (err) {
      round.fail(err)
      throw err
    }
    round.end(final)
    run = (await store.getRun(run.id)) ?? run
    if (!final) return run
    run = await settle(ctx, run, final, profile)
    return afterResponse(ctx, run, final, profile)
  }

  /**
   * Adds a finished response's usage to the run, the budget and the ledger, records its steps, and
   * sends streaming clients what they have not seen of its messages — once per response.
   */
  async function settle (ctx: DriveContext, run: RunRecord, response: Response, profile: AssistantProfile | null = null): Promise<RunRecord> {
    if (run.settled_response_ids.includes(response.id)) return run
    const usage = usageOf(response)
    await budgets.settle(run.reservation_id ?? `${run.id}:${response.id}`, {
      user: run.owner,
      assistant: run.assistant_type,
      model: run.model,
      responseModel: response.model,
      usage,
      runs: run.settled_response_ids.length === 0 ? 1 : 0
    })
    const now = seconds()
    const messages = response.output.filter(o => o.type === 'message')
    if (messages.length > 0) {
      await store.putMessages(messages.map(m => ({
        thread_id: run.thread_id, item_id: m.id, created_at: now, run_id: run.id, attachments: [], metadata: null, assistant_id: run.assistant_type
      })))
    }
    ctx.messages.finish(run, response)
    // A response that ended without being kept (failed, cancelled) did not add its input to the conversation:
    // its tool outputs stay pending, for the run's end to hand them over so no call is left unanswered.
    const kept = response.status === 'completed' || response.status === 'incomplete'
    const calls = response.status === 'completed' ? functionCalls(response) : []
    // The conversation now holds this response's input and output: the next one reads about that much.
    await store.updateThread(run.thread_id, { token_estimate: usage.input_tokens + usage.output_tokens, ...(kept ? { turn_tokens: await turnAfter(run, usage, calls.length > 0) } : {}) })
    const answered = kept ? completeOpenCalls(ctx, run, profile) : run.steps
    return update(ctx, {
      usage: addUsage(run.usage, usage),
      settled_response_ids: [...run.settled_response_ids, response.id],
      reservation_id: null,
      ...(kept ? { pending_input: null } : {}),
      steps: mergeSteps(answered, responseSteps(response, calls, now))
    })
  }

  /**
   * The thread's current turn once a kept response is settled: an answer ends it; a round of calls
   * continues it with the round's input (the previous calls' outputs) and its output (the calls).
   */
  async function turnAfter (run: RunRecord, usage: TokenUsage, continues: boolean): Promise<number | null> {
    if (!continues) return 0
    const turn = (await store.getThread(run.thread_id))?.turn_tokens ?? null
    return turn === null ? null : turn + Math.ceil(Buffer.byteLength(JSON.stringify(run.pending_input ?? []), 'utf8') / 2) + usage.output_tokens
  }

  /** The round's calls step, completed with the outputs the conversation now holds (a server tool's only if the profile shows them). */
  function completeOpenCalls (ctx: DriveContext, run: RunRecord, profile: AssistantProfile | null): RunRecord['steps'] {
    const open = openCallsStep(run.steps)
    if (!open) return run.steps
    const clientTools = new Set((profile?.client_tools ?? []).map(t => t.name))
    const shown = new Map(callOutputs(run.pending_input)
      .filter(o => profile?.show_tool_outputs || clientTools.has(open.tool_calls.find(c => c.id === o.call_id)?.name ?? ''))
      .map(o => [o.call_id, o.output]))
    const steps = completeCalls(run.steps, shown, seconds())
    const done = openCallsStep(run.steps) && steps?.find(s => s.id === open.id)
    if (done) events.publish(run.id, stepEvent('completed', run, done))
    return steps
  }

  async function afterResponse (ctx: DriveContext, run: RunRecord, response: Response, profile: AssistantProfile): Promise<RunRecord> {
    switch (response.status) {
      case 'completed': {
        const calls = functionCalls(response)
        if (calls.length === 0 || run.cancel_requested) return finish(ctx, run, run.cancel_requested ? 'cancelled' : 'completed')
        if (run.tool_rounds >= config.RUN_MAX_TOOL_ROUNDS) {
          return finish(ctx, run, 'failed', { last_error: { code: 'tool_round_limit', message: `The assistant asked for tools in more than ${config.RUN_MAX_TOOL_ROUNDS} rounds` } })
        }
        announceCalls(run)
        const clientTools = new Set(profile.client_tools.map(t => t.name))
        const forClient = calls.filter(call => clientTools.has(call.name))
        const context = { userId: run.owner, runId: run.id, threadId: run.thread_id }
        // Server-side tools of the round run here, also when the round waits for the client's.
        const outputs = await Promise.all(calls.filter(call => !clientTools.has(call.name)).map(async call => ({
          type: 'function_call_output' as const,
          call_id: call.call_id,
          output: await tools.execute(call, profile.tools, context, ctx.stop)
        })))
        if (forClient.length > 0) return pause(ctx, run, forClient, outputs)
        return update(ctx, { pending_input: outputs, tool_rounds: run.tool_rounds + 1 })
      }
      case 'incomplete':
        return finish(ctx, run, 'incomplete', { incomplete_details: { reason: response.incomplete_details?.reason ?? 'unknown' } })
      case 'cancelled':
        return finish(ctx, run, 'cancelled')
      default: {
        const code = response.error?.code ?? 'server_error'
        return finish(ctx, run, 'failed', { last_error: { code, message: FAILURE_MESSAGES[code] ?? 'OpenAI could not produce the answer' } })
      }
    }
  }

  /** Streams the round's function calls as the Assistants API did: the SDK's toolCallCreated/toolCallDelta see them. */
  function announceCalls (run: RunRecord): void {
    const open = openCallsStep(run.steps)
    if (!open) return
    events.publish(run.id, stepEvent('created', run, { ...open, tool_calls: [] }))
    events.publish(run.id, stepEvent('in_progress', run, { ...open, tool_calls: [] }))
    events.publish(run.id, callsDeltaEvent(open))
  }

  /**
   * The model called client tools: the run waits for the SPA in requires_action, holding its thread but
   * no lease — parked in the store until it expires (a paused run costs its record, nothing in memory).
   */
  async function pause (ctx: DriveContext, run: RunRecord, calls: ResponseFunctionToolCall[], serverOutputs: CallOutput[]): Promise<RunRecord> {
    const expiresAt = clock() + config.RUN_REQUIRES_ACTION_TTL_MS
    // The thread stays the run's through the pause and what follows it.
    const held = await store.lockThread(run.thread_id, run.id, expiresAt - clock() + config.RUN_MAX_DURATION_MS + 60_000)
    if (held === null) log.warn({ runId: run.id }, 'a paused run no longer holds its thread')
    const requiredAction: RequiredAction = {
      type: 'submit_tool_outputs',
      submit_tool_outputs: { tool_calls: calls.map(call => ({ id: call.call_id, type: 'function', function: { name: call.name, arguments: call.arguments } })) }
    }
    const paused = await update(ctx, {
      status: 'requires_action',
      required_action: requiredAction,
      expires_at: Math.floor(expiresAt / 1000),
      pending_input: serverOutputs,
      tool_rounds: run.tool_rounds + 1
    })
    events.publish(run.id, { event: 'thread.run.requires_action', data: toRunView(paused) })
    return park(ctx, paused, expiresAt)
  }

  /** Hands a paused run's lease back, parked until `until`: then the sweeper's claim expires it. */
  async function park (ctx: DriveContext, run: RunRecord, until: number): Promise<never> {
    await leases.release(run.id, ctx.fence, until)
    throw new StopDriving('paused')
  }

  /**
   * A run that ends with function calls the conversation holds no output for (cancelled after a tool
   * round, out of rounds, expired, failed mid-round) would break the thread's next run: OpenAI refuses a
   * conversation with an unanswered call. Its pending outputs, and an explanation for the rest, go in.
   */
  async function answerOpenCalls (run: RunRecord, status: RunStatus): Promise<void> {
    const outputs = callOutputs(run.pending_input)
    const answered = new Set(outputs.map(o => o.call_id))
    const reason = ENDED_CALL_OUTPUTS[status] ?? ENDED_CALL_OUTPUTS.failed
    for (const call of openCallsStep(run.steps)?.tool_calls ?? []) {
      if (!answered.has(call.id)) outputs.push({ type: 'function_call_output', call_id: call.id, output: JSON.stringify({ error: status, message: reason }) })
    }
    if (outputs.length === 0) return
    await upstream.append(run.thread_id, outputs)
      .catch(err => log.warn({ err, runId: run.id }, 'could not answer the open function calls; the thread\'s next run may be refused'))
  }

  async function finish (ctx: DriveContext, run: RunRecord, status: RunStatus, extra: Partial<RunRecord> = {}): Promise<RunRecord> {
    if (run.reservation_id) await budgets.release(run.reservation_id)
    if (status !== 'completed') await answerOpenCalls(run, status)
    const now = seconds()
    const stepEnd = status === 'cancelled' || status === 'expired' ? status : 'failed'
    const ended = (run.steps ?? []).filter(s => s.status === 'in_progress')
    const updated = await update(ctx, {
      status,
      reservation_id: null,
      pending_input: null,
      required_action: null,
      creating_since: null,
      completed_at: status === 'completed' ? now : null,
      cancelled_at: status === 'cancelled' ? now : null,
      failed_at: status === 'failed' ? now : null,
      steps: endSteps(run.steps, stepEnd, now),
      ...extra
    })
    for (const step of ended) events.publish(run.id, stepEvent(stepEnd, run, { ...step, status: stepEnd, ended_at: now }))
    metrics?.runs.inc({ assistant: run.assistant_type, status })
    events.publish(run.id, { event: `thread.run.${status as 'completed' | 'incomplete' | 'failed' | 'cancelled' | 'expired'}`, data: toRunView(updated) })
    return updated
  }

  return {
    kick,
    /** Identifies this process in run leases. */
    workerId: leases.workerId,
    /** Runs this process is driving (or about to: kicked, claiming the lease). */
    isDriving: (runId: string) => driving.has(runId) || starting.has(runId),
    /** How many runs this process drives now (the runs_in_flight gauge). */
    drivingCount: () => driving.size,
    /** Interrupts the current wait of a locally driven run so it sees a cancel at once. */
    wake (runId: string): void {
      driving.get(runId)?.wake()
    },
    /** Stops driving everything and hands the leases back so the runs resume elsewhere (or at next start). */
    async shutdown (): Promise<void> {
      closing = true
      for (const entry of driving.values()) entry.stop.abort(new StopDriving('shutdown'))
      const deadline = Date.now() + 5000
      while (driving.size > 0 && Date.now() < deadline) await sleep(10, AbortSignal.timeout(1000))
      leases.close()
      upstream.close()
    }
  }
}
export type RunDriver = ReturnType<typeof createRunDriver>
