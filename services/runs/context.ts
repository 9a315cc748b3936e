import type { AssistantProfile, ContextPolicy } from '../../schemas/assistants.ts'

/**
 * What a compaction item is assumed to cost when the budget bounds a compacted turn: OpenAI does not say
 * (the simulator's is 200 tokens), so a generous guess. Too low could let a reservation fall short of the
 * real input; too high only reserves more than needed.
 */
export const COMPACTION_ALLOWANCE_TOKENS = 1000

/** The policy a run of the profile applies: null when the profile sets none (the thread is read whole, as always). */
export function appliedContextPolicy (profile: Pick<AssistantProfile, 'context_policy'>): ContextPolicy | null {
  const policy = profile.context_policy
  if (!policy) return null
  const applied: ContextPolicy = {
    truncation: policy.truncation === 'auto' ? 'auto' : 'disabled',
    compact_threshold: policy.compact_threshold ?? null,
    max_input_tokens: policy.max_input_tokens ?? null
  }
  return applied.truncation === 'auto' || applied.compact_threshold !== null || applied.max_input_tokens !== null ? applied : null
}

/** The threshold compaction is asked for at: the lower of compact_threshold and the per-turn cap. */
export function compactionThreshold (policy: ContextPolicy | null): number | null {
  const thresholds = [policy?.compact_threshold, policy?.max_input_tokens].filter((n): n is number => typeof n === 'number')
  return thresholds.length > 0 ? Math.min(...thresholds) : null
}
