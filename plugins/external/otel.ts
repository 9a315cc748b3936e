import fp from 'fastify-plugin'
import type { Span } from '@opentelemetry/api'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { telemetrySettings } from '../../services/telemetry/settings.ts'

/** Probes and scrapes are not traced: they would outnumber every real request. */
const UNTRACED = /^\/(health\/|metrics(\?|$))/

/** The request span as the HTTP conventions name it, and with the path only: a query may hold what a browser put there. */
function describeRequest (span: Span, request: FastifyRequest): void {
  const route = request.routeOptions.url
  span.updateName(route ? `${request.method} ${route}` : request.method)
  span.setAttribute('url.path', request.url.split('?')[0]!)
  span.setAttribute('assistant_gateway.request_id', request.id)
}

/**
 * One span per request (named `METHOD /route/:template`), continuing the caller's `traceparent`; the
 * services' spans (a run, its upstream responses and tools, transcriptions, files) hang below it. No
 * span per hook or handler: they would cost more than they tell. Only registered, and only imported, when
 * tracing is on.
 * @see https://github.com/fastify/otel
 */
async function otel (fastify: FastifyInstance) {
  if (!telemetrySettings(fastify.config).tracesUrl) return
  const { FastifyOtelInstrumentation } = await import('@fastify/otel')
  const instrumentation = new FastifyOtelInstrumentation({
    instrumentHooks: false,
    instrumentHandler: false,
    // An exception's message and stack can quote anything; the status and error.type say what is needed.
    recordExceptions: false,
    ignorePaths: ({ url }) => UNTRACED.test(url),
    requestHook: describeRequest
  })
  await fastify.register(instrumentation.plugin())
}

export default fp(otel, { name: 'otel' })
