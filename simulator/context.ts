// What a response reads and what it costs: the context after compaction and truncation, the input
// token count, and the prompt-cache figures. simulator/README.md ("Usage and context") documents it.
import { createHash, randomBytes } from 'node:crypto'
import { ApiError } from './errors.ts'
import { hexId } from './ids.ts'
import type { Item } from './scripted-model.ts'
import { itemText, tokens } from './scripted-model.ts'

/** What a compaction item weighs when it is read again: small, whatever it replaced. */
export const COMPACTION_SUMMARY_TOKENS = 200
/** Without a compact_threshold, compaction starts at this share of the context window. */
const DEFAULT_COMPACT_SHARE = 0.8
// The prefixes seen are a set of hashes; a long benchmark must not grow it without end.
const MAX_CACHED_PREFIXES = 10_000

export interface ContextRequest {
  model: string
  instructions: string
  tools: unknown[] | undefined
  promptCacheKey: string | null
  promptCacheRetention: unknown
  truncation: unknown
  contextManagement: unknown
  /** The conversation's or previous responses' items, oldest first. */
  context: Item[]
  input: Item[]
}

export interface ContextUsage {
  inputTokens: number
  cachedTokens: number
  cacheWriteTokens: number
  /** Which cache_write_tokens_details bucket the write goes to. */
  cacheWriteTtl: '30m' | '12h'
  /** The compaction item this response emits (first in its output), or null. */
  compaction: Item | null
  /** Context items truncation: 'auto' left out. */
  truncatedItems: number
}

export interface ContextLimits {
  contextWindowTokens: number
  promptCacheMinTokens: number
}

/** The instructions+tools prefixes seen per model and prompt_cache_key. Forgotten only by reset(). */
export class PromptCache {
  #seen = new Set<string>()

  /** Whether the key was seen before; remembers it either way. */
  seen (key: string): boolean {
    if (this.#seen.has(key)) return true
    if (this.#seen.size >= MAX_CACHED_PREFIXES) {
      const oldest = this.#seen.values().next().value
      if (oldest !== undefined) this.#seen.delete(oldest)
    }
    this.#seen.add(key)
    return false
  }

  clear (): void {
    this.#seen.clear()
  }

  get size (): number {
    return this.#seen.size
  }
}

export function contextLengthExceeded (): ApiError {
  return new ApiError(400, 'Your input exceeds the context window of this model. Please adjust your input and try again.', {
    param: 'input',
    code: 'context_length_exceeded'
  })
}

function lastIndexOfType (items: Item[], type: string): number {
  for (let i = items.length - 1; i >= 0; i--) if (items[i].type === type) return i
  return -1
}

function sum (values: number[]): number {
  let total = 0
  for (const v of values) total += v
  return total
}

function compactThreshold (contextManagement: unknown, window: number): number | null {
  if (!Array.isArray(contextManagement)) return null
  const entry = contextManagement.find((e) => (e as { type?: unknown })?.type === 'compaction') as { compact_threshold?: number | null } | undefined
  if (!entry) return null
  return typeof entry.compact_threshold === 'number' ? entry.compact_threshold : Math.floor(window * DEFAULT_COMPACT_SHARE)
}

function compactionItem (): Item {
  // Opaque like OpenAI's; its length is what it costs when read again.
  const encrypted = randomBytes(COMPACTION_SUMMARY_TOKENS * 3).toString('base64')
  return { id: hexId('cmp_'), type: 'compaction', encrypted_content: encrypted }
}

/**
 * Measures a request: the model reads the instructions, the tools and every item from the latest
 * compaction item on. The items before the current turn (the latest user message and what follows
 * it: the calls and their outputs) are the older context: compaction replaces them by one summary item once the whole
 * exceeds the threshold; truncation 'auto' then drops the oldest of them until it fits the window;
 * without it an oversized request is refused with context_length_exceeded.
 */
export function measureContext (limits: ContextLimits, cache: PromptCache, req: ContextRequest): ContextUsage {
  const all = req.context.length === 0 ? req.input : [...req.context, ...req.input]
  const from = Math.max(0, lastIndexOfType(all, 'compaction'))
  let turnStart = all.length - 1
  while (turnStart >= from && !(all[turnStart].type === 'message' && all[turnStart].role === 'user')) turnStart--
  if (turnStart < from) turnStart = Math.max(from, req.context.length)
  const older = all.slice(from, turnStart)
  const current = all.slice(turnStart)

  const toolsJson = req.tools && req.tools.length > 0 ? JSON.stringify(req.tools) : ''
  const prefixTokens = tokens(req.instructions) + tokens(toolsJson)
  const inputTokens = sum(current.map((i) => tokens(itemText(i))))
  let itemTokens = older.map((i) => tokens(itemText(i)))
  const window = limits.contextWindowTokens

  let compaction: Item | null = null
  const threshold = compactThreshold(req.contextManagement, window)
  if (threshold !== null && itemTokens.length > 0 && prefixTokens + sum(itemTokens) + inputTokens > threshold) {
    compaction = compactionItem()
    itemTokens = [COMPACTION_SUMMARY_TOKENS]
  }

  let total = prefixTokens + sum(itemTokens) + inputTokens
  let truncatedItems = 0
  if (total > window && req.truncation === 'auto') {
    while (total > window && truncatedItems < itemTokens.length) total -= itemTokens[truncatedItems++]
  }
  if (total > window) throw contextLengthExceeded()

  let cachedTokens = 0
  let cacheWriteTokens = 0
  // Only a prefix long enough to be cached costs a hash: short prompts pay nothing here.
  if (prefixTokens >= limits.promptCacheMinTokens && prefixTokens > 0) {
    const digest = createHash('sha256').update(req.instructions).update('\0').update(toolsJson).digest('base64')
    const key = `${req.model}\0${req.promptCacheKey ?? ''}\0${digest}`
    if (cache.seen(key)) cachedTokens = prefixTokens
    else cacheWriteTokens = prefixTokens
  }

  return {
    inputTokens: total,
    cachedTokens,
    cacheWriteTokens,
    cacheWriteTtl: req.promptCacheRetention === '24h' ? '12h' : '30m',
    compaction,
    truncatedItems
  }
}

/** The `usage` of a finished response. */
export function usage (measured: ContextUsage, outputTokens: number): Record<string, unknown> {
  const write = measured.cacheWriteTokens
  return {
    input_tokens: measured.inputTokens,
    input_tokens_details: {
      cached_tokens: measured.cachedTokens,
      cache_write_tokens: write,
      cache_write_tokens_details: {
        ttl_30m_tokens: measured.cacheWriteTtl === '30m' ? write : 0,
        ttl_12h_tokens: measured.cacheWriteTtl === '12h' ? write : 0
      }
    },
    output_tokens: outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: measured.inputTokens + outputTokens
  }
}
