import OpenAI from 'openai'
import type { Config } from './config.ts'
import { createUpstreamTransport, type UpstreamTransport } from './upstream-fetch.ts'

export type UpstreamOutcome = 'ok' | 'http_4xx' | 'http_429' | 'http_5xx' | 'timeout' | 'network'
export type UpstreamCallListener = (operation: string, outcome: UpstreamOutcome, seconds: number) => void

const ID = '[^/]+'
const OPERATIONS: Array<[string, RegExp, string]> = [
  ['POST', /^\/conversations$/, 'conversations.create'],
  ['GET', new RegExp(`^/conversations/${ID}$`), 'conversations.retrieve'],
  ['POST', new RegExp(`^/conversations/${ID}$`), 'conversations.update'],
  ['DELETE', new RegExp(`^/conversations/${ID}$`), 'conversations.delete'],
  ['POST', new RegExp(`^/conversations/${ID}/items$`), 'conversations.items.create'],
  ['GET', new RegExp(`^/conversations/${ID}/items$`), 'conversations.items.list'],
  ['GET', new RegExp(`^/conversations/${ID}/items/${ID}$`), 'conversations.items.retrieve'],
  ['DELETE', new RegExp(`^/conversations/${ID}/items/${ID}$`), 'conversations.items.delete'],
  ['POST', /^\/responses$/, 'responses.create'],
  ['GET', new RegExp(`^/responses/${ID}$`), 'responses.retrieve'],
  ['POST', new RegExp(`^/responses/${ID}/cancel$`), 'responses.cancel'],
  ['POST', /^\/audio\/transcriptions$/, 'audio.transcriptions.create'],
  ['POST', /^\/files$/, 'files.create'],
  ['GET', /^\/files$/, 'files.list'],
  ['GET', new RegExp(`^/files/${ID}$`), 'files.retrieve'],
  ['DELETE', new RegExp(`^/files/${ID}$`), 'files.delete']
]

/** A bounded label for an upstream call: the SDK operation, never the ids in the path. */
export function operationOf (method: string, url: string, basePath: string): string {
  // The SDK builds every URL from the base URL: the path starts after the origin's first single slash.
  const start = url.indexOf('/', url.indexOf('//') + 2)
  const query = url.indexOf('?', start)
  let path = start === -1 ? '/' : url.slice(start, query === -1 ? undefined : query)
  if (path.startsWith(basePath)) path = path.slice(basePath.length)
  for (const [m, re, name] of OPERATIONS) if (m === method && re.test(path)) return name
  return 'other'
}

function outcomeOf (status: number): UpstreamOutcome {
  if (status < 400) return 'ok'
  if (status === 429) return 'http_429'
  return status >= 500 ? 'http_5xx' : 'http_4xx'
}

/**
 * The one OpenAI client of the process: key, base URL, organization/project, timeout and retries from
 * config. Its fetch (`transport`: a keep-alive undici pool, upstream-fetch.ts) is wrapped to count and
 * time upstream calls and follows no redirect; the key is sent by the SDK only to the base URL and never
 * logged (the client object itself is never passed to a logger).
 */
export function createOpenAIClient (config: Config, onCall?: UpstreamCallListener, transport: UpstreamTransport = createUpstreamTransport(config.OPENAI_BASE_URL)): OpenAI {
  const basePath = new URL(config.OPENAI_BASE_URL).pathname.replace(/\/$/, '')
  const instrumented: typeof fetch = async (input, init) => {
    const started = performance.now()
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
    const operation = operationOf(init?.method ?? 'GET', url, basePath)
    try {
      // No redirect is followed: OpenAI's API does not redirect, and a redirect from whatever answers at the
      // base URL would carry the caller's content (and headers) to another host. A 3xx surfaces as an upstream error.
      const res = await transport.fetch(input, init)
      onCall?.(operation, outcomeOf(res.status), (performance.now() - started) / 1000)
      return res
    } catch (err) {
      const name = (err as Error).name
      onCall?.(operation, name === 'AbortError' || name === 'TimeoutError' ? 'timeout' : 'network', (performance.now() - started) / 1000)
      throw err
    }
  }
  return new OpenAI({
    apiKey: config.OPENAI_API_KEY,
    baseURL: config.OPENAI_BASE_URL,
    organization: config.OPENAI_ORGANIZATION ?? null,
    project: config.OPENAI_PROJECT ?? null,
    timeout: config.OPENAI_TIMEOUT_MS,
    maxRetries: config.OPENAI_MAX_RETRIES,
    fetch: instrumented
  })
}
