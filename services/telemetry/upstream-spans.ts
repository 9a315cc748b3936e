import type { UpstreamCallListener } from '../openai-client.ts'
import { SpanKind, failSpan, type Tracing } from './tracing.ts'

/**
 * A client span for every call to the OpenAI API (the conversation read behind GET …/messages, each
 * responses.create, a poll), made from the client's call listener once the call has answered, with the
 * start it had: a leaf under whatever span was active (the request's, or a run's upstream response).
 * Named by the SDK operation, never the ids in the path; nothing of the request or the answer. Null
 * when tracing is off, so the listener costs nothing more.
 */
export function upstreamCallSpans (tracing: Tracing, baseUrl: string): UpstreamCallListener | null {
  if (!tracing.enabled) return null
  const url = new URL(baseUrl)
  const server = { 'server.address': url.hostname, 'server.port': Number(url.port) || (url.protocol === 'https:' ? 443 : 80) }
  return (operation, outcome, seconds) => {
    const span = tracing.start(`openai ${operation}`, {
      kind: SpanKind.CLIENT,
      startTime: Date.now() - seconds * 1000,
      attributes: { ...server, 'assistant_gateway.upstream.operation': operation, 'assistant_gateway.upstream.outcome': outcome }
    })
    if (outcome !== 'ok') failSpan(span, outcome)
    span?.end()
  }
}
