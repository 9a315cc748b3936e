import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/**
 * Every metric the gateway exports starts with this, Node's default ones included, so they cannot be
 * mistaken for another process's on a shared Prometheus. This file is the one home of metric definitions.
 */
export const METRIC_PREFIX = 'assistant_gateway_'

/**
 * Prometheus metrics of one gateway instance. Labels never carry user ids: per-user figures are in the
 * usage reports, not in metrics, to keep cardinality bounded.
 */
export function createMetrics () {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX })
  const registers = [registry]
  return {
    registry,
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

/** Gauges of the message page cache, read from it when /metrics is scraped. */
export function addMessageCacheGauges (registry: Registry, cache: { readonly bytes: number, readonly entries: number }): void {
  const registers = [registry]
  new Gauge({ name: `${METRIC_PREFIX}message_cache_bytes`, help: 'Approximate memory held by cached message pages (bounded by MESSAGE_CACHE_MB)', registers, collect () { this.set(cache.bytes) } }) // eslint-disable-line no-new
  new Gauge({ name: `${METRIC_PREFIX}message_cache_entries`, help: 'Message pages cached', registers, collect () { this.set(cache.entries) } }) // eslint-disable-line no-new
}
