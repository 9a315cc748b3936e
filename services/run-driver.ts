import OpenAI from 'openai'
import type { FastifyBaseLogger } from 'fastify'
import type {
  Response, ResponseCreateParamsBase, ResponseFunctionToolCall, ResponseInputItem, ResponseOutputMessage, ResponseStreamEvent
} from 'openai/resources/responses/responses'
import type { Stream } from 'openai/core/streaming'
import type { AssistantService } from './assistant-service.ts'
import { ZERO_USAGE, type BudgetService, type TokenUsage } from './budget-service.ts'
import type { Config } from './config.ts'
import { StoreUnavailable, isGatewayError } from './errors.ts'
import type { Metrics } from './metrics.ts'
import type { RunEvent, RunEvents } from './run-events.ts'
import { isActiveRunStatus, type AssistantProfile, type RunRecord, type RunStatus, type Store } from './store/types.ts'
import type { ToolRegistry } from './tools/registry.ts'

export interface RunDriverDeps {
  openai: OpenAI
  store: Store
  budgets: BudgetService
  tools: ToolRegistry
  assistants: AssistantService
  events: RunEvents
  config: Config
  log: FastifyBaseLogger
  clock: () => number
  metrics?: Metrics
  /** Identifies this process in run leases. */
  workerId: string
}

const TERMINAL_UPSTREAM = new Set(['completed', 'failed', 'cancelled', 'incomplete'])
/** A stream that says nothing for this long is abandoned for polling (reasoning can pause output). */
const STREAM_IDLE_MS = 30_000
const STREAM_RESUMES = 2
const POLL_CALL_TIMEOUT_MS = 15_000
const CREATE_ATTEMPTS = 3
const CANCEL_SETTLE_MS = 10_000
/**
 * Runs beyond the stream limit are polled; their polls are paced so that, together, they stay near
 * this many per second however many runs wait (OpenAI counts polls against the request rate limit).
 */
const OVERFLOW_POLLS_PER_SECOND = 50

type Stop = 'lease_lost' | 'shutdown'
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

export function usageOf (response: Pick<Response, 'usage'>): TokenUsage {
  const u = response.usage
  if (!u) return { ...ZERO_USAGE }
  return {
    input_tokens: u.input_tokens ?? 0,
    cached_tokens: u.input_tokens_details?.cached_tokens ?? 0,
    output_tokens: u.output_tokens ?? 0,
    reasoning_tokens: u.output_tokens_details?.reasoning_tokens ?? 0,
    total_tokens: u.total_tokens ?? 0
  }
}

function addUsage (a: TokenUsage | null, b: TokenUsage): TokenUsage {
  const base = a ?? ZERO_USAGE
  return {
    input_tokens: base.input_tokens + b.input_tokens,
    cached_tokens: base.cached_tokens + b.cached_tokens,
    output_tokens: base.output_tokens + b.output_tokens,
    reasoning_tokens: base.reasoning_tokens + b.reasoning_tokens,
    total_tokens: base.total_tokens + b.total_tokens
  }
}

function sleep (ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve() }, ms)
    const onAbort = () => { clearTimeout(timer); reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** Upper estimate of the input of a round: the thread so far, the instructions and tools, the new input. */
export function estimateInputTokens (threadEstimate: number, profile: AssistantProfile, toolChars: number, input: unknown[]): number {
  // UTF-8 bytes, like estimateTokens; the tool definitions are ASCII JSON.
  return threadEstimate + Math.ceil((Buffer.byteLength(profile.instructions, 'utf8') + toolChars + Buffer.byteLength(JSON.stringify(input), 'utf8')) / 2) + 64
}

const functionCalls = (response: Response) => response.output.filter((o): o is ResponseFunctionToolCall => o.type === 'function_call')

/**
 * Drives runs to their end. A run is a chain of background responses on the thread's conversation:
 * each round is created streamed (completion is seen the moment it happens, and deltas reach
 * streaming clients), with polling as the path that always works. Tool calls are executed here and
 * their outputs start the next round. Every step is persisted under a lease with a fence, so a run
 * whose process died is resumed elsewhere from the last upstream response — never a duplicate
 * response, never usage counted twice.
 */
export function createRunDriver (deps: RunDriverDeps) {
  const { openai, store, budgets, tools, assistants, events, config, log, clock, metrics, workerId } = deps
  const leaseMs = config.RUN_LEASE_MS
  const driving = new Map<string, { stop: AbortController, wake: () => void, fence: number }>()
  /** Open upstream streams and when each last said something. */
  const streams = new Map<Stream<ResponseStreamEvent>, number>()
  /** Runs waiting on an upstream response by polling it. */
  const polling = new Set<string>()
  let closing = false

  // One ticker for every run this process drives (not a timer per run): it renews their leases and
  // abandons upstream streams that went silent (the polling path takes over).
  let renewing = false
  const ticker = setInterval(() => {
    const now = Date.now()
    for (const [stream, lastEventAt] of streams) if (now - lastEventAt > STREAM_IDLE_MS) stream.controller.abort()
    if (renewing || driving.size === 0) return
    renewing = true
    Promise.all([...driving].map(([runId, entry]) => store.renewRun(runId, workerId, entry.fence, leaseMs)
      .then(held => { if (!held) entry.stop.abort(new StopDriving('lease_lost')) })
      .catch(err => log.warn({ err, runId }, 'lease renewal failed'))))
      .finally(() => { renewing = false })
  }, Math.max(100, Math.min(Math.floor(leaseMs / 3), STREAM_IDLE_MS / 3)))
  ticker.unref()

  const seconds = () => Math.floor(clock() / 1000)

  /** Runs kicked here whose driver has not registered yet (it first claims the lease). */
  const starting = new Set<string>()

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
    const fence = await store.claimRun(runId, workerId, leaseMs)
    if (fence === null) return
    const stop = new AbortController()
    // The current wait, aborted on stop, on deadline or when the run is woken (cancel). Linked to
    // `stop` by hand: AbortSignal.any would leave a composite signal behind for every wait.
    let current: AbortController | null = null
    const wake = () => current?.abort('wake')
    stop.signal.addEventListener('abort', () => current?.abort(stop.signal.reason), { once: true })
    driving.set(runId, { stop, wake, fence })
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
        if (stopped.reason === 'shutdown') await store.releaseRun(runId, workerId, fence).catch(() => false)
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
      driving.delete(runId)
    }
  }

  interface DriveContext { runId: string, fence: number, stop: AbortSignal, messages: MessageRelay, waitSignal: () => AbortSignal }

  async function update (ctx: DriveContext, patch: Partial<RunRecord>): Promise<RunRecord> {
    const updated = await store.updateRun(ctx.runId, patch, ctx.fence)
    if (!updated) throw new StopDriving('lease_lost')
    return updated
  }

  async function loop (ctx: DriveContext): Promise<void> {
    let run = await store.getRun(ctx.runId)
    const deadlineTimer = run && setTimeout(() => driving.get(ctx.runId)?.wake(), Math.max(0, run.deadline_at - clock()))
    deadlineTimer?.unref()
    try {
      while (run && isActiveRunStatus(run.status)) {
        if (ctx.stop.aborted) throw ctx.stop.reason
        run = await step(ctx, run)
      }
    } finally {
      clearTimeout(deadlineTimer ?? undefined)
    }
  }

  /** One step of the state machine; returns the run as persisted after it. */
  async function step (ctx: DriveContext, run: RunRecord): Promise<RunRecord> {
    const current = run.response_ids.at(-1)
    const unsettled = current && !run.settled_response_ids.includes(current) ? current : null

    if (run.cancel_requested || clock() >= run.deadline_at) {
      const timedOut = !run.cancel_requested
      if (unsettled) {
        await openai.responses.cancel(unsettled).catch(err => log.warn({ err, runId: run.id }, 'upstream cancel failed'))
        const final = await pollUntilEnd(unsettled, AbortSignal.any([ctx.stop, AbortSignal.timeout(CANCEL_SETTLE_MS)])).catch(() => null)
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
      const final = await awaitResponse(ctx, run, unsettled, null)
      if (!final) return (await store.getRun(run.id)) ?? run
      run = await settle(ctx, run, final)
      return afterResponse(ctx, run, final, profile)
    }

    if (run.creating_since !== null) {
      // The process died while creating a response: it may exist upstream without our knowing its id.
      // Starting another could answer twice, so the run ends here; any answer still lands in the thread.
      return finish(ctx, run, 'failed', { last_error: { code: 'resume_uncertain', message: 'The gateway restarted while starting the answer; it may still appear in the thread' } })
    }

    if (current && run.pending_input === null) {
      // Settled, but what followed was not recorded (crash between steps): decide again from the response.
      const last = await openai.responses.retrieve(current, {}, { signal: ctx.stop, timeout: POLL_CALL_TIMEOUT_MS })
      return afterResponse(ctx, run, last, profile)
    }

    return startRound(ctx, run, profile, (run.pending_input ?? []) as ResponseInputItem[])
  }

  async function startRound (ctx: DriveContext, run: RunRecord, profile: AssistantProfile, input: ResponseInputItem[]): Promise<RunRecord> {
    const round = run.response_ids.length
    const toolDefinitions = tools.definitions(profile.tools)
    const maxOutput = run.max_output_tokens ?? profile.max_output_tokens
    let reservationId = run.reservation_id
    if (!reservationId) {
      reservationId = `${run.id}:r${round}`
      const thread = await store.getThread(run.thread_id)
      try {
        await budgets.reserveTokens({
          id: reservationId,
          user: run.owner,
          assistant: run.assistant_type,
          tokens: estimateInputTokens(thread?.token_estimate ?? 0, profile, JSON.stringify(toolDefinitions).length, input) + maxOutput,
          assistantCap: profile.daily_token_cap,
          expiresAt: run.deadline_at + 60_000
        })
      } catch (err) {
        if (isGatewayError(err) && err.code === 'BUDGET_EXCEEDED') {
          return finish(ctx, run, 'failed', { last_error: { code: 'budget_exceeded', message: err.message } })
        }
        throw err
      }
    }
    run = await update(ctx, {
      reservation_id: reservationId,
      creating_since: clock(),
      status: run.status === 'queued' ? 'in_progress' : run.status,
      started_at: run.started_at ?? seconds()
    })
    if (round === 0) events.publish(run.id, { event: 'thread.run.in_progress', data: toRunView(run) })

    // Each open upstream stream holds a connection and its buffers. Past the limit, runs that no
    // client is streaming are created unstreamed and polled: memory stays bounded however many wait.
    const streamed = run.stream || streams.size < config.RUN_MAX_UPSTREAM_STREAMS
    const params: ResponseCreateParamsBase = {
      model: profile.model,
      instructions: profile.instructions,
      conversation: run.thread_id,
      ...(input.length > 0 ? { input } : {}),
      ...(toolDefinitions.length > 0 ? { tools: toolDefinitions, tool_choice: 'auto' as const, parallel_tool_calls: true } : {}),
      max_output_tokens: maxOutput,
      ...(run.temperature !== null ? { temperature: run.temperature } : {}),
      ...(run.top_p !== null ? { top_p: run.top_p } : {}),
      background: true,
      store: true,
      ...(streamed ? { stream: true, stream_options: { include_obfuscation: false } } : {}),
      metadata: { gateway_run_id: run.id, gateway_round: String(round) }
    }
    let created: Stream<ResponseStreamEvent> | Response
    try {
      created = await createResponse(params, ctx.stop)
    } catch (err) {
      if (ctx.stop.aborted) throw err
      log.warn({ err, runId: run.id }, 'could not start the upstream response')
      const code = err instanceof OpenAI.APIError && err.code === 'conversation_locked' ? 'upstream_uncertain' : 'upstream_error'
      run = await update(ctx, { creating_since: null })
      return finish(ctx, run, 'failed', {
        last_error: code === 'upstream_uncertain'
          ? { code, message: 'OpenAI may have started the answer but the connection broke; it may still appear in the thread' }
          : { code, message: 'OpenAI could not start the answer' }
      })
    }
    let stream: Stream<ResponseStreamEvent> | null = null
    if ('id' in created && typeof created.id === 'string') {
      run = await update(ctx, { response_ids: [...run.response_ids, created.id], creating_since: null, pending_input: null })
    } else {
      stream = created as Stream<ResponseStreamEvent>
    }
    const final = await awaitResponse(ctx, run, stream ? null : run.response_ids.at(-1)!, stream)
    run = (await store.getRun(run.id)) ?? run
    if (!final) return run
    run = await settle(ctx, run, final)
    return afterResponse(ctx, run, final, profile)
  }

  /**
   * Creates the upstream response. Retried only while the upstream has said it did not create it
   * (429/5xx); a retry that finds the conversation locked means an earlier attempt did create it.
   */
  async function createResponse (params: ResponseCreateParamsBase, signal: AbortSignal): Promise<Stream<ResponseStreamEvent> | Response> {
    let lastError: unknown
    for (let attempt = 1; attempt <= CREATE_ATTEMPTS; attempt++) {
      try {
        return await openai.responses.create(params, { signal, maxRetries: 0 })
      } catch (err) {
        lastError = err
        const retryable = err instanceof OpenAI.APIConnectionError ||
          (err instanceof OpenAI.APIError && err.status !== undefined && (err.status === 429 || err.status >= 500))
        if (!retryable || attempt === CREATE_ATTEMPTS || signal.aborted) throw err
        await sleep(200 * attempt ** 2, signal)
      }
    }
    throw lastError
  }

  /**
   * Waits for a response to end: from its stream while one is open (resumed with starting_after
   * when it drops), then by polling. Returns null when woken (cancel, deadline) before it ended.
   */
  async function awaitResponse (ctx: DriveContext, run: RunRecord, knownId: string | null, stream: Stream<ResponseStreamEvent> | null): Promise<Response | null> {
    const signal = ctx.waitSignal()
    const state = { id: knownId, lastSeq: -1 }
    try {
      if (stream) {
        let final = await consume(ctx, run, stream, state, signal)
        for (let resume = 0; !final && state.id && resume < STREAM_RESUMES && !signal.aborted; resume++) {
          const resumed = await openai.responses.retrieve(state.id, { stream: true, starting_after: state.lastSeq }, { signal, maxRetries: 1 })
            .catch(err => { log.info({ err, runId: run.id }, 'could not resume the upstream stream'); return null })
          if (!resumed) break
          final = await consume(ctx, run, resumed, state, signal)
        }
        if (final) return final
      }
      if (!state.id) {
        // The stream broke before naming the response: the create may or may not have happened.
        return null
      }
      return await pollUntilEnd(state.id, signal, run.id)
    } catch (err) {
      if (!(err instanceof StopDriving) && signal.aborted && !ctx.stop.aborted) return null
      throw err
    }
  }

  async function consume (ctx: DriveContext, run: RunRecord, stream: Stream<ResponseStreamEvent>, state: { id: string | null, lastSeq: number }, signal: AbortSignal): Promise<Response | null> {
    const onAbort = () => stream.controller.abort()
    signal.addEventListener('abort', onAbort, { once: true })
    streams.set(stream, Date.now())
    try {
      for await (const event of stream) {
        streams.set(stream, Date.now())
        state.lastSeq = event.sequence_number
        if (event.type === 'response.created' && !state.id) {
          state.id = event.response.id
          // Recorded before anything else happens: from here on a crash resumes this response.
          const updated = await update(ctx, { response_ids: [...run.response_ids, event.response.id], creating_since: null, pending_input: null })
          Object.assign(run, updated)
        }
        ctx.messages.forward(run, event)
        if (endsResponse(event)) return event.response
      }
      return null
    } catch (err) {
      if (err instanceof StopDriving || signal.aborted || ctx.stop.aborted) throw err
      log.info({ err, runId: run.id }, 'upstream stream ended early')
      return null
    } finally {
      streams.delete(stream)
      signal.removeEventListener('abort', onAbort)
    }
  }

  /** The always-available path: retrieve until terminal, fast at first, backing off, honouring openai-poll-after-ms. */
  async function pollUntilEnd (responseId: string, signal: AbortSignal, runId = responseId): Promise<Response> {
    let delay = config.RUN_POLL_MIN_MS
    polling.add(runId)
    try {
      for (;;) {
        try {
          const { data, response } = await openai.responses.retrieve(responseId, {}, { signal, timeout: POLL_CALL_TIMEOUT_MS }).withResponse()
          if (data.status && TERMINAL_UPSTREAM.has(data.status)) return data
          const hint = Number(response.headers.get('openai-poll-after-ms'))
          await sleep(Number.isFinite(hint) && hint > 0 ? Math.min(hint, config.RUN_POLL_MAX_MS * 5) : delay, signal)
        } catch (err) {
          if (signal.aborted) throw err
          if (err instanceof OpenAI.APIError && err.status === 404) throw err
          log.warn({ err, responseId }, 'poll failed; retrying')
          await sleep(delay, signal)
        }
        // Backs off to RUN_POLL_MAX_MS, or slower when so many runs poll that they would flood upstream.
        const paced = Math.ceil(polling.size * 1000 / OVERFLOW_POLLS_PER_SECOND)
        delay = Math.min(Math.ceil(delay * 1.6), Math.max(config.RUN_POLL_MAX_MS, paced))
      }
    } finally {
      polling.delete(runId)
    }
  }

  /**
   * Adds a finished response's usage to the run, the budget and the ledger, and sends streaming
   * clients what they have not seen of its messages — once per response.
   */
  async function settle (ctx: DriveContext, run: RunRecord, response: Response): Promise<RunRecord> {
    if (run.settled_response_ids.includes(response.id)) return run
    const usage = usageOf(response)
    await budgets.settle(run.reservation_id ?? `${run.id}:${response.id}`, {
      user: run.owner,
      assistant: run.assistant_type,
      model: run.model,
      usage,
      runs: run.settled_response_ids.length === 0 ? 1 : 0
    })
    const now = seconds()
    const messages = response.output.filter(o => o.type === 'message')
    if (messages.length > 0) {
      await store.putMessages(messages.map(m => ({ thread_id: run.thread_id, item_id: m.id, created_at: now, run_id: run.id, attachments: [] })))
    }
    ctx.messages.finish(run, response)
    // The conversation now holds this response's input and output: the next one reads about that much.
    await store.updateThread(run.thread_id, { token_estimate: usage.input_tokens + usage.output_tokens })
    return update(ctx, { usage: addUsage(run.usage, usage), settled_response_ids: [...run.settled_response_ids, response.id], reservation_id: null })
  }

  async function afterResponse (ctx: DriveContext, run: RunRecord, response: Response, profile: AssistantProfile): Promise<RunRecord> {
    switch (response.status) {
      case 'completed': {
        const calls = functionCalls(response)
        if (calls.length === 0 || run.cancel_requested) return finish(ctx, run, run.cancel_requested ? 'cancelled' : 'completed')
        if (run.tool_rounds >= config.RUN_MAX_TOOL_ROUNDS) {
          return finish(ctx, run, 'failed', { last_error: { code: 'tool_round_limit', message: `The assistant asked for tools in more than ${config.RUN_MAX_TOOL_ROUNDS} rounds` } })
        }
        const context = { userId: run.owner, runId: run.id, threadId: run.thread_id }
        const outputs = await Promise.all(calls.map(async call => ({
          type: 'function_call_output' as const,
          call_id: call.call_id,
          output: await tools.execute(call, profile.tools, context, ctx.stop)
        })))
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

  async function finish (ctx: DriveContext, run: RunRecord, status: RunStatus, extra: Partial<RunRecord> = {}): Promise<RunRecord> {
    if (run.reservation_id) await budgets.release(run.reservation_id)
    const now = seconds()
    const updated = await update(ctx, {
      status,
      reservation_id: null,
      pending_input: null,
      creating_since: null,
      completed_at: status === 'completed' ? now : null,
      cancelled_at: status === 'cancelled' ? now : null,
      failed_at: status === 'failed' ? now : null,
      ...extra
    })
    metrics?.runs.inc({ assistant: run.assistant_type, status })
    events.publish(run.id, { event: `thread.run.${status as 'completed' | 'incomplete' | 'failed' | 'cancelled'}`, data: toRunView(updated) })
    return updated
  }

  return {
    kick,
    workerId,
    /** Runs this process is driving (or about to: kicked, claiming the lease). */
    isDriving: (runId: string) => driving.has(runId) || starting.has(runId),
    activeCount: () => driving.size,
    /** Interrupts the current wait of a locally driven run so it sees a cancel at once. */
    wake (runId: string): void {
      driving.get(runId)?.wake()
    },
    /** Stops driving everything and hands the leases back so the runs resume elsewhere (or at next start). */
    async shutdown (): Promise<void> {
      closing = true
      clearInterval(ticker)
      for (const entry of driving.values()) entry.stop.abort(new StopDriving('shutdown'))
      const deadline = Date.now() + 5000
      while (driving.size > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
    }
  }
}
export type RunDriver = ReturnType<typeof createRunDriver>

function messageView (run: Pick<RunRecord, 'id' | 'thread_id'>, itemId: string, text: string, createdAt: number) {
  return {
    id: itemId,
    object: 'thread.message',
    created_at: createdAt,
    thread_id: run.thread_id,
    role: 'assistant',
    run_id: run.id,
    content: text ? [{ type: 'text', text: { value: text, annotations: [] } }] : [],
    attachments: []
  }
}

/** The stream event that carries a response's end (it has no event for a cancelled one). */
export function endsResponse (event: ResponseStreamEvent): event is Extract<ResponseStreamEvent, { type: 'response.completed' | 'response.failed' | 'response.incomplete' }> {
  return event.type === 'response.completed' || event.type === 'response.failed' || event.type === 'response.incomplete'
}

/** The text of each content part of a message, by the part's index (a refusal has none). */
const partTexts = (message: ResponseOutputMessage) => message.content.map(part => part.type === 'output_text' ? part.text : '')

function deltaEvent (itemId: string, index: number, text: string): RunEvent {
  return { event: 'thread.message.delta', data: { id: itemId, object: 'thread.message.delta', delta: { content: [{ index, type: 'text', text: { value: text } }] } } }
}

/** The contract's message event for an upstream stream event, if it is one the SPA sees. */
function messageEventOf (event: ResponseStreamEvent, run: Pick<RunRecord, 'id' | 'thread_id'>, now: number): RunEvent | null {
  switch (event.type) {
    case 'response.output_item.added':
      return event.item.type === 'message' ? { event: 'thread.message.created', data: messageView(run, event.item.id, '', now) } : null
    case 'response.output_text.delta':
      return deltaEvent(event.item_id, event.content_index, event.delta)
    case 'response.output_item.done':
      if (event.item.type !== 'message') return null
      return { event: 'thread.message.completed', data: messageView(run, event.item.id, partTexts(event.item).join(''), now) }
    default:
      return null
  }
}

/**
 * Relays the message events of a run's upstream streams and remembers what was sent, so that a
 * response whose end is learnt another way (its stream dropped and it was polled, or it was never
 * streamed) can be finished from its output: clients always see message.created, deltas that add
 * up to the final text, then message.completed.
 */
export function createMessageRelay (emit: (event: RunEvent) => void, now: () => number) {
  /** Messages created but not completed: the text sent so far of each content part. */
  const sent = new Map<string, string[]>()
  const completed = new Set<string>()
  return {
    forward (run: Pick<RunRecord, 'id' | 'thread_id'>, event: ResponseStreamEvent): void {
      if (event.type === 'response.output_item.added' && event.item.type === 'message') {
        sent.set(event.item.id, [])
      } else if (event.type === 'response.output_text.delta') {
        const parts = sent.get(event.item_id) ?? []
        parts[event.content_index] = (parts[event.content_index] ?? '') + event.delta
        sent.set(event.item_id, parts)
      } else if (event.type === 'response.output_item.done' && event.item.type === 'message') {
        sent.delete(event.item.id)
        completed.add(event.item.id)
      }
      const mapped = messageEventOf(event, run, now())
      if (mapped) emit(mapped)
    },
    /** Sends what was not sent of the messages of a response that has ended. */
    finish (run: Pick<RunRecord, 'id' | 'thread_id'>, response: Response): void {
      for (const item of response.output) {
        if (item.type !== 'message') continue
        // Completed in the stream: nothing is missing (and it is forgotten).
        if (completed.delete(item.id)) continue
        const parts = sent.get(item.id)
        sent.delete(item.id)
        if (!parts) emit({ event: 'thread.message.created', data: messageView(run, item.id, '', now()) })
        const texts = partTexts(item)
        texts.forEach((text, index) => {
          const before = parts?.[index] ?? ''
          // Deltas cannot be taken back: should the final text not continue what was sent (upstream
          // does not rewrite text), message.completed still carries the final text.
          if (text.length > before.length && text.startsWith(before)) emit(deltaEvent(item.id, index, text.slice(before.length)))
        })
        emit({ event: 'thread.message.completed', data: messageView(run, item.id, texts.join(''), now()) })
      }
    }
  }
}
export type MessageRelay = ReturnType<typeof createMessageRelay>

/** The contract's Run object. */
export function toRunView (run: RunRecord) {
  const ended = !isActiveRunStatus(run.status)
  return {
    id: run.id,
    object: 'thread.run' as const,
    created_at: run.created_at,
    thread_id: run.thread_id,
    assistant_type: run.assistant_type,
    model: run.model,
    status: run.status,
    started_at: run.started_at,
    completed_at: run.completed_at,
    cancelled_at: run.cancelled_at,
    failed_at: run.failed_at,
    last_error: run.last_error,
    incomplete_details: run.incomplete_details,
    usage: ended && run.usage
      ? { prompt_tokens: run.usage.input_tokens, completion_tokens: run.usage.output_tokens, total_tokens: run.usage.total_tokens }
      : (ended ? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } : null),
    temperature: run.temperature,
    top_p: run.top_p,
    max_output_tokens: run.max_output_tokens
  }
}
