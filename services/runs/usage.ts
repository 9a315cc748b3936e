import type { Response } from 'openai/resources/responses/responses'
import { ZERO_USAGE } from '../budget-service.ts'
import type { TokenUsage } from '../../schemas/usage.ts'
import type { AssistantProfile } from '../store/types.ts'

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

/** Upper estimate of the input of a round: the thread so far, the instructions and tools, the new input. */
export function estimateInputTokens (threadEstimate: number, profile: AssistantProfile, toolChars: number, input: unknown[]): number {
  // UTF-8 bytes, like estimateTokens; the tool definitions are ASCII JSON.
  return threadEstimate + Math.ceil((Buffer.byteLength(profile.instructions, 'utf8') + toolChars + Buffer.byteLength(JSON.stringify(input), 'utf8')) / 2) + 64
}
