import { measureContext, usage } from './context.ts'
import { appendItems, checkMetadata, getConversation, isLocked, listPage, normalizeItems } from './conversations.ts'
import type { Conversation, Core, ResponseRecord, StreamListener, WireResponse } from './core.ts'
import { nowSeconds, TERMINAL_STATUSES } from './core.ts'
import { ApiError, badRequest, conversationLocked, missingParameter, notFound } from './errors.ts'
import type { Handler, RequestContext } from './http.ts'
import { openSse, send } from './http.ts'
import { base62Id, hexId } from './ids.ts'
import type { Item } from './scripted-model.ts'
import { responseRequestEntry } from './request-log.ts'
import { raiseSafetyNotice } from './safety.ts'
import { itemText, plan as planResponse } from './scripted-model.ts'

type Body = Record<string, unknown> & {
  model?: string
  input?: string | Array<Record<string, unknown>>
  conversation?: string | { id: string } | null
  previous_response_id?: string | null
  instructions?: string | Array<Record<string, unknown>> | null
  tools?: Array<Record<string, unknown>>
  tool_choice?: unknown
  parallel_tool_calls?: boolean | null
  background?: boolean | null
  stream?: boolean | null
  store?: boolean | null
  metadata?: Record<string, string> | null
  max_output_tokens?: number | null
  temperature?: number | null
  top_p?: number | null
  prompt_cache_key?: string | null
  prompt_cache_retention?: string | null
  truncation?: string | null
  context_management?: Array<Record<string, unknown>> | null
}

// Deltas per message: enough to look like streaming, few enough to keep timers cheap.
const MAX_DELTAS = 24
// Long benchmark runs create responses without end; the oldest finished ones are forgotten.
const MAX_RESPONSES = 50_000

function forgetOldest (core: Core): void {
  for (const [id, rec] of core.responses) {
    if (core.responses.size <= MAX_RESPONSES * 0.9) return
    if (TERMINAL_STATUSES.has(rec.wire.status)) core.responses.delete(id)
  }
}

function responseNotFound (id: string): ApiError {
  return notFound(`Response with id '${id}' not found.`)
}

/** Reasoning models accept only the default sampling values, like OpenAI's. */
function checkSampling (core: Core, body: Body): void {
  if (!core.config.sampleParamRejectPattern.test(String(body.model))) return
  for (const param of ['temperature', 'top_p'] as const) {
    const value = body[param]
    if (value !== undefined && value !== null && value !== 1) {
      throw badRequest(`Unsupported value: '${param}' does not support ${value} with this model. Only the default (1) value is supported.`, param, 'unsupported_value')
    }
  }
}

function instructionsText (instructions: Body['instructions']): string {
  if (typeof instructions === 'string') return instructions
  if (Array.isArray(instructions)) return instructions.map((i) => itemText(i as Item)).join('\n')
  return ''
}

/** The items a previous_response_id chain contributes, oldest first. */
function chainItems (core: Core, id: string): Item[] {
  const chain: Item[][] = []
  let cursor: string | null = id
  while (cursor) {
    const rec = core.responses.get(cursor)
    if (!rec) break
    chain.unshift([...rec.inputItems, ...rec.wire.output])
    cursor = (rec.wire.previous_response_id as string | null) ?? null
  }
  return chain.flat()
}

/**
 * OpenAI's pairing rules: every function_call_output answers a call the model made (in the context or
 * this input), and every call the model sees has its output — a round that leaves one out is refused.
 * Items before the latest compaction item are no longer in the context and are not checked.
 */
function checkToolPairs (context: Item[], input: Item[]): void {
  const calls = new Set<unknown>()
  const answered = new Set<unknown>()
  const start = lastCompaction(context)
  for (let i = Math.max(0, start); i < context.length; i++) {
    const item = context[i]
    if (item.type === 'function_call') calls.add(item.call_id)
    else if (item.type === 'function_call_output') answered.add(item.call_id)
  }
  input.forEach((item, index) => {
    if (item.type === 'compaction') {
      calls.clear()
      answered.clear()
    } else if (item.type === 'function_call') {
      calls.add(item.call_id)
    } else if (item.type === 'function_call_output') {
      if (typeof item.call_id !== 'string') throw missingParameter(`input[${index}].call_id`)
      if (!calls.has(item.call_id)) throw badRequest(`No tool call found for function call output with call_id ${item.call_id}.`, 'input')
      answered.add(item.call_id)
    }
  })
  for (const call of calls) {
    if (!answered.has(call)) throw badRequest(`No tool output found for function call ${String(call)}.`, 'input')
  }
}

function lastCompaction (items: Item[]): number {
  for (let i = items.length - 1; i >= 0; i--) if (items[i].type === 'compaction') return i
  return -1
}

function initialWire (id: string, body: Body, conversationId: string | null): WireResponse {
  const reasoning = (body.reasoning ?? {}) as Record<string, unknown>
  return {
    id,
    object: 'response',
    created_at: nowSeconds(),
    status: body.background ? 'queued' : 'in_progress',
    background: body.background ?? false,
    completed_at: null,
    conversation: conversationId ? { id: conversationId } : null,
    error: null,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    max_tool_calls: body.max_tool_calls ?? null,
    model: body.model as string,
    output: [],
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    prompt_cache_key: body.prompt_cache_key ?? null,
    reasoning: { effort: reasoning.effort ?? null, summary: reasoning.summary ?? null },
    safety_identifier: body.safety_identifier ?? null,
    service_tier: 'default',
    store: body.store ?? true,
    temperature: body.temperature ?? 1,
    text: body.text ?? { format: { type: 'text' }, verbosity: 'medium' },
    tool_choice: body.tool_choice ?? 'auto',
    tools: body.tools ?? [],
    top_logprobs: body.top_logprobs ?? 0,
    top_p: body.top_p ?? 1,
    truncation: body.truncation ?? 'disabled',
    usage: null,
    ...(typeof body.user === 'string' ? { user: body.user } : {}),
    metadata: body.metadata ?? {}
  }
}

/** Validates a create request against OpenAI's semantic rules and builds its (not yet started) record. */
export function prepareResponse (core: Core, body: Body, stuckFault: boolean): ResponseRecord {
  if (typeof body.model !== 'string' || body.model === '') throw missingParameter('model')
  checkSampling(core, body)
  checkMetadata(body.metadata)
  const conversationRef = typeof body.conversation === 'string' ? body.conversation : body.conversation?.id ?? null
  if (conversationRef !== null && body.previous_response_id) {
    throw badRequest('Mutually exclusive parameters: Ensure you are only providing one of: \'previous_response_id\' or \'conversation\'.', 'conversation', 'mutually_exclusive_parameters')
  }
  let conversation: Conversation | null = null
  if (conversationRef !== null) {
    conversation = getConversation(core, conversationRef, 'conversation')
    if (isLocked(core, conversation)) throw conversationLocked()
  }
  let context: Item[] = conversation ? conversation.items : []
  if (body.previous_response_id) {
    const previous = core.responses.get(body.previous_response_id)
    if (!previous || !previous.stored) throw notFound(`Previous response with id '${body.previous_response_id}' not found.`, 'previous_response_id')
    context = chainItems(core, body.previous_response_id)
  }
  if (body.input === undefined && conversation === null && !body.previous_response_id) throw missingParameter('input')

  const rawInput = typeof body.input === 'string'
    ? [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: body.input }] }]
    : body.input ?? []
  const input = normalizeItems(core, rawInput, conversation, 'input')

  checkToolPairs(context, input)

  const plan = planResponse({
    model: body.model,
    input,
    context,
    tools: body.tools ?? [],
    toolChoice: body.tool_choice ?? 'auto',
    parallelToolCalls: body.parallel_tool_calls ?? true,
    maxOutputTokens: body.max_output_tokens ?? null
  })
  if (stuckFault) plan.stuck = true
  const measured = measureContext(core.config, core.promptCache, {
    model: body.model,
    instructions: instructionsText(body.instructions),
    tools: body.tools,
    promptCacheKey: body.prompt_cache_key ?? null,
    promptCacheRetention: body.prompt_cache_retention,
    truncation: body.truncation,
    contextManagement: body.context_management,
    context,
    input
  })

  const id = hexId('resp_')
  const background = body.background === true
  const streamed = body.stream === true
  const rec: ResponseRecord = {
    id,
    wire: initialWire(id, body, conversation?.id ?? null),
    background,
    streamed,
    stored: body.store !== false,
    conversationId: conversation?.id ?? null,
    inputItems: input,
    plan,
    measured,
    request: null,
    frames: background && streamed ? [] : null,
    seq: 0,
    listeners: new Set(),
    waiters: [],
    steps: [],
    next: 0,
    timer: null,
    json: null
  }
  rec.steps = buildSteps(core, rec)
  core.responses.set(id, rec)
  if (core.responses.size > MAX_RESPONSES) forgetOldest(core)
  if (conversation) conversation.activeResponse = id
  return rec
}

function emit (rec: ResponseRecord, type: string, payload: Record<string, unknown>): void {
  const sequence = rec.seq++
  if (rec.frames === null && rec.listeners.size === 0) return
  const frame = `event: ${type}\ndata: ${JSON.stringify({ type, ...payload, sequence_number: sequence })}\n\n`
  rec.frames?.push(frame)
  for (const listener of rec.listeners) listener.frame(frame)
}

function splitDeltas (text: string): string[] {
  const pieces = text.match(/\S+\s*|\s+/g) ?? [text]
  const per = Math.ceil(pieces.length / MAX_DELTAS)
  const out: string[] = []
  for (let i = 0; i < pieces.length; i += per) out.push(pieces.slice(i, i + per).join(''))
  return out.length > 0 ? out : ['']
}

function buildSteps (core: Core, rec: ResponseRecord): ResponseRecord['steps'] {
  const { plan } = rec
  const steps: ResponseRecord['steps'] = []
  const at = (delay: number, run: () => void) => steps.push({ delay, run })
  const lifecycle = (type: string) => emit(rec, type, { response: rec.wire })

  if (rec.background) {
    at(0, () => { lifecycle('response.created'); lifecycle('response.queued') })
    if (plan.stuck) return steps
    at(core.config.queueMs, () => { rec.wire.status = 'in_progress'; lifecycle('response.in_progress') })
  } else {
    at(0, () => { lifecycle('response.created'); lifecycle('response.in_progress') })
  }

  const deltas = plan.text === null ? [] : splitDeltas(plan.text)
  const units = deltas.length + plan.calls.length
  const generationMs = plan.generationMs ?? core.config.generationMs
  const per = core.config.streamChunkMs ?? generationMs / (units + 1)
  const output = rec.wire.output

  const compaction = rec.measured.compaction
  if (compaction !== null && plan.status !== 'failed') {
    // Compaction runs before sampling: its item comes first and replaces the older context from then on.
    at(0, () => {
      output.push(compaction)
      emit(rec, 'response.output_item.added', { output_index: output.length - 1, item: compaction })
      emit(rec, 'response.output_item.done', { output_index: output.length - 1, item: compaction })
    })
  }

  if (plan.text !== null) {
    const item: Item = { id: hexId('msg_'), type: 'message', status: 'in_progress', content: [], role: 'assistant' }
    const part = { type: 'output_text', annotations: [], logprobs: [], text: '' }
    const ids = { item_id: item.id, output_index: 0, content_index: 0 }
    at(0, () => {
      output.push(item)
      ids.output_index = output.length - 1
      emit(rec, 'response.output_item.added', { output_index: ids.output_index, item })
      ;(item.content as unknown[]).push(part)
      emit(rec, 'response.content_part.added', { ...ids, part })
    })
    for (const delta of deltas) {
      at(per, () => {
        part.text += delta
        emit(rec, 'response.output_text.delta', { ...ids, delta, logprobs: [] })
      })
    }
    at(0, () => {
      emit(rec, 'response.output_text.done', { ...ids, text: part.text, logprobs: [] })
      emit(rec, 'response.content_part.done', { ...ids, part })
      item.status = plan.status === 'incomplete' ? 'incomplete' : 'completed'
      emit(rec, 'response.output_item.done', { output_index: ids.output_index, item })
    })
  }
  for (const call of plan.calls) {
    const item: Item = { id: hexId('fc_'), type: 'function_call', status: 'in_progress', arguments: '', call_id: base62Id('call_'), name: call.name }
    const ids = { item_id: item.id, output_index: 0 }
    at(0, () => {
      output.push(item)
      ids.output_index = output.length - 1
      emit(rec, 'response.output_item.added', { output_index: ids.output_index, item })
    })
    at(per, () => {
      item.arguments = call.arguments
      emit(rec, 'response.function_call_arguments.delta', { ...ids, delta: call.arguments })
    })
    at(0, () => {
      emit(rec, 'response.function_call_arguments.done', { ...ids, name: call.name, arguments: call.arguments })
      item.status = 'completed'
      emit(rec, 'response.output_item.done', { output_index: ids.output_index, item })
    })
  }
  at(plan.status === 'failed' ? generationMs : per, () => finish(core, rec))
  return steps
}

function release (core: Core, rec: ResponseRecord): void {
  const conversation = rec.conversationId ? core.conversations.get(rec.conversationId) : undefined
  if (conversation?.activeResponse === rec.id) conversation.activeResponse = null
}

function settle (core: Core, rec: ResponseRecord, terminalEvent: string): void {
  rec.steps = []
  rec.next = 0
  rec.json = JSON.stringify(rec.wire)
  emit(rec, terminalEvent, { response: rec.wire })
  for (const listener of rec.listeners) listener.end()
  rec.listeners.clear()
  for (const resolve of rec.waiters.splice(0)) resolve()
  // OpenAI sends response.* webhooks for background responses only.
  if (rec.background && core.webhooks.enabled) core.webhooks.emit(`response.${rec.wire.status}`, { id: rec.id })
  if (rec.plan.safety !== null) raiseSafetyNotice(core, rec)
}

function finish (core: Core, rec: ResponseRecord): void {
  const { wire, plan } = rec
  wire.status = plan.status
  if (plan.status === 'completed') wire.completed_at = nowSeconds()
  if (plan.status === 'failed') {
    wire.error = { code: 'server_error', message: 'The model failed to generate a response (simulated by the [fail] directive).' }
  }
  if (plan.status === 'incomplete') wire.incomplete_details = { reason: 'max_output_tokens' }
  wire.usage = usage(rec.measured, plan.status === 'failed' ? 0 : plan.outputTokens)
  // Conversation items are written when the response ends with output, never before.
  if (rec.conversationId && plan.status !== 'failed') {
    const conversation = core.conversations.get(rec.conversationId)
    if (conversation) appendItems(conversation, [...rec.inputItems, ...wire.output])
  }
  release(core, rec)
  settle(core, rec, `response.${plan.status}`)
}

/** Runs the record's steps, waiting on a timer before each one that has a delay. */
export function advance (core: Core, rec: ResponseRecord): void {
  while (rec.next < rec.steps.length) {
    const step = rec.steps[rec.next]
    if (step.delay > 0 && rec.timer === null) {
      rec.timer = core.timers.after(step.delay, () => {
        step.delay = 0
        rec.timer = null
        advance(core, rec)
      })
      return
    }
    if (rec.timer !== null) return
    rec.next++
    step.run()
  }
}

export function cancelResponse (core: Core, rec: ResponseRecord): void {
  if (TERMINAL_STATUSES.has(rec.wire.status)) return
  core.timers.cancel(rec.timer)
  rec.timer = null
  rec.next = rec.steps.length
  rec.wire.status = 'cancelled'
  for (const item of rec.wire.output) if (item.status === 'in_progress') item.status = 'incomplete'
  release(core, rec)
  // The stream event union has no "cancelled" event; response.incomplete is the lifecycle event the
  // SDK (raw stream and ResponseStream helper alike) accepts, and its response says status: 'cancelled'.
  settle(core, rec, 'response.incomplete')
}

const DELTA_FRAME = /^event: response\.[a-z_.]+\.delta\n/
const OBFUSCATION_PAD = 'aZ3kQ9xW2mP7rT5vB8nC4dF6gH1jL0sY'

/**
 * OpenAI pads every delta event with an `obfuscation` field (random characters, so a delta's size does not
 * give its content away on the wire) unless the stream was asked without it (`stream_options.include_obfuscation:
 * false` on create, `include_obfuscation=false` on a retrieve): a client that forgets pays those bytes.
 */
function obfuscated (frame: string): string {
  if (!DELTA_FRAME.test(frame)) return frame
  const pad = OBFUSCATION_PAD.slice(0, 8 + (frame.length % 24))
  return `${frame.slice(0, -3)},"obfuscation":"${pad}"}\n\n`
}

function subscribe (ctx: RequestContext, rec: ResponseRecord, replayFrom: number | null, obfuscate: boolean): void {
  let listener: StreamListener | null = null
  const writer = openSse(ctx, () => { if (listener) rec.listeners.delete(listener) })
  const write = obfuscate ? (frame: string) => writer.write(obfuscated(frame)) : (frame: string) => writer.write(frame)
  if (obfuscate) ctx.core.obfuscatedStreams++
  if (replayFrom !== null && rec.frames) {
    for (const frame of rec.frames.slice(replayFrom)) write(frame)
  }
  if (TERMINAL_STATUSES.has(rec.wire.status)) {
    writer.end()
    return
  }
  if (writer.closed) return
  listener = { frame: write, end: () => writer.end() }
  rec.listeners.add(listener)
}

export const createResponse: Handler = async (ctx) => {
  const body = ctx.body as Body
  const entry = ctx.core.requestLog.record(responseRequestEntry(body))
  let rec: ResponseRecord
  try {
    rec = prepareResponse(ctx.core, body, ctx.fault.stuckQueued === true)
  } catch (error) {
    if (error instanceof ApiError) {
      entry.status = error.status
      entry.error = error.code ?? error.message
    }
    throw error
  }
  entry.response_id = rec.id
  rec.request = entry
  if (rec.streamed) {
    const options = body.stream_options as { include_obfuscation?: unknown } | null | undefined
    subscribe(ctx, rec, null, options?.include_obfuscation !== false)
    advance(ctx.core, rec)
    return
  }
  if (rec.background) {
    advance(ctx.core, rec)
    send(ctx, 200, rec.wire)
    return
  }
  const done = new Promise<void>((resolve) => rec.waiters.push(resolve))
  advance(ctx.core, rec)
  await done
  send(ctx, 200, rec.json ?? rec.wire, rec.json ? { 'content-type': 'application/json' } : {})
}

function findResponse (core: Core, id: string): ResponseRecord {
  const rec = core.responses.get(id)
  // Without store, only a background response is kept (while it can be polled).
  if (!rec || (!rec.stored && !rec.background)) throw responseNotFound(id)
  return rec
}

export const retrieveResponse: Handler = (ctx) => {
  const rec = findResponse(ctx.core, ctx.params.response_id)
  if (ctx.query.stream === true) {
    if (!rec.frames) {
      throw badRequest('This response cannot be streamed: only responses created with background=true and stream=true can be streamed when retrieved.', 'stream')
    }
    const after = typeof ctx.query.starting_after === 'number' ? ctx.query.starting_after : -1
    subscribe(ctx, rec, Math.max(0, after + 1), ctx.query.include_obfuscation !== false)
    return
  }
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  const pollAfter = ctx.core.config.pollAfterMs
  if (pollAfter !== null) headers['openai-poll-after-ms'] = String(pollAfter)
  send(ctx, 200, rec.json ?? JSON.stringify(rec.wire), headers)
}

export const cancel: Handler = (ctx) => {
  const rec = findResponse(ctx.core, ctx.params.response_id)
  if (!rec.background) throw badRequest('Cannot cancel a synchronous response. Only responses created with background=true can be cancelled.')
  cancelResponse(ctx.core, rec)
  send(ctx, 200, rec.json ?? JSON.stringify(rec.wire), { 'content-type': 'application/json' })
}

export const deleteResponse: Handler = (ctx) => {
  const rec = findResponse(ctx.core, ctx.params.response_id)
  cancelResponse(ctx.core, rec)
  ctx.core.responses.delete(rec.id)
  send(ctx, 200, { id: rec.id, object: 'response', deleted: true })
}

export const listInputItems: Handler = (ctx) => {
  const rec = findResponse(ctx.core, ctx.params.response_id)
  send(ctx, 200, listPage(rec.inputItems, ctx.query))
}
