import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { PromptCache } from './context.ts'
import { control, readJson } from './control.ts'
import * as conversations from './conversations.ts'
import type { Core, Logger, SimConfig } from './core.ts'
import { TERMINAL_STATUSES, Timers } from './core.ts'
import { ApiError } from './errors.ts'
import type { FaultRule, Latency } from './faults.ts'
import { faultError, Faults, latencyMs } from './faults.ts'
import type { Handler, RequestContext } from './http.ts'
import { parseQuery, sendError } from './http.ts'
import { requestId } from './ids.ts'
import { RequestLog } from './request-log.ts'
import { retrieveSafetyCase } from './safety.ts'
import type { SafetyCase, SafetyNoticeData } from './safety.ts'
import type { RequestLogEntry, RequestLogQuery } from './request-log.ts'
import * as responses from './responses.ts'
import { createRouter } from './routes.ts'
import type { RouteKey } from './routes.ts'
import * as uploads from './uploads.ts'
import type { ValidationIssue } from './validator.ts'
import { createValidator, describeIssues } from './validator.ts'
import { WebhookSender } from './webhooks.ts'
import type { WebhookDelivery, WebhookPatch, WebhookSettings, WebhookStats } from './webhooks.ts'

export type { FaultRule, Latency } from './faults.ts'
export type { RouteAlias, RouteKey } from './routes.ts'
export type { ValidationIssue } from './validator.ts'
export type { Logger } from './core.ts'
export type { RequestLogEntry, RequestLogQuery } from './request-log.ts'
export type { SafetyCase, SafetyNoticeData } from './safety.ts'
export type { WebhookDelivery, WebhookEvent, WebhookPatch, WebhookSettings, WebhookStats } from './webhooks.ts'

export interface SimulatorOptions {
  host?: string
  /** 0 picks a free port. */
  port?: number
  /** The accepted bearer key, or several. Default `sk-sim-local`. */
  apiKey?: string | string[]
  /** Time from in_progress to the terminal status. Default 200 ms. */
  generationMs?: number
  /** Time a background response spends queued. Default 20 ms. */
  queueMs?: number
  /** Fixed time between stream deltas, instead of spreading them over generationMs. */
  streamChunkMs?: number | null
  /** When set, GET /v1/responses/{response_id} sends `openai-poll-after-ms` with this value. */
  pollAfterMs?: number | null
  /** Added before every /v1 answer. */
  latency?: Partial<Latency>
  /** Models matching this reject non-default temperature/top_p with 400 unsupported_value. */
  sampleParamRejectPattern?: RegExp
  /** Validate requests against the OpenAPI extract. Default true. */
  validate?: boolean
  /** Request size limit of /v1/audio/transcriptions. Default 25 MiB, like OpenAI. */
  maxTranscriptionBytes?: number
  /** Request size limit of /v1/files. Default 512 MiB. */
  maxFileBytes?: number
  /** Input tokens a request may read (default 400 000); beyond it 400 context_length_exceeded, or truncation: 'auto' drops the oldest items. */
  contextWindowTokens?: number
  /** Shortest instructions+tools prefix reported as cached (default 1024 tokens, like OpenAI). */
  promptCacheMinTokens?: number
  /** Response requests kept by requestLog() (default 1000). */
  requestLogSize?: number
  /** OpenAI webhooks: delivered when both `url` and `secret` are set. See simulator/README.md. */
  webhooks?: WebhookPatch
  /** Keys with api.safety.read, the only ones that may read safety cases (also accepted everywhere). Default none. */
  safetyReadKeys?: string | string[]
  /** `with-identifier` (default): safety notices carry `data: { id, safety_identifier }`; `case-only`: `data: { id }`. */
  safetyNotices?: SafetyNoticeData
  /** Compile every request validator at start instead of on first use. */
  precompile?: boolean
  logger?: Logger
}

export type ConfigPatch = Partial<Pick<SimConfig, 'generationMs' | 'queueMs' | 'streamChunkMs' | 'pollAfterMs' | 'validate' | 'sampleParamRejectPattern' | 'contextWindowTokens' | 'promptCacheMinTokens'>> & {
  latency?: Partial<Latency>
  /** Merged into the webhook settings (counters such as dropNext replace the remaining count). */
  webhooks?: WebhookPatch
  safetyReadKeys?: string[]
  safetyNotices?: SafetyNoticeData
}

export interface NonconformingRequest {
  route: string
  method: string
  path: string
  errors: ValidationIssue[]
}

export interface SimulatorStats {
  counters: Record<string, number>
  nonconforming: { count: number, requests: NonconformingRequest[] }
  responses: { total: number, active: number }
  conversations: number
  files: number
  /** Requests held open by the `hang` fault whose client has not gone away yet. */
  hanging: number
  /** Pending simulator timers (generation steps, latency, webhook deliveries); 0 after close(). */
  timers: number
  faults: ReturnType<Faults['list']>
  /** Response requests recorded since start or reset, and the instructions+tools prefixes cached. */
  requests: number
  promptCache: { prefixes: number }
  webhooks: WebhookStats
  safetyCases: number
  /** Response streams served with `obfuscation` padding (asked without `include_obfuscation: false`). */
  obfuscatedStreams: number
}

export interface Simulator {
  /** Base URL for the SDK, ending in /v1. */
  url: string
  origin: string
  port: number
  /** Requests per route template (e.g. `POST /v1/responses`), every attempt included. */
  counters (): Record<string, number>
  nonconforming (): NonconformingRequest[]
  faults: {
    add (rule: FaultRule): number
    clear (): void
    list (): ReturnType<Faults['list']>
  }
  setLatency (latency: Partial<Latency>): void
  configure (patch: ConfigPatch): void
  config (): Record<string, unknown>
  stats (): SimulatorStats
  /** The identity and context fields of the latest response requests (no message bodies), oldest first. */
  requestLog (query?: RequestLogQuery): RequestLogEntry[]
  webhooks: {
    stats (): WebhookStats
    /** The latest 1000 deliveries, oldest first: event, webhook-id, attempts, per-attempt results, outcome. */
    deliveries (): WebhookDelivery[]
    /** Resolves once no delivery waits for latency, a retry or an answer. */
    idle (): Promise<void>
    settings (): Omit<WebhookSettings, 'secret'> & { secret: string | null }
  }
  /** Safety cases opened by [safety:…] directives, oldest first. */
  safetyCases (): SafetyCase[]
  /** Forgets all state, counters, recorded nonconforming requests and faults; restores the start options. */
  reset (): void
  /** Internal views for tests: a conversation even after deletion (with its items), a response. */
  peek: {
    conversation (id: string): { id: string, deleted: boolean, metadata: Record<string, string>, items: Array<Record<string, unknown>>, activeResponse: string | null } | undefined
    /** The wire object plus `request`: the request-log entry of the request that created it. */
    response (id: string): (Record<string, unknown> & { request: RequestLogEntry | null }) | undefined
  }
  /** Checks a body against the spec's response schema of an operation; null when it conforms. */
  checkResponse (operationId: string, body: unknown, status?: number, contentType?: string): ValidationIssue[] | null
  close (): Promise<void>
}

const HANDLERS: Record<RouteKey, Handler> = {
  'POST /v1/conversations': conversations.createConversation,
  'GET /v1/conversations/{conversation_id}': conversations.retrieveConversation,
  'POST /v1/conversations/{conversation_id}': conversations.updateConversation,
  'DELETE /v1/conversations/{conversation_id}': conversations.deleteConversation,
  'POST /v1/conversations/{conversation_id}/items': conversations.createItems,
  'GET /v1/conversations/{conversation_id}/items': conversations.listItems,
  'GET /v1/conversations/{conversation_id}/items/{item_id}': conversations.retrieveItem,
  'DELETE /v1/conversations/{conversation_id}/items/{item_id}': conversations.deleteItem,
  'POST /v1/responses': responses.createResponse,
  'GET /v1/responses/{response_id}': responses.retrieveResponse,
  'DELETE /v1/responses/{response_id}': responses.deleteResponse,
  'POST /v1/responses/{response_id}/cancel': responses.cancel,
  'GET /v1/responses/{response_id}/input_items': responses.listInputItems,
  'POST /v1/audio/transcriptions': uploads.createTranscription,
  'POST /v1/files': uploads.createFile,
  'GET /v1/files': uploads.listFiles,
  'GET /v1/files/{file_id}': uploads.retrieveFile,
  'DELETE /v1/files/{file_id}': uploads.deleteFile,
  'GET /v1/safety/cases/{case_id}': retrieveSafetyCase
}

const MAX_RECORDED_NONCONFORMING = 1000
const MAX_RECORDED_ISSUES = 20
const SILENT: Logger = { info () {}, warn () {}, error () {} }

function initialConfig (options: SimulatorOptions): SimConfig {
  const keys = options.apiKey === undefined ? ['sk-sim-local'] : [options.apiKey].flat()
  return {
    apiKeys: new Set(keys),
    generationMs: options.generationMs ?? 200,
    queueMs: options.queueMs ?? 20,
    streamChunkMs: options.streamChunkMs ?? null,
    pollAfterMs: options.pollAfterMs ?? null,
    latency: { fixedMs: options.latency?.fixedMs ?? 0, jitterMs: options.latency?.jitterMs ?? 0 },
    sampleParamRejectPattern: options.sampleParamRejectPattern ?? /^(gpt-5|o\d)/,
    validate: options.validate ?? true,
    maxTranscriptionBytes: options.maxTranscriptionBytes ?? 25 * 1024 * 1024,
    maxFileBytes: options.maxFileBytes ?? 512 * 1024 * 1024,
    contextWindowTokens: options.contextWindowTokens ?? 400_000,
    promptCacheMinTokens: options.promptCacheMinTokens ?? 1024,
    safetyReadKeys: new Set(options.safetyReadKeys === undefined ? [] : [options.safetyReadKeys].flat()),
    safetyNotices: options.safetyNotices ?? 'with-identifier'
  }
}

function maskKey (key: string): string {
  return key.length <= 8 ? '*'.repeat(key.length) : `${key.slice(0, 3)}${'*'.repeat(Math.min(key.length - 7, 40))}${key.slice(-4)}`
}

/** OpenAI's 401s: no key, or a key it does not know. */
function authError (header: string | undefined, config: SimConfig): ApiError | null {
  const key = header?.startsWith('Bearer ') ? header.slice(7).trim() : ''
  if (key !== '' && (config.apiKeys.has(key) || config.safetyReadKeys.has(key))) return null
  const message = key === ''
    ? 'You didn\'t provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).'
    : `Incorrect API key provided: ${maskKey(key)}. You can find your API key at https://platform.openai.com/account/api-keys.`
  return new ApiError(401, message, { code: 'invalid_api_key' })
}

export async function startSimulator (options: SimulatorOptions = {}): Promise<Simulator> {
  const log = options.logger ?? SILENT
  const core: Core = {
    config: initialConfig(options),
    conversations: new Map(),
    responses: new Map(),
    files: new Map(),
    timers: new Timers(),
    log,
    promptCache: new PromptCache(),
    requestLog: new RequestLog(options.requestLogSize ?? 1000),
    webhooks: new WebhookSender(options.webhooks),
    safetyCases: new Map(),
    obfuscatedStreams: 0
  }
  const validator = createValidator()
  const route = createRouter()
  const faults = new Faults()
  let counters = new Map<string, number>()
  let nonconforming: NonconformingRequest[] = []
  let nonconformingCount = 0
  const pending = new Set<ServerResponse>()

  function record (entry: NonconformingRequest): void {
    nonconformingCount++
    if (nonconforming.length < MAX_RECORDED_NONCONFORMING) nonconforming.push(entry)
    log.warn(`nonconforming request ${entry.method} ${entry.path}: ${describeIssues(entry.errors).message}`)
  }

  /** Validates one part of a request; records it and throws the 400 when it does not conform. */
  function conform (ctx: RequestContext, location: 'path' | 'query' | 'body', data: unknown): void {
    if (!core.config.validate || ctx.route.operationId === null) return
    const issues = validator.check(ctx.route.operationId, location, data)
    if (issues === null) return
    record({ route: ctx.route.key, method: ctx.req.method ?? '', path: ctx.req.url ?? '', errors: issues.slice(0, MAX_RECORDED_ISSUES) })
    const { message, param } = describeIssues(issues)
    throw new ApiError(400, message, { param, code: 'schema_validation_failed' })
  }

  async function run (ctx: RequestContext, search: string): Promise<void> {
    conform(ctx, 'path', ctx.params)
    ctx.query = parseQuery(search)
    conform(ctx, 'query', ctx.query)
    const body = ctx.route.operationId === null ? null : validator.body(ctx.route.operationId)
    if (body === null) {
      ctx.req.resume()
    } else if (body.contentType === 'application/json') {
      try {
        ctx.body = await readJson(ctx.req)
      } catch (error) {
        if (error instanceof ApiError && error.status === 400) {
          record({ route: ctx.route.key, method: ctx.req.method ?? '', path: ctx.req.url ?? '', errors: [{ location: 'body', instancePath: '', schemaPath: '', keyword: 'json', message: 'body is not valid JSON', params: {} }] })
        }
        throw error
      }
      if (ctx.body === undefined && body.required && core.config.validate) {
        record({ route: ctx.route.key, method: ctx.req.method ?? '', path: ctx.req.url ?? '', errors: [{ location: 'body', instancePath: '', schemaPath: '', keyword: 'required', message: 'request body is required', params: {} }] })
        throw new ApiError(400, 'Request does not conform to the OpenAPI schema: a request body is required', { code: 'schema_validation_failed' })
      }
      // An optional body that is absent reads as {}: a POST without one must still have what {} lacks.
      ctx.body ??= {}
      conform(ctx, 'body', ctx.body)
    }
    await HANDLERS[ctx.route.key](ctx)
  }

  function fail (ctx: { res: ServerResponse, requestId: string, startedAt: number }, error: unknown): void {
    if (error instanceof ApiError) {
      sendError(ctx, error)
      return
    }
    log.error(`simulator error: ${(error as Error)?.stack ?? String(error)}`)
    sendError(ctx, new ApiError(500, 'The server had an error while processing your request. Sorry about that!', { type: 'server_error' }))
  }

  function handle (req: IncomingMessage, res: ServerResponse): void {
    const startedAt = performance.now()
    const base = { req, res, requestId: requestId(), startedAt }
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    const search = q === -1 ? '' : url.slice(q + 1)
    const denied = authError(req.headers.authorization, core.config)

    if (path.startsWith('/__sim/')) {
      if (denied) { req.resume(); fail(base, denied); return }
      control(sim, base, path, search).catch((error: unknown) => fail(base, error))
      return
    }
    const match = route(req.method ?? 'GET', path)
    if (match === null) {
      counters.set('unmatched', (counters.get('unmatched') ?? 0) + 1)
      req.resume()
      fail(base, denied ?? new ApiError(404, `Invalid URL (${req.method} ${path})`))
      return
    }
    const key = match.def.key
    counters.set(key, (counters.get(key) ?? 0) + 1)
    const fault = faults.decide(key)
    const ctx: RequestContext = {
      ...base,
      route: match.def,
      params: match.params,
      query: {},
      body: undefined,
      fault,
      core,
      checkBody: (data) => conform(ctx, 'body', data)
    }
    const proceed = () => {
      if (res.destroyed) return
      if (fault.hang) {
        // Never answered: the client gives up; close() destroys the socket.
        pending.add(res)
        res.on('close', () => pending.delete(res))
        return
      }
      if (fault.status) {
        req.resume()
        fail(ctx, faultError(fault.status))
        return
      }
      if (denied) {
        req.resume()
        fail(ctx, denied)
        return
      }
      run(ctx, search).catch((error: unknown) => fail(ctx, error))
    }
    const delay = fault.latencyMs + latencyMs(core.config.latency)
    if (delay > 0) core.timers.after(delay, proceed)
    else proceed()
  }

  const server: Server = createServer({ keepAliveTimeout: 10_000 }, handle)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const origin = `http://${host}:${address.port}`
  // Compiling the createResponse validator takes ~100 ms: do it after listening, not on first use.
  if (options.precompile) setImmediate(() => validator.warm())

  const sim: Simulator = {
    url: `${origin}/v1`,
    origin,
    port: address.port,
    counters: () => Object.fromEntries(counters),
    nonconforming: () => nonconforming.map((n) => ({ ...n })),
    faults: {
      add: (rule) => faults.add(rule),
      clear: () => faults.clear(),
      list: () => faults.list()
    },
    setLatency (latency) {
      core.config.latency = { ...core.config.latency, ...latency }
    },
    configure (patch) {
      const { latency, webhooks, safetyReadKeys, ...rest } = patch
      if (webhooks) core.webhooks.configure(webhooks)
      if (safetyReadKeys) core.config.safetyReadKeys = new Set(safetyReadKeys)
      Object.assign(core.config, rest)
      if (latency) sim.setLatency(latency)
    },
    config () {
      const c = core.config
      return {
        generationMs: c.generationMs,
        queueMs: c.queueMs,
        streamChunkMs: c.streamChunkMs,
        pollAfterMs: c.pollAfterMs,
        latency: { ...c.latency },
        sampleParamRejectPattern: c.sampleParamRejectPattern.source,
        validate: c.validate,
        maxTranscriptionBytes: c.maxTranscriptionBytes,
        maxFileBytes: c.maxFileBytes,
        contextWindowTokens: c.contextWindowTokens,
        promptCacheMinTokens: c.promptCacheMinTokens,
        safetyNotices: c.safetyNotices,
        safetyReadKeys: c.safetyReadKeys.size,
        webhooks: core.webhooks.settings()
      }
    },
    stats () {
      let active = 0
      for (const rec of core.responses.values()) if (!TERMINAL_STATUSES.has(rec.wire.status)) active++
      return {
        counters: sim.counters(),
        nonconforming: { count: nonconformingCount, requests: sim.nonconforming() },
        responses: { total: core.responses.size, active },
        conversations: core.conversations.size,
        files: core.files.size,
        hanging: pending.size,
        timers: core.timers.size + core.webhooks.timers,
        faults: faults.list(),
        requests: core.requestLog.total,
        promptCache: { prefixes: core.promptCache.size },
        webhooks: core.webhooks.stats(),
        safetyCases: core.safetyCases.size,
        obfuscatedStreams: core.obfuscatedStreams
      }
    },
    safetyCases: () => [...core.safetyCases.values()].map((c) => structuredClone(c)),
    requestLog: (query) => core.requestLog.list(query),
    webhooks: {
      stats: () => core.webhooks.stats(),
      deliveries: () => core.webhooks.deliveries(),
      idle: () => core.webhooks.idle(),
      settings: () => core.webhooks.settings()
    },
    reset () {
      for (const rec of core.responses.values()) responses.cancelResponse(core, rec)
      core.timers.clear()
      core.conversations.clear()
      core.responses.clear()
      core.files.clear()
      core.promptCache.clear()
      core.requestLog.clear()
      core.webhooks.reset()
      core.safetyCases.clear()
      core.obfuscatedStreams = 0
      counters = new Map()
      nonconforming = []
      nonconformingCount = 0
      faults.clear()
      core.config = initialConfig(options)
    },
    peek: {
      conversation (id) {
        const c = core.conversations.get(id)
        return c && { id: c.id, deleted: c.deleted, metadata: { ...c.metadata }, items: structuredClone(c.items), activeResponse: c.activeResponse }
      },
      response (id) {
        const rec = core.responses.get(id)
        return rec && { ...structuredClone(rec.wire), request: rec.request && { ...rec.request, context_management: structuredClone(rec.request.context_management) } }
      }
    },
    checkResponse: (operationId, body, status = 200, contentType = 'application/json') =>
      validator.checkResponse(operationId, status, contentType, body),
    close () {
      core.timers.clear()
      core.webhooks.close()
      for (const res of pending) res.destroy()
      return new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    }
  }
  return sim
}
