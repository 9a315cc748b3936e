import { createHash } from 'node:crypto'
import type { FunctionTool, ResponseCreateParamsBase, ResponseInputItem, ResponseTextConfig, ToolChoiceOptions, ToolChoiceFunction } from 'openai/resources/responses/responses'
import type { AssistantProfile, RunRecord } from '../store/types.ts'
import type { ToolRegistry } from '../tools/registry.ts'
import type { ResponseFormat } from '../../schemas/assistants.ts'
import type { ToolChoice } from '../../schemas/runs.ts'
import { compactionThreshold } from './context.ts'

export interface RoundInput {
  run: RunRecord
  profile: AssistantProfile
  /** Number of the round in the run (0 for the first response). */
  round: number
  /** What the round adds to the conversation: nothing for the first round, tool outputs after. */
  input: ResponseInputItem[]
  tools: FunctionTool[]
  /** Whether the response is created streamed (else it is polled). */
  streamed: boolean
  /** The run owner's safety identifier (services/users/identities.ts): a keyed hash, never the user id. */
  safetyIdentifier: string
  /** PROMPT_CACHE_SHARDS: how many cache keys a profile's prefix is spread over. */
  promptCacheShards: number
}

/**
 * The prompt cache key of a request: one per profile and prefix, shared by every user, so the prefix
 * every run of the profile starts with (model, instructions, tools) is cached once and read by all —
 * the history after it is each thread's own anyway. OpenAI routes requests by the key and the prefix's
 * first tokens; beyond about 15 requests a minute per key they overflow to other machines, so a busy
 * profile can be spread over `shards` keys, picked by the user's identifier (a user keeps their shard).
 */
export function promptCacheKey (profileId: string, model: string, instructions: string, tools: FunctionTool[], safetyIdentifier: string, shards: number): string {
  const prefix = createHash('sha256').update(`${model}\0${instructions}\0${JSON.stringify(tools)}`).digest('base64url').slice(0, 16)
  if (shards <= 1) return `agw:${profileId}:${prefix}`
  const shard = createHash('sha256').update(safetyIdentifier).digest().readUInt32BE(0) % shards
  return `agw:${profileId}:${prefix}:${shard}`
}

/** The functions a profile's runs offer the model: its server-side tools, then its client tools (run by the SPA). */
export function roundTools (profile: Pick<AssistantProfile, 'tools' | 'client_tools'>, registry: ToolRegistry): FunctionTool[] {
  return [
    ...registry.definitions(profile.tools),
    ...profile.client_tools.map(tool => ({ type: 'function' as const, name: tool.name, description: tool.description, parameters: tool.parameters, strict: false }))
  ]
}

/** The Assistants API's response_format as the Responses API's text format ('auto': none sent). */
function textFormat (format: ResponseFormat | null): ResponseTextConfig | null {
  if (format === null || format === 'auto') return null
  if (format.type !== 'json_schema') return { format: { type: format.type } }
  const { name, description, schema, strict } = format.json_schema
  return { format: { type: 'json_schema', name, schema: (schema ?? {}) as Record<string, unknown>, ...(description ? { description } : {}), ...(strict !== undefined && strict !== null ? { strict } : {}) } }
}

function toolChoice (choice: ToolChoice): ToolChoiceOptions | ToolChoiceFunction {
  return typeof choice === 'string' ? choice : { type: 'function', name: choice.function.name }
}

/**
 * The upstream request of one round: a background response on the thread's conversation, stored, with
 * the profile's instructions, model and tools, the run's own settings, and who it is for (the safety
 * identifier) and which prompt cache it shares. The one place a run's parameters are mapped onto the
 * Responses API.
 */
export function roundParams ({ run, profile, round, input, tools, streamed, safetyIdentifier, promptCacheShards }: RoundInput): ResponseCreateParamsBase {
  const text = textFormat(run.response_format)
  // The Responses API has no prompt-token cap: a cap, like truncation_strategy, means "cut the thread to fit".
  const truncate = run.truncation_strategy !== null || run.max_prompt_tokens !== null || run.context_policy?.truncation === 'auto'
  const compactAt = compactionThreshold(run.context_policy)
  const instructions = run.additional_instructions ? `${profile.instructions}\n\n${run.additional_instructions}` : profile.instructions
  return {
    model: profile.model,
    instructions,
    conversation: run.thread_id,
    ...(input.length > 0 ? { input } : {}),
    ...(tools.length > 0
      ? { tools, tool_choice: run.tool_choice === null ? 'auto' as const : toolChoice(run.tool_choice), parallel_tool_calls: run.parallel_tool_calls ?? true }
      : {}),
    ...(text ? { text } : {}),
    ...(truncate ? { truncation: 'auto' as const } : {}),
    // The profile's context policy: older items become one compaction item once the context passes the threshold.
    ...(compactAt !== null ? { context_management: [{ type: 'compaction', compact_threshold: compactAt }] } : {}),
    max_output_tokens: run.max_output_tokens ?? profile.max_output_tokens,
    ...(run.temperature !== null ? { temperature: run.temperature } : {}),
    ...(run.top_p !== null ? { top_p: run.top_p } : {}),
    background: true,
    store: true,
    // OpenAI acts on the end user behind a policy violation, not on the whole organisation (UPSTREAM.md §13).
    safety_identifier: safetyIdentifier,
    prompt_cache_key: promptCacheKey(profile.id, profile.model, instructions, tools, safetyIdentifier, promptCacheShards),
    ...(streamed ? { stream: true, stream_options: { include_obfuscation: false } } : {}),
    metadata: { gateway_run_id: run.id, gateway_round: String(round) }
  }
}
