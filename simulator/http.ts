import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Core } from './core.ts'
import type { ApiError } from './errors.ts'
import type { FaultDecision } from './faults.ts'
import type { RouteDef } from './routes.ts'

export interface RequestContext {
  req: IncomingMessage
  res: ServerResponse
  route: RouteDef
  /** Path parameters keyed by their OpenAPI names (conversation_id, item_id, response_id, file_id). */
  params: Record<string, string>
  /** Query parameters, coerced to the types the spec declares. */
  query: Record<string, unknown>
  /** The parsed JSON body (JSON operations only). */
  body: unknown
  requestId: string
  startedAt: number
  fault: FaultDecision
  core: Core
  /** Validates a body the handler parsed itself (multipart); records and throws when it does not conform. */
  checkBody (data: unknown): void
}

export type Handler = (ctx: RequestContext) => void | Promise<void>

function baseHeaders (ctx: { requestId: string, startedAt: number }): Record<string, string> {
  return {
    'x-request-id': ctx.requestId,
    'openai-version': '2020-10-01',
    'openai-processing-ms': String(Math.round(performance.now() - ctx.startedAt))
  }
}

/** Writes a complete answer, or with the `reset` fault half of it before destroying the socket. */
export function send (
  ctx: { res: ServerResponse, requestId: string, startedAt: number, fault?: FaultDecision },
  status: number,
  body: unknown,
  headers: Record<string, string> = {}
): void {
  const { res } = ctx
  if (res.headersSent || res.destroyed) return
  const isText = typeof body === 'string' && headers['content-type'] !== undefined
  const payload = Buffer.from(isText ? body : JSON.stringify(body))
  res.writeHead(status, {
    'content-type': 'application/json',
    ...baseHeaders(ctx),
    ...headers,
    'content-length': String(payload.length)
  })
  if (ctx.fault?.reset) {
    res.write(payload.subarray(0, Math.floor(payload.length / 2)))
    setImmediate(() => res.socket?.destroy())
    return
  }
  res.end(payload)
}

export function sendError (ctx: { res: ServerResponse, requestId: string, startedAt: number, fault?: FaultDecision }, error: ApiError): void {
  send(ctx, error.status, error.toBody(), error.headers)
}

export interface SseWriter {
  write (frame: string): void
  end (): void
  readonly closed: boolean
}

/** Starts an SSE answer; the `truncate-sse` and `reset` faults cut the socket mid-stream. */
export function openSse (ctx: RequestContext, onClose: () => void): SseWriter {
  const { res } = ctx
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    ...baseHeaders(ctx)
  })
  res.flushHeaders()
  let closed = false
  let written = 0
  const cutAfter = ctx.fault.reset ? 0 : ctx.fault.truncateAfterEvents
  const close = () => {
    if (closed) return
    closed = true
    onClose()
  }
  res.on('close', close)
  const cut = () => {
    closed = true
    onClose()
    // Let the written frames reach the client before the connection drops.
    setImmediate(() => res.socket?.destroy())
  }
  if (cutAfter === 0) {
    if (ctx.fault.reset) res.write('event: response.created\ndata: {"type":"resp')
    cut()
  }
  return {
    write (frame) {
      if (closed) return
      res.write(frame)
      written++
      if (cutAfter !== undefined && written >= cutAfter) cut()
    },
    end () {
      if (closed) return
      closed = true
      res.end()
    },
    get closed () { return closed }
  }
}

/** Parses `a=1&b[]=x&b[]=y&c[d]=z` as the SDK's query and form encodings produce it. */
export function parseQuery (search: string): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  if (search === '') return out
  for (const pair of search.split('&')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    const rawKey = eq === -1 ? pair : pair.slice(0, eq)
    const rawValue = eq === -1 ? '' : pair.slice(eq + 1)
    assignField(out, decode(rawKey), decode(rawValue))
  }
  return out
}

function decode (text: string): string {
  const plus = text.includes('+') ? text.replaceAll('+', ' ') : text
  if (!plus.includes('%')) return plus
  try {
    return decodeURIComponent(plus)
  } catch {
    return plus
  }
}

/** Puts `name`, `name[]` or `name[key]` into `target` the way the SDK flattened it. */
export function assignField (target: Record<string, unknown>, name: string, value: string): void {
  const bracket = name.indexOf('[')
  const close = name.indexOf(']', bracket)
  const rest = close === -1 ? '' : name.slice(close + 1)
  if (bracket <= 0 || close === -1 || (rest !== '' && rest[0] !== '[')) {
    target[name] = value
    return
  }
  const base = name.slice(0, bracket)
  const inner = name.slice(bracket + 1, close)
  if (inner === '') {
    const existing = target[base]
    if (Array.isArray(existing)) existing.push(value)
    else target[base] = existing === undefined ? [value] : [existing, value]
    return
  }
  let nested = target[base]
  if (typeof nested !== 'object' || nested === null || Array.isArray(nested)) {
    nested = {}
    target[base] = nested
  }
  assignField(nested as Record<string, unknown>, inner + rest, value)
}
