import type { Response } from 'openai/resources/responses/responses'
import { ZERO_USAGE } from '../budget-service.ts'
import type { TokenUsage } from '../../schemas/usage.ts'
import type { AssistantProfile } from '../store/types.ts'
import type { ContextPolicy } from '../../schemas/assistants.ts'
import { COMPACTION_ALLOWANCE_TOKENS, compactionThreshold } from './context.ts'

/** The usage of an upstream response in the ledger's terms (zero while it has none). */
export function usageOf (response: Pick<Response, 'usage'>): TokenUsage {
  const u = response.usage
  if (!u) return { ...ZERO_USAGE }
  return {
    input_tokens: u.input_tokens ?? 0,
    cached_tokens: u.input_tokens_details?.cached_tokens ?? 0,
    cache_write_tokens: u.input_tokens_details?.cache_write_tokens ?? 0,
    output_tokens: u.output_tokens ?? 0,
    reasoning_tokens: u.output_tokens_details?.reasoning_tokens ?? 0,
    total_tokens: u.total_tokens ?? 0
  }
}

export function addUsage (a: TokenUsage | null, b: TokenUsage): TokenUsage {
  const base = a ?? ZERO_USAGE
  return {
    input_tokens: base.input_tokens + b.input_tokens,
    cached_tokens: base.cached_tokens + b.cached_tokens,
    // A run recorded before cache writes were counted has none.
    cache_write_tokens: (base.cache_write_tokens ?? 0) + b.cache_write_tokens,
    output_tokens: base.output_tokens + b.output_tokens,
    reasoning_tokens: base.reasoning_tokens + b.reasoning_tokens,
    total_tokens: base.total_tokens + b.total_tokens
  }
}

/** With compaction: its threshold, and the current turn (what compaction keeps), when the thread knows it. */
export interface CompactionBound { threshold: number, turnTokens: number | null }

/** The bound a run's context policy puts on its rounds' input, given the thread's current turn. */
export function compactionBound (policy: ContextPolicy | null, turnTokens: number | null): CompactionBound | null {
  const threshold = compactionThreshold(policy)
  return threshold === null ? null : { threshold, turnTokens }
}

/**
 * Upper estimate of the input of a round: the thread so far, the instructions and tools, the new input.
 * With compaction the round reads at most the threshold, or — when it compacts — the instructions and
 * tools, one compaction item and the current turn; the estimate follows, never below what it may read.
 */
export function estimateInputTokens (threadEstimate: number, profile: AssistantProfile, toolChars: number, input: unknown[], compaction: CompactionBound | null = null): number {
  // UTF-8 bytes, like estimateTokens; the tool definitions are ASCII JSON.
  const prefix = Math.ceil((Buffer.byteLength(profile.instructions, 'utf8') + toolChars) / 2) + 64
  const added = Math.ceil(Buffer.byteLength(JSON.stringify(input), 'utf8') / 2)
  const whole = threadEstimate + prefix + added
  if (compaction === null || compaction.turnTokens === null) return whole
  return Math.min(whole, Math.max(compaction.threshold, prefix + COMPACTION_ALLOWANCE_TOKENS + compaction.turnTokens + added))
}
