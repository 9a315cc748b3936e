import type { Config } from '../config.ts'

export type TelemetryConfig = Pick<Config,
  'OTEL_SDK_DISABLED' | 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' | 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT' |
  'OTEL_TRACES_EXPORTER' | 'OTEL_METRICS_EXPORTER' | 'OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT'>

export interface TelemetrySettings {
  /** Where spans go, or null: tracing is off (no SDK, the API's no-op tracer). */
  tracesUrl: string | null
  /** Where the GenAI metrics are pushed, or null: they stay on /metrics only. */
  metricsUrl: string | null
  captureContent: boolean
}

const signalUrl = (base: string | undefined, own: string | undefined, path: string) =>
  own ?? (base ? `${base.replace(/\/+$/, '')}/${path}` : null)

/**
 * What OpenTelemetry does in this process, from the standard variables. Unlike the SDK's own default
 * (export to localhost:4318), nothing is on until an endpoint is named: a gateway started without one
 * loads no SDK and pays nothing.
 */
export function telemetrySettings (config: TelemetryConfig): TelemetrySettings {
  const off = config.OTEL_SDK_DISABLED
  const tracesUrl = off || config.OTEL_TRACES_EXPORTER === 'none' ? null : signalUrl(config.OTEL_EXPORTER_OTLP_ENDPOINT, config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, 'v1/traces')
  const metricsUrl = off || config.OTEL_METRICS_EXPORTER === 'none' ? null : signalUrl(config.OTEL_EXPORTER_OTLP_ENDPOINT, config.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, 'v1/metrics')
  return { tracesUrl, metricsUrl, captureContent: tracesUrl !== null && config.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT }
}
