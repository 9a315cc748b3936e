import autocannon, { type RequestSpec } from 'autocannon'
import { round } from './stats.ts'

export interface LoadOptions {
  url: string
  connections: number
  /** Seconds; the run is also bounded by `amount` when given. */
  duration: number
  amount?: number
  method?: string
  headers?: Record<string, string>
  body?: string
  requests?: RequestSpec[]
  /** Keep every response time (ms, float) — autocannon's own histogram has 1 ms resolution. */
  keepLatencies?: boolean
  timeoutSeconds?: number
}

export interface LoadResult {
  seconds: number
  responses: number
  /** Responses per second, any status. */
  rps: number
  statusCounts: Record<string, number>
  errors: number
  timeouts: number
  latencies: Float64Array
}

/** One autocannon run from this process; response times come from its per-response event (hrtime). */
export async function runLoad (options: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = []
  const statusCounts: Record<string, number> = {}
  let responses = 0
  const started = performance.now()
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.duration,
    ...(options.amount ? { amount: options.amount } : {}),
    method: options.method ?? 'GET',
    headers: options.headers ?? {},
    ...(options.body !== undefined ? { body: options.body } : {}),
    ...(options.requests ? { requests: options.requests } : {}),
    timeout: options.timeoutSeconds ?? 30
  })
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    responses++
    statusCounts[statusCode] = (statusCounts[statusCode] ?? 0) + 1
    if (options.keepLatencies) latencies.push(responseTime)
  })
  const result = await instance
  const seconds = (performance.now() - started) / 1000
  return {
    seconds: round(seconds, 2),
    responses,
    rps: round(responses / seconds, 1),
    statusCounts,
    errors: result.errors,
    timeouts: result.timeouts,
    latencies: Float64Array.from(latencies)
  }
}
