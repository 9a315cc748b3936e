import type { ContextUsage, PromptCache } from './context.ts'
import type { Latency } from './faults.ts'
import type { RequestLog, RequestLogEntry } from './request-log.ts'
import type { SafetyCase, SafetyNoticeData } from './safety.ts'
import type { Item, Plan } from './scripted-model.ts'
import type { WebhookSender } from './webhooks.ts'

export interface Logger {
  info (message: string): void
  warn (message: string): void
  error (message: string): void
}

/** Knobs that can change while the simulator runs (options, `configure()`, `POST /__sim/config`). */
export interface SimConfig {
  apiKeys: Set<string>
  generationMs: number
  queueMs: number
  streamChunkMs: number | null
  pollAfterMs: number | null
  latency: Latency
  sampleParamRejectPattern: RegExp
  validate: boolean
  maxTranscriptionBytes: number
  maxFileBytes: number
  /** Input tokens a request may read; beyond it, context_length_exceeded unless truncation is 'auto'. */
  contextWindowTokens: number
  /** Shortest instructions+tools prefix that is cached (OpenAI: 1024 tokens). */
  promptCacheMinTokens: number
  /** Keys with the api.safety.read permission (GET /v1/safety/cases/{case_id}); also accepted everywhere. */
  safetyReadKeys: Set<string>
  /** What a safety.*_issued webhook's data carries besides the case id. */
  safetyNotices: SafetyNoticeData
}

export interface Conversation {
  id: string
  created_at: number
  metadata: Record<string, string>
  items: Item[]
  index: Map<string, Item>
  deleted: boolean
  /** The queued or in-progress response writing to this conversation, if any. */
  activeResponse: string | null
}

export interface FileRecord {
  id: string
  object: 'file'
  bytes: number
  created_at: number
  filename: string
  purpose: string
  status: 'processed'
  expires_at: number | null
}

export type WireResponse = Record<string, unknown> & {
  id: string
  status: string
  output: Item[]
}

export interface StreamListener {
  frame (frame: string): void
  end (): void
}

export interface ResponseRecord {
  id: string
  wire: WireResponse
  background: boolean
  /** Created with stream: true; only background ones can be streamed again later. */
  streamed: boolean
  stored: boolean
  conversationId: string | null
  inputItems: Item[]
  plan: Plan
  /** Input tokens, cache figures and the compaction item, measured when the request was accepted. */
  measured: ContextUsage
  /** The request-log entry of the request that created it. */
  request: RequestLogEntry | null
  /** Every SSE frame so far, kept for `?stream=true&starting_after=N` (background + stream only). */
  frames: string[] | null
  seq: number
  listeners: Set<StreamListener>
  waiters: Array<() => void>
  steps: Array<{ delay: number, run: () => void }>
  next: number
  timer: NodeJS.Timeout | null
  /** The serialized terminal wire object, cached because terminal responses are polled a lot. */
  json: string | null
}

/** Timers owned by the simulator, all cleared by close(). */
export class Timers {
  #set = new Set<NodeJS.Timeout>()

  after (ms: number, fn: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.#set.delete(timer)
      fn()
    }, Math.max(0, ms))
    this.#set.add(timer)
    return timer
  }

  cancel (timer: NodeJS.Timeout | null): void {
    if (timer === null) return
    clearTimeout(timer)
    this.#set.delete(timer)
  }

  clear (): void {
    for (const timer of this.#set) clearTimeout(timer)
    this.#set.clear()
  }

  get size (): number {
    return this.#set.size
  }
}

export interface Core {
  config: SimConfig
  conversations: Map<string, Conversation>
  responses: Map<string, ResponseRecord>
  files: Map<string, FileRecord>
  timers: Timers
  log: Logger
  promptCache: PromptCache
  requestLog: RequestLog
  webhooks: WebhookSender
  safetyCases: Map<string, SafetyCase>
  /** Response streams served with `obfuscation` padding on their delta events (the client did not turn it off). */
  obfuscatedStreams: number
}

export function nowSeconds (): number {
  return Math.floor(Date.now() / 1000)
}

export const TERMINAL_STATUSES = new Set(['completed', 'failed', 'cancelled', 'incomplete'])
