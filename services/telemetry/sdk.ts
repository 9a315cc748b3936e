import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { diag, DiagLogLevel, metrics, trace } from '@opentelemetry/api'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.ts'
import { redactingExporter } from './redact.ts'
import { telemetrySettings } from './settings.ts'

export interface Telemetry {
  tracing: boolean
  metrics: boolean
  /** Where the SDK's own complaints go (an unreachable collector): the gateway's log, once it has one. */
  useLogger (log: FastifyBaseLogger): void
  /** Flushes what is buffered and stops; bounded, so a dead collector cannot hold up the exit. */
  shutdown (): Promise<void>
}

const SHUTDOWN_LIMIT_MS = 5000

function packageVersion (): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown'
  } catch {
    return 'unknown'
  }
}

const OFF: Telemetry = { tracing: false, metrics: false, useLogger () {}, async shutdown () {} }

/**
 * Starts OpenTelemetry for this process when an OTLP endpoint is configured: a tracer provider (W3C
 * trace context only, async-local context, batched OTLP/HTTP export through the redacting exporter) and
 * a meter provider pushing the GenAI metrics. Called by server.ts before the app is built, because the
 * app takes its tracer and meter from the global API. Without an endpoint nothing below is even imported:
 * the API stays the no-op it is by default.
 */
export async function startTelemetry (config: Config): Promise<Telemetry> {
  const settings = telemetrySettings(config)
  if (!settings.tracesUrl && !settings.metricsUrl) return OFF
  const json = config.OTEL_EXPORTER_OTLP_PROTOCOL === 'http/json'

  const { resourceFromAttributes, detectResources, envDetector } = await import('@opentelemetry/resources')
  let resource = resourceFromAttributes({
    'service.name': 'assistant-gateway',
    'service.version': packageVersion(),
    'service.instance.id': `${hostname()}:${process.pid}`
  }).merge(detectResources({ detectors: [envDetector] }))
  if (config.OTEL_SERVICE_NAME) resource = resource.merge(resourceFromAttributes({ 'service.name': config.OTEL_SERVICE_NAME }))

  const stops: Array<() => Promise<void>> = []
  if (settings.tracesUrl) {
    const { NodeTracerProvider, BatchSpanProcessor, ParentBasedSampler, AlwaysOnSampler, AlwaysOffSampler, TraceIdRatioBasedSampler } = await import('@opentelemetry/sdk-trace-node')
    const { W3CTraceContextPropagator } = await import('@opentelemetry/core')
    const { OTLPTraceExporter } = json ? await import('@opentelemetry/exporter-trace-otlp-http') : await import('@opentelemetry/exporter-trace-otlp-proto')
    const ratio = new TraceIdRatioBasedSampler(config.OTEL_TRACES_SAMPLER_ARG)
    const sampler = {
      always_on: new AlwaysOnSampler(),
      always_off: new AlwaysOffSampler(),
      traceidratio: ratio,
      parentbased_always_on: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
      parentbased_always_off: new ParentBasedSampler({ root: new AlwaysOffSampler() }),
      parentbased_traceidratio: new ParentBasedSampler({ root: ratio })
    }[config.OTEL_TRACES_SAMPLER]
    const provider = new NodeTracerProvider({
      resource,
      sampler,
      spanProcessors: [new BatchSpanProcessor(redactingExporter(new OTLPTraceExporter({ url: settings.tracesUrl })))]
    })
    // Trace context only: baggage from a caller would otherwise travel on to the webhook tools.
    provider.register({ propagator: new W3CTraceContextPropagator() })
    stops.push(async () => {
      await provider.shutdown()
      trace.disable()
    })
  }
  if (settings.metricsUrl) {
    const { MeterProvider, PeriodicExportingMetricReader } = await import('@opentelemetry/sdk-metrics')
    const { OTLPMetricExporter } = json ? await import('@opentelemetry/exporter-metrics-otlp-http') : await import('@opentelemetry/exporter-metrics-otlp-proto')
    const interval = config.OTEL_METRIC_EXPORT_INTERVAL
    const provider = new MeterProvider({
      resource,
      readers: [new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: settings.metricsUrl }),
        exportIntervalMillis: interval,
        exportTimeoutMillis: Math.min(30_000, interval)
      })]
    })
    metrics.setGlobalMeterProvider(provider)
    stops.push(async () => {
      await provider.shutdown()
      metrics.disable()
    })
  }

  return {
    tracing: settings.tracesUrl !== null,
    metrics: settings.metricsUrl !== null,
    useLogger (log) {
      const child = log.child({ component: 'opentelemetry' })
      diag.setLogger({
        error: (message, ...args) => child.warn({ args }, message),
        warn: (message, ...args) => child.warn({ args }, message),
        info: () => {},
        debug: () => {},
        verbose: () => {}
      }, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true })
    },
    async shutdown () {
      let timer: NodeJS.Timeout | undefined
      const limit = new Promise<void>(resolve => { timer = setTimeout(resolve, SHUTDOWN_LIMIT_MS) })
      try {
        await Promise.race([Promise.allSettled(stops.map(stop => stop())), limit])
      } finally {
        clearTimeout(timer)
      }
    }
  }
}
