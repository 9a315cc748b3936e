import { METRIC_PREFIX } from '../../services/metrics.ts'

/** Prometheus text → { 'name{labels}': value } (comments and histograms' buckets included as they are). */
export function parseMetrics (text: string): Map<string, number> {
  const values = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const space = line.lastIndexOf(' ')
    values.set(line.slice(0, space), Number(line.slice(space + 1)))
  }
  return values
}

export async function scrapeMetrics (gatewayUrl: string): Promise<Map<string, number>> {
  const res = await fetch(`${gatewayUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`)
  return parseMetrics(await res.text())
}

/** The figures of prom-client's default metrics the scenarios read (the gateway prefixes them, as all its metrics). */
export interface RuntimeSnapshot {
  /** Event-loop delay p99 since the previous scrape (prom-client resets its histogram on every collect), ms. */
  eventLoopP99Ms: number
  eventLoopMaxMs: number
  activeHandles: number
  heapUsedBytes: number
  /** Heap reserved by V8 (used + free space it keeps), and memory outside the heap held by JS objects (buffers). */
  heapTotalBytes: number
  externalBytes: number
  rssBytes: number
  /** V8's code space in use: compiled code, which grows as more functions get hot and is bounded by the program. */
  codeSpaceUsedBytes: number
}

export async function runtimeSnapshot (gatewayUrl: string): Promise<RuntimeSnapshot> {
  const scraped = await scrapeMetrics(gatewayUrl)
  const m = { get: (name: string) => scraped.get(`${METRIC_PREFIX}${name}`) }
  return {
    eventLoopP99Ms: (m.get('nodejs_eventloop_lag_p99_seconds') ?? NaN) * 1000,
    eventLoopMaxMs: (m.get('nodejs_eventloop_lag_max_seconds') ?? NaN) * 1000,
    activeHandles: m.get('nodejs_active_handles_total') ?? NaN,
    heapUsedBytes: m.get('nodejs_heap_size_used_bytes') ?? NaN,
    heapTotalBytes: m.get('nodejs_heap_size_total_bytes') ?? NaN,
    externalBytes: m.get('nodejs_external_memory_bytes') ?? NaN,
    rssBytes: m.get('process_resident_memory_bytes') ?? NaN,
    codeSpaceUsedBytes: m.get('nodejs_heap_space_size_used_bytes{space="code"}') ?? NaN
  }
}
