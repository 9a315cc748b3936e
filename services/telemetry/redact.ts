import type { Attributes, AttributeValue } from '@opentelemetry/api'
import type { ExportResult } from '@opentelemetry/core'
import type { ReadableSpan, SpanExporter, TimedEvent } from '@opentelemetry/sdk-trace-node'

/**
 * Credentials by their shape: OpenAI keys and project/session keys, webhook secrets, JWTs (the gateway's
 * bearer tokens), Authorization values, common cloud and VCS tokens, private keys, and `name=value`
 * pairs whose name says secret. What is written on a span is meant to hold none of them; this is the
 * last line should one slip into a message, an error or captured content.
 */
const SECRETS: Array<[RegExp, string]> = [
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g, '[REDACTED PRIVATE KEY]'],
  [/\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*/g, '[REDACTED JWT]'],
  [/\b(sk|rk|sess|whsec)([-_])[\w-]{12,}/g, '$1$2[REDACTED]'],
  [/\b(gh[pousr]_|github_pat_|xox[abprs]-|glpat-)[\w-]{10,}/g, '$1[REDACTED]'],
  [/\b(AKIA|ASIA)[0-9A-Z]{16}\b/g, '$1[REDACTED]'],
  [/\b(Bearer|Basic|Token)\s+[\w.~+/=-]{8,}/gi, '$1 [REDACTED]'],
  [/\b([\w-]*(?:api[_-]?key|secret|passw(?:or)?d|(?:access|refresh|id|auth|session)[_-]?token|signature|credentials?)[\w-]*)(["']?\s*[:=]\s*["']?)[^\s"'&,;}]{4,}/gi, '$1$2[REDACTED]']
]
const ANY_SECRET = new RegExp(SECRETS.map(([re]) => `(?:${re.source})`).join('|'), 'i')

/** The text with anything shaped like a credential replaced by a marker. */
export function redactText (text: string): string {
  if (!ANY_SECRET.test(text)) return text
  let out = text
  for (const [re, marker] of SECRETS) out = out.replace(re, marker)
  return out
}

/** Captured content is cut here: a span is not the place for a whole conversation. */
export const CONTENT_MAX_CHARS = 16 * 1024

/** Content for an opt-in attribute: redacted, then cut at CONTENT_MAX_CHARS. */
export function capturedContent (text: string): string {
  const redacted = redactText(text)
  return redacted.length > CONTENT_MAX_CHARS ? `${redacted.slice(0, CONTENT_MAX_CHARS)}…[truncated]` : redacted
}

function redactValue (value: AttributeValue | undefined): AttributeValue | undefined {
  if (typeof value === 'string') return redactText(value)
  if (Array.isArray(value)) return value.map(v => typeof v === 'string' ? redactText(v) : v) as AttributeValue
  return value
}

/** The attributes with their strings redacted, or the same object when nothing needed it. */
function redactAttributes (attributes: Attributes): Attributes {
  let out: Attributes | null = null
  for (const [key, value] of Object.entries(attributes)) {
    const redacted = redactValue(value)
    if (redacted === value || (Array.isArray(value) && JSON.stringify(redacted) === JSON.stringify(value))) continue
    out ??= { ...attributes }
    out[key] = redacted
  }
  return out ?? attributes
}

/** A span as exported: the same span, seen through its redacted attributes, events, links and status. */
export function redactSpan (span: ReadableSpan): ReadableSpan {
  const attributes = redactAttributes(span.attributes)
  let eventsChanged = false
  const events = span.events.map((event): TimedEvent => {
    if (!event.attributes) return event
    const redacted = redactAttributes(event.attributes)
    if (redacted === event.attributes) return event
    eventsChanged = true
    return { ...event, attributes: redacted }
  })
  const message = span.status.message === undefined ? undefined : redactText(span.status.message)
  if (attributes === span.attributes && !eventsChanged && message === span.status.message) return span
  // Everything else (the span context, times, resource) is read through the prototype: the span itself.
  return Object.create(span, {
    attributes: { value: attributes, enumerable: true },
    events: { value: events, enumerable: true },
    status: { value: { ...span.status, message }, enumerable: true }
  }) as ReadableSpan
}

/** Wraps an exporter so that every span leaves the process redacted (attributes of @fastify/otel's spans included). */
export function redactingExporter (exporter: SpanExporter): SpanExporter {
  return {
    export (spans: ReadableSpan[], done: (result: ExportResult) => void) {
      exporter.export(spans.map(redactSpan), done)
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve()
  }
}
