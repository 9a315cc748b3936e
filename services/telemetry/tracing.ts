import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Link, type Span } from '@opentelemetry/api'
import { capturedContent } from './redact.ts'
import { telemetrySettings, type TelemetryConfig } from './settings.ts'

export { SpanKind, SpanStatusCode, type Span }

export interface SpanOptions {
  kind?: SpanKind
  attributes?: Attributes
  /** The parent, when it is not the active context (a run's stored origin). */
  parent?: Context
  links?: Link[]
  /** Unix ms, when the span is made after the fact. */
  startTime?: number
}

/**
 * The gateway's spans, as the services make them. A factory over the global OpenTelemetry API (the SDK
 * behind it is registered by server.ts); when tracing is off every method is a constant no-op, so the
 * services call it unconditionally and pay nothing for it.
 */
export interface Tracing {
  readonly enabled: boolean
  /** OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: prompts, answers and tool data may go on spans. */
  readonly captureContent: boolean
  /** Runs `fn` in a new active span, ended when `fn` settles (status ERROR when it throws); `fn(null)` when off. */
  span<T>(name: string, options: SpanOptions, fn: (span: Span | null) => Promise<T>): Promise<T>
  /** A span the caller ends, not made active (its context: `within`). Null when off. */
  start(name: string, options: SpanOptions): Span | null
  /** Runs `fn` with `span` active (as is when `span` is null). */
  within<T>(span: Span | null, fn: () => T): T
  /** The active trace context as a W3C traceparent, to store with what outlives the request; null when none. */
  traceparent(): string | null
  /** The context a stored traceparent names; the root context when there is none. */
  contextOf(traceparent: string | null): Context
  /** Adds the active trace context (traceparent) to outgoing headers. */
  inject(headers: Record<string, string>): void
  /** Content for an opt-in attribute (redacted and cut), or undefined when capture is off. */
  content(text: string): string | undefined
}

/** Tracing that is off: what a service gets when none is given. */
export const NO_TRACING: Tracing = {
  enabled: false,
  captureContent: false,
  span: (_name, _options, fn) => fn(null),
  start: () => null,
  within: (_span, fn) => fn(),
  traceparent: () => null,
  contextOf: () => ROOT_CONTEXT,
  inject () {},
  content: () => undefined
}

/** Marks a span failed, with a short low-cardinality error.type (never a message that could carry content). */
export function failSpan (span: Span | null, errorType: string, message?: string): void {
  if (!span) return
  span.setAttribute('error.type', errorType)
  span.setStatus({ code: SpanStatusCode.ERROR, ...(message ? { message } : {}) })
}

/** A bounded name for what went wrong: the catalogue's or the SDK's code, else the class. */
export function errorType (err: unknown): string {
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string' && /^[\w.-]{1,64}$/.test(code)) return code
  const status = (err as { status?: unknown }).status
  if (typeof status === 'number') return String(status)
  return (err as Error)?.name ?? 'Error'
}

export function createTracing (config: TelemetryConfig): Tracing {
  const settings = telemetrySettings(config)
  if (!settings.tracesUrl) return NO_TRACING
  const tracer = trace.getTracer('assistant-gateway')
  const captureContent = settings.captureContent

  function start (name: string, options: SpanOptions): Span {
    return tracer.startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes, links: options.links, startTime: options.startTime }, options.parent ?? context.active())
  }

  return {
    enabled: true,
    captureContent,
    start,
    async span (name, options, fn) {
      const span = start(name, options)
      try {
        return await context.with(trace.setSpan(options.parent ?? context.active(), span), () => fn(span))
      } catch (err) {
        failSpan(span, errorType(err))
        throw err
      } finally {
        span.end()
      }
    },
    within: (span, fn) => span ? context.with(trace.setSpan(context.active(), span), fn) : fn(),
    traceparent () {
      const carrier: Record<string, string> = {}
      propagation.inject(context.active(), carrier)
      return carrier.traceparent ?? null
    },
    contextOf: (traceparent) => traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent }) : ROOT_CONTEXT,
    inject (headers) {
      propagation.inject(context.active(), headers)
    },
    content: (text) => captureContent ? capturedContent(text) : undefined
  }
}

/** pino's mixin: every log line written inside a span names its trace (only installed when tracing is on). */
export function traceLogFields (): Record<string, string> {
  const span = trace.getSpan(context.active())
  if (!span) return {}
  const { traceId, spanId } = span.spanContext()
  return { trace_id: traceId, span_id: spanId }
}
