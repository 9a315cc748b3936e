import type { Attributes, Meter } from '@opentelemetry/api'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/**
 * Every metric the gateway exports starts with this, Node's default ones included, so they cannot be
 * mistaken for another process's on a shared Prometheus. This file is the one home of metric definitions.
 */
export const METRIC_PREFIX = 'assistant_gateway_'

/** Bucket boundaries the GenAI semantic conventions give for these histograms. */
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
const FIRST_CHUNK_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]

/** One GenAI operation: `chat` (an upstream response), `invoke_agent` (a run), `transcription`. */
export interface GenAiOperation {
  operation: string
  requestModel: string
  /** The assistant (profile id); none for a transcription. */
  assistant?: string
  responseModel?: string
}

/**
 * Prometheus metrics of one gateway instance. Labels never carry user ids: per-user figures are in the
 * usage reports, not in metrics, to keep cardinality bounded. The GenAI ones (gen_ai_*: labels named as
 * OpenTelemetry's Prometheus export names the conventions' attributes) are also recorded on `meter`, the
 * OpenTelemetry meter that pushes them over OTLP, when OTLP metrics are configured.
 */
export function createMetrics ({ meter }: { meter?: Meter } = {}) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX })
  const registers = [registry]
  const genAiLabels = ['gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_request_model', 'gen_ai_response_model', 'gen_ai_agent_id']
  const tokenUsage = new Histogram({
    name: `${METRIC_PREFIX}gen_ai_client_token_usage`,
    help: 'Tokens per GenAI operation (gen_ai.client.token.usage): input and output of each upstream response, by model and assistant (gen_ai_agent_id)',
    labelNames: [...genAiLabels, 'gen_ai_token_type'],
    buckets: TOKEN_BUCKETS,
    registers
  })
  const operationDuration = new Histogram({
    name: `${METRIC_PREFIX}gen_ai_client_operation_duration_seconds`,
    help: 'GenAI operation duration (gen_ai.client.operation.duration): chat = one upstream response, invoke_agent = a run from start to end, transcription',
    labelNames: [...genAiLabels, 'error_type'],
    buckets: DURATION_BUCKETS,
    registers
  })
  const firstChunk = new Histogram({
    name: `${METRIC_PREFIX}gen_ai_client_operation_time_to_first_chunk_seconds`,
    help: 'Time from creating a streamed upstream response to its first output delta (gen_ai.client.operation.time_to_first_chunk)',
    labelNames: genAiLabels,
    buckets: FIRST_CHUNK_BUCKETS,
    registers
  })
  const otel = meter && {
    tokenUsage: meter.createHistogram('gen_ai.client.token.usage', { unit: '{token}', description: 'Number of input and output tokens used.', advice: { explicitBucketBoundaries: TOKEN_BUCKETS } }),
    operationDuration: meter.createHistogram('gen_ai.client.operation.duration', { unit: 's', description: 'GenAI operation duration.', advice: { explicitBucketBoundaries: DURATION_BUCKETS } }),
    firstChunk: meter.createHistogram('gen_ai.client.operation.time_to_first_chunk', { unit: 's', description: 'Time to receive the first chunk of a streamed response.', advice: { explicitBucketBoundaries: FIRST_CHUNK_BUCKETS } }),
    cost: meter.createCounter('assistant_gateway.estimated_cost', { unit: 'USD', description: 'Estimated upstream spend, priced from the price table (PRICES_FILE).' })
  }
  const promLabels = (op: GenAiOperation) => ({
    gen_ai_operation_name: op.operation,
    gen_ai_provider_name: 'openai',
    gen_ai_request_model: op.requestModel,
    ...(op.responseModel ? { gen_ai_response_model: op.responseModel } : {}),
    ...(op.assistant ? { gen_ai_agent_id: op.assistant } : {})
  })
  const otelAttributes = (op: GenAiOperation): Attributes => ({
    'gen_ai.operation.name': op.operation,
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': op.requestModel,
    ...(op.responseModel ? { 'gen_ai.response.model': op.responseModel } : {}),
    ...(op.assistant ? { 'gen_ai.agent.id': op.assistant } : {})
  })
  return {
    registry,
    /** The GenAI conventions' client metrics, on /metrics and (when configured) over OTLP. */
    genAi: {
      tokens (op: GenAiOperation, usage: { input_tokens: number, output_tokens: number }): void {
        tokenUsage.observe({ ...promLabels(op), gen_ai_token_type: 'input' }, usage.input_tokens)
        tokenUsage.observe({ ...promLabels(op), gen_ai_token_type: 'output' }, usage.output_tokens)
        otel?.tokenUsage.record(usage.input_tokens, { ...otelAttributes(op), 'gen_ai.token.type': 'input' })
        otel?.tokenUsage.record(usage.output_tokens, { ...otelAttributes(op), 'gen_ai.token.type': 'output' })
      },
      duration (op: GenAiOperation, seconds: number, errorType?: string): void {
        operationDuration.observe({ ...promLabels(op), ...(errorType ? { error_type: errorType } : {}) }, seconds)
        otel?.operationDuration.record(seconds, { ...otelAttributes(op), ...(errorType ? { 'error.type': errorType } : {}) })
      },
      firstChunk (op: GenAiOperation, seconds: number): void {
        firstChunk.observe(promLabels(op), seconds)
        otel?.firstChunk.record(seconds, otelAttributes(op))
      },
      /** OTLP only: /metrics has the spend as estimated_cost_usd_total. */
      cost (op: { assistant: string, model: string }, usd: number): void {
        otel?.cost.add(usd, { 'gen_ai.provider.name': 'openai', 'gen_ai.request.model': op.model, 'gen_ai.agent.id': op.assistant })
      }
    },
    budgetRefusals: new Counter({
      name: `${METRIC_PREFIX}budget_refusals_total`,
      help: 'Reservations refused by a daily budget, by scope (user_tokens, assistant_tokens, global_tokens, user_audio) and what stood in the way (usage: settled, to the reset; reservations: in flight, retry in seconds)',
      labelNames: ['scope', 'blocked_by'],
      registers
    }),
    httpDuration: new Histogram({
      name: `${METRIC_PREFIX}http_request_duration_seconds`,
      help: 'Gateway request duration by route and status',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers
    }),
    upstreamCalls: new Counter({
      name: `${METRIC_PREFIX}upstream_requests_total`,
      help: 'Calls to the OpenAI API by operation and outcome (ok, http_4xx, http_429, http_5xx, timeout, network)',
      labelNames: ['operation', 'outcome'],
      registers
    }),
    upstreamDuration: new Histogram({
      name: `${METRIC_PREFIX}upstream_request_duration_seconds`,
      help: 'OpenAI API call duration by operation (time to response headers)',
      labelNames: ['operation'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers
    }),
    runs: new Counter({
      name: `${METRIC_PREFIX}runs_total`,
      help: 'Finished runs by assistant and final status',
      labelNames: ['assistant', 'status'],
      registers
    }),
    tokens: new Counter({
      name: `${METRIC_PREFIX}tokens_total`,
      help: 'Tokens used upstream by assistant, model and kind (input, cached, output, reasoning; cached is part of input, reasoning part of output)',
      labelNames: ['assistant', 'model', 'kind'],
      registers
    }),
    costUsd: new Counter({
      name: `${METRIC_PREFIX}estimated_cost_usd_total`,
      help: 'Estimated upstream spend in US dollars by assistant and model, from the price table (PRICES_FILE); models missing from it count 0',
      labelNames: ['assistant', 'model'],
      registers
    }),
    audioSeconds: new Counter({
      name: `${METRIC_PREFIX}audio_seconds_total`,
      help: 'Seconds of audio transcribed, by model',
      labelNames: ['model'],
      registers
    }),
    toolCalls: new Counter({
      name: `${METRIC_PREFIX}tool_calls_total`,
      help: 'Tool calls executed by the gateway by tool and outcome',
      labelNames: ['tool', 'outcome'],
      registers
    })
  }
}
export type Metrics = ReturnType<typeof createMetrics>

/** Runs this instance drives now, read from the driver when /metrics is scraped (summed over instances: runs in flight). */
export function addRunGauges (registry: Registry, runs: { readonly driving: number }): void {
  new Gauge({ name: `${METRIC_PREFIX}runs_in_flight`, help: 'Runs this instance is driving now (a run paused for client tool outputs is driven by none)', registers: [registry], collect () { this.set(runs.driving) } }) // eslint-disable-line no-new
}

/** Gauges of the message page cache, read from it when /metrics is scraped. */
export function addMessageCacheGauges (registry: Registry, cache: { readonly bytes: number, readonly entries: number }): void {
  const registers = [registry]
  new Gauge({ name: `${METRIC_PREFIX}message_cache_bytes`, help: 'Approximate memory held by cached message pages (bounded by MESSAGE_CACHE_MB)', registers, collect () { this.set(cache.bytes) } }) // eslint-disable-line no-new
  new Gauge({ name: `${METRIC_PREFIX}message_cache_entries`, help: 'Message pages cached', registers, collect () { this.set(cache.entries) } }) // eslint-disable-line no-new
}
