import t from 'tap'
import { loadConfig } from '../../../services/config.ts'
import { telemetrySettings } from '../../../services/telemetry/settings.ts'
import { createTracing } from '../../../services/telemetry/tracing.ts'
import { testEnv } from '../../helpers/build.ts'

const settings = (env: Record<string, string>) => telemetrySettings(loadConfig(testEnv(null, env)))

t.test('off unless an endpoint is named', async t => {
  t.same(settings({}), { tracesUrl: null, metricsUrl: null, captureContent: false })
  t.equal(createTracing(loadConfig(testEnv(null))).enabled, false)
  t.equal(createTracing(loadConfig(testEnv(null))).traceparent(), null)
})

t.test('one endpoint for both signals, per-signal ones used as they are, none and disabled honoured', async t => {
  t.same(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }),
    { tracesUrl: 'http://collector:4318/v1/traces', metricsUrl: 'http://collector:4318/v1/metrics', captureContent: false })
  t.same(settings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/otlp' }), { tracesUrl: 'https://traces.example/otlp', metricsUrl: null, captureContent: false })
  t.same(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_METRICS_EXPORTER: 'none' }), { tracesUrl: 'http://c:4318/v1/traces', metricsUrl: null, captureContent: false })
  t.same(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none', OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true' }),
    { tracesUrl: null, metricsUrl: 'http://c:4318/v1/metrics', captureContent: false }, 'no content without traces to put it on')
  t.same(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }), { tracesUrl: null, metricsUrl: null, captureContent: false })
  t.equal(settings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: 'true' }).captureContent, true)
})

t.test('bad values stop start-up naming the variable', async t => {
  const problem = (env: Record<string, string>) => {
    try {
      loadConfig(testEnv(null, env))
      return 'accepted'
    } catch (err) {
      return (err as Error).message
    }
  }
  t.match(problem({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), 'OTEL_EXPORTER_OTLP_PROTOCOL must be one of http/protobuf, http/json')
  t.match(problem({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }), 'OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL')
  t.match(problem({ OTEL_TRACES_SAMPLER: 'sometimes' }), 'OTEL_TRACES_SAMPLER must be one of')
  t.match(problem({ OTEL_TRACES_SAMPLER_ARG: '1.5' }), 'OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1')
})
