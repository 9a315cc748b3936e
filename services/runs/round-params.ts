import type { FunctionTool, ResponseCreateParamsBase, ResponseInputItem } from 'openai/resources/responses/responses'
import type { AssistantProfile, RunRecord } from '../store/types.ts'

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
}

/**
 * The upstream request of one round: a background response on the thread's conversation, stored, with
 * the profile's instructions, model and tools and the run's own settings. The one place a run's
 * parameters are mapped onto the Responses API.
 */
export function roundParams ({ run, profile, round, input, tools, streamed }: RoundInput): ResponseCreateParamsBase {
  return {
    model: profile.model,
    instructions: profile.instructions,
    conversation: run.thread_id,
    ...(input.length > 0 ? { input } : {}),
    ...(tools.length > 0 ? { tools, tool_choice: 'auto' as const, parallel_tool_calls: true } : {}),
    max_output_tokens: run.max_output_tokens ?? profile.max_output_tokens,
    ...(run.temperature !== null ? { temperature: run.temperature } : {}),
    ...(run.top_p !== null ? { top_p: run.top_p } : {}),
    background: true,
    store: true,
    ...(streamed ? { stream: true, stream_options: { include_obfuscation: false } } : {}),
    metadata: { gateway_run_id: run.id, gateway_round: String(round) }
  }
}
