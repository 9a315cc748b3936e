import { mintToken } from '../../scripts/dev-tokens.ts'
import type { GatewayService } from './processes.ts'

export interface Timed<T = unknown> { status: number, body: T, ms: number }

/** One JSON request, timed from before the request to the end of the body (ms, float). */
export async function requestJson<T = Record<string, unknown>> (url: string, init: { method?: string, headers?: Record<string, string>, body?: unknown, timeoutMs?: number } = {}): Promise<Timed<T>> {
  const started = performance.now()
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    headers: { ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    signal: AbortSignal.timeout(init.timeoutMs ?? 120_000)
  })
  const text = await res.text()
  const ms = performance.now() - started
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {}
  return { status: res.status, body: body as T, ms }
}

/** A signed-in SPA user of the gateway. */
export function userOf (gateway: GatewayService, sub: string) {
  const token = mintToken(gateway.jwtSecret, { sub })
  const headers = { authorization: `Bearer ${token}` }
  const api = `${gateway.url}/api/openai`
  return {
    token,
    headers,
    get: <T = Record<string, unknown>>(path: string) => requestJson<T>(`${api}${path}`, { headers }),
    post: <T = Record<string, unknown>>(path: string, body: unknown = {}) => requestJson<T>(`${api}${path}`, { method: 'POST', headers, body }),
    /** A thread holding one user message; the run on it generates for generationMs. */
    async thread (text: string): Promise<string> {
      const res = await requestJson<{ id: string }>(`${api}/threads`, { method: 'POST', headers, body: { messages: [{ role: 'user', content: text }] } })
      if (res.status !== 201) throw new Error(`creating a thread answered ${res.status}: ${JSON.stringify(res.body)}`)
      return res.body.id
    }
  }
}
export type BenchUser = ReturnType<typeof userOf>

/** Maps items with at most `concurrency` calls in flight; results keep the input order. */
export async function pool<T, R> (items: T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      results[i] = await fn(items[i], i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
  return results
}

/** Sums the simulator's per-route counters between two snapshots. */
export function counterDelta (before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const delta: Record<string, number> = {}
  for (const [key, value] of Object.entries(after)) {
    const d = value - (before[key] ?? 0)
    if (d > 0) delta[key] = d
  }
  return delta
}

export const totalOf = (counters: Record<string, number>) => Object.values(counters).reduce((a, b) => a + b, 0)
