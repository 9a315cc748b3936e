import { trace, context, type Attributes, type Link } from '@opentelemetry/api'
import type { Response, ResponseCreateParamsBase, ResponseStreamEvent } from 'openai/resources/responses/responses'
import type { Config } from '../config.ts'
import type { GenAiOperation, Metrics } from '../metrics.ts'
import { isActiveRunStatus, type RunRecord } from '../store/types.ts'
import { usageOf } from '../runs/usage.ts'
import { errorType, failSpan, SpanKind, type Span, type Tracing } from './tracing.ts'

/** One drive of a run by this process: the `invoke_agent` span and what happens inside it. */
export interface RunDrive {
  /** Runs `fn` with the drive's span active: the rounds, tools and logs of the drive are its children. */
  within<T>(fn: () => T): T
  /** Observes one upstream response of the run (a `chat` span and the GenAI metrics). */
  round(run: RunRecord, request: RoundRequest): RoundObservation
  /** The drive is over: the run as it is (ended, paused) or why the driver stopped. */
  end(run: RunRecord | null, stopped?: string): void
}

export interface RoundRequest {
  /** What was (or, for `resumed`, had been) sent; null when resuming a response this process did not create. */
  params: ResponseCreateParamsBase | null
  round: number
  streamed: boolean
  /** Waiting for a response an earlier drive created: its start was not seen here, so no duration is measured. */
  resumed: boolean
  responseId?: string
}

export interface RoundObservation {
  within<T>(fn: () => T): T
  created(responseId: string): void
  event(event: ResponseStreamEvent): void
  /** The response ended (or null: the wait was interrupted before it did). */
  end(response: Response | null): void
  /** The round could not be started or awaited. */
  fail(err: unknown): void
}

const NOOP_ROUND: RoundObservation = { within: fn => fn(), created () {}, event () {}, end () {}, fail () {} }

/** The event types that carry generated output: the first one is the "first chunk" of the conventions. */
const isOutputDelta = (type: string) => type.endsWith('.delta') && type !== 'response.audio.transcript.delta'

/** The conventions' finish reasons, from a Responses API response. */
function finishReasons (response: Response): string[] {
  switch (response.status) {
    case 'completed':
      return [response.output.some(o => o.type === 'function_call') ? 'tool_calls' : 'stop']
    case 'incomplete': {
      const reason = response.incomplete_details?.reason
      return [reason === 'max_output_tokens' ? 'length' : reason ?? 'incomplete']
    }
    case 'failed': return ['error']
    default: return [response.status ?? 'unknown']
  }
}

/** The round's output in the conventions' message shape (opt-in content only). */
function outputMessages (response: Response): unknown[] {
  const parts: unknown[] = []
  for (const item of response.output) {
    if (item.type === 'message') {
      for (const part of item.content) parts.push(part.type === 'output_text' ? { type: 'text', content: part.text } : { type: 'refusal', content: part.refusal })
    } else if (item.type === 'function_call') {
      parts.push({ type: 'tool_call', id: item.call_id, name: item.name, arguments: item.arguments })
    }
  }
  return [{ role: 'assistant', parts, finish_reason: finishReasons(response)[0] }]
}

/** The round's own input (tool outputs after the first round) in the conventions' message shape. */
function inputMessages (input: ResponseCreateParamsBase['input']): unknown[] {
  if (!Array.isArray(input)) return typeof input === 'string' ? [{ role: 'user', parts: [{ type: 'text', content: input }] }] : []
  return input.flatMap(item => (item as { type?: string }).type === 'function_call_output'
    ? [{ role: 'tool', parts: [{ type: 'tool_call_response', id: (item as { call_id: string }).call_id, result: (item as { output: unknown }).output }] }]
    : [])
}

function serverOf (baseUrl: string): Attributes {
  const url = new URL(baseUrl)
  return { 'server.address': url.hostname, 'server.port': Number(url.port) || (url.protocol === 'https:' ? 443 : 80) }
}

/**
 * The run pipeline's telemetry, in the GenAI conventions. A run is one trace whatever process drives it:
 * its `origin` (the traceparent of the request that started it) is stored with the run, and every drive —
 * the first, one after a pause, one resumed by another instance after a crash — is an `invoke_agent` span
 * under it, linked to whatever kicked it when that is another trace. Inside a drive, each upstream response
 * is a `chat {model}` client span. No prompt, answer or tool data is put on a span unless content capture
 * is opted into, and then redacted (tracing.content). The GenAI metrics are recorded with or without tracing.
 */
export function createRunTelemetry ({ tracing, metrics, config }: { tracing: Tracing, metrics?: Metrics, config: Pick<Config, 'OPENAI_BASE_URL'> }) {
  const server = serverOf(config.OPENAI_BASE_URL)

  function round (run: RunRecord, request: RoundRequest, parent: Span | null): RoundObservation {
    if (!tracing.enabled && !metrics) return NOOP_ROUND
    const model = (request.params?.model as string | undefined) ?? run.model
    const op: GenAiOperation = { operation: 'chat', requestModel: model, assistant: run.assistant_type }
    const started = performance.now()
    let firstChunkAt: number | null = null
    const params = request.params
    const span = tracing.enabled
      ? tracing.start(`chat ${model}`, {
        kind: SpanKind.CLIENT,
        parent: parent ? trace.setSpan(context.active(), parent) : undefined,
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.provider.name': 'openai',
          'gen_ai.request.model': model,
          'gen_ai.conversation.id': run.thread_id,
          'gen_ai.agent.id': run.assistant_type,
          'openai.api.type': 'responses',
          ...server,
          ...(request.streamed ? { 'gen_ai.request.stream': true } : {}),
          ...(typeof params?.max_output_tokens === 'number' ? { 'gen_ai.request.max_tokens': params.max_output_tokens } : {}),
          ...(typeof params?.temperature === 'number' ? { 'gen_ai.request.temperature': params.temperature } : {}),
          ...(typeof params?.top_p === 'number' ? { 'gen_ai.request.top_p': params.top_p } : {}),
          ...(request.responseId ? { 'gen_ai.response.id': request.responseId } : {}),
          'assistant_gateway.run.id': run.id,
          'assistant_gateway.round': request.round,
          ...(request.resumed ? { 'assistant_gateway.response.resumed': true } : {})
        }
      })
      : null
    if (span && tracing.captureContent && params) {
      const instructions = typeof params.instructions === 'string' ? tracing.content(JSON.stringify([{ type: 'text', content: params.instructions }])) : undefined
      const input = tracing.content(JSON.stringify(inputMessages(params.input)))
      if (instructions) span.setAttribute('gen_ai.system_instructions', instructions)
      if (input) span.setAttribute('gen_ai.input.messages', input)
    }
    let ended = false
    return {
      within: fn => tracing.within(span, fn),
      created (responseId) {
        span?.setAttribute('gen_ai.response.id', responseId)
      },
      event (event) {
        if (firstChunkAt !== null || !isOutputDelta(event.type)) return
        firstChunkAt = performance.now()
        // Measured from this process's create call: a resumed stream's first delta says nothing about it.
        if (request.resumed) return
        const seconds = (firstChunkAt - started) / 1000
        span?.setAttribute('gen_ai.response.time_to_first_chunk', seconds)
        metrics?.genAi.firstChunk(op, seconds)
      },
      end (response) {
        if (ended) return
        ended = true
        if (!response) {
          span?.setAttribute('assistant_gateway.round.interrupted', true)
          span?.end()
          return
        }
        const failed = response.status === 'failed'
        const error = failed ? response.error?.code ?? 'failed' : undefined
        if (!request.resumed) metrics?.genAi.duration({ ...op, responseModel: response.model }, (performance.now() - started) / 1000, error)
        if (!span) return
        const usage = usageOf(response)
        span.setAttributes({
          'gen_ai.response.id': response.id,
          'gen_ai.response.model': response.model,
          'gen_ai.response.finish_reasons': finishReasons(response),
          'gen_ai.usage.input_tokens': usage.input_tokens,
          'gen_ai.usage.output_tokens': usage.output_tokens,
          'gen_ai.usage.cache_read.input_tokens': usage.cached_tokens,
          'gen_ai.usage.reasoning.output_tokens': usage.reasoning_tokens,
          ...(usage.cache_write_tokens > 0 ? { 'gen_ai.usage.cache_creation.input_tokens': usage.cache_write_tokens } : {}),
          ...(response.service_tier ? { 'openai.response.service_tier': response.service_tier } : {})
        })
        // Guarded here, not only in tracing.content: the answer is not serialized at all unless it is captured.
        if (tracing.captureContent) {
          const output = tracing.content(JSON.stringify(outputMessages(response)))
          if (output) span.setAttribute('gen_ai.output.messages', output)
        }
        if (error) failSpan(span, error)
        span.end()
      },
      fail (err) {
        if (ended) return
        ended = true
        const type = errorType(err)
        if (!request.resumed) metrics?.genAi.duration(op, (performance.now() - started) / 1000, type)
        failSpan(span, type)
        span?.end()
      }
    }
  }

  return {
    /** The trace context a new run keeps (the request starting it), or null when tracing is off. */
    origin: () => tracing.traceparent(),

    drive (run: RunRecord): RunDrive {
      // A fresh run (nothing sent yet) driven to its end by this drive measures the whole turn.
      const fresh = run.status === 'queued' && run.response_ids.length === 0
      const started = performance.now()
      let span: Span | null = null
      if (tracing.enabled) {
        const origin = tracing.contextOf(run.trace_context)
        const originSpan = trace.getSpanContext(origin)
        const kicker = trace.getSpanContext(context.active())
        const links: Link[] = []
        if (!fresh && originSpan) links.push({ context: originSpan, attributes: { 'assistant_gateway.link': 'run.origin' } })
        // What woke the run (a submit of tool outputs, a poll that found it orphaned) when that is another trace.
        if (kicker && kicker.traceId !== originSpan?.traceId) links.push({ context: kicker, attributes: { 'assistant_gateway.link': 'run.resumed_by' } })
        span = tracing.start(`invoke_agent ${run.assistant_type}`, {
          kind: SpanKind.INTERNAL,
          parent: origin,
          links,
          attributes: {
            'gen_ai.operation.name': 'invoke_agent',
            'gen_ai.provider.name': 'openai',
            'gen_ai.agent.id': run.assistant_type,
            'gen_ai.conversation.id': run.thread_id,
            'gen_ai.request.model': run.model,
            'assistant_gateway.run.id': run.id,
            'assistant_gateway.run.stream': run.stream,
            ...(fresh ? {} : { 'assistant_gateway.run.resumed': true })
          }
        })
      }
      let ended = false
      return {
        within: fn => tracing.within(span, fn),
        round: (current, request) => round(current, request, span),
        end (current, stopped) {
          if (ended) return
          ended = true
          const terminal = current !== null && !isActiveRunStatus(current.status)
          if (fresh && terminal) {
            metrics?.genAi.duration({ operation: 'invoke_agent', requestModel: current.model, assistant: current.assistant_type },
              (performance.now() - started) / 1000, current.status === 'failed' ? current.last_error?.code ?? 'failed' : undefined)
          }
          if (!span) return
          if (current) {
            span.setAttribute('assistant_gateway.run.status', current.status)
            if (terminal && current.usage) {
              span.setAttributes({ 'gen_ai.usage.input_tokens': current.usage.input_tokens, 'gen_ai.usage.output_tokens': current.usage.output_tokens })
            }
            if (current.status === 'failed') failSpan(span, current.last_error?.code ?? 'failed')
          }
          if (stopped) span.setAttribute('assistant_gateway.run.stopped', stopped)
          span.end()
        }
      }
    }
  }
}
export type RunTelemetry = ReturnType<typeof createRunTelemetry>
