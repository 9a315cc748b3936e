import { invalidArgument } from '../errors.ts'
import type { ResponseFormat } from '../../schemas/assistants.ts'
import type { CreateRunBody, ToolChoice, TruncationStrategy } from '../../schemas/runs.ts'
import type { NewMessage } from '../threads/items.ts'

/** What a caller asks of a new run, in domain terms (the wire's two spellings resolved). */
export interface RunRequest {
  /** A profile id or one of its aliases. */
  assistant: string
  /** The field the caller named the assistant with, for errors. */
  assistantField: 'assistant_id' | 'assistant_type'
  temperature?: number
  top_p?: number
  /** The lower of max_output_tokens and max_completion_tokens, when either is given. */
  max_output_tokens?: number
  max_output_field: 'max_output_tokens' | 'max_completion_tokens'
  max_prompt_tokens?: number
  truncation_strategy?: TruncationStrategy
  response_format?: ResponseFormat
  tool_choice?: ToolChoice
  parallel_tool_calls?: boolean
  metadata?: Record<string, string>
  additional_instructions?: string
  additional_messages: NewMessage[]
  /** A client streams the run: its upstream responses are always created streamed. */
  stream: boolean
}

/** Run settings a profile owns: a run asking for its own is refused, saying so. */
const PROFILE_FIELDS = ['model', 'instructions', 'tools', 'reasoning_effort'] as const

const given = <T>(value: T | null | undefined): T | undefined => value ?? undefined

/**
 * The run a POST …/runs (or POST /threads/runs) body asks for. The SDKs send null for settings they do not
 * set; null is "not set" here too.
 */
export function runRequest (body: Omit<CreateRunBody, 'wait'>, stream: boolean): RunRequest {
  for (const field of PROFILE_FIELDS) {
    if (body[field] !== undefined && body[field] !== null) {
      throw invalidArgument(field, 'is set by the assistant\'s profile; a run cannot change it (ask an admin to change the assistant)')
    }
  }
  const { assistant_id: id, assistant_type: type } = body
  if (id !== undefined && type !== undefined && id !== type) throw invalidArgument('assistant_id', `and assistant_type name different assistants ("${id}", "${type}")`)
  const assistant = id ?? type
  if (assistant === undefined) throw invalidArgument('assistant_id', 'is required (or assistant_type)')
  if (body.truncation_strategy?.type === 'last_messages') {
    // The Responses API truncates only to fit the context ("auto"): keeping the last N messages is not something it can do.
    throw invalidArgument('truncation_strategy', 'last_messages is not supported: use { "type": "auto" } (the thread is cut to fit the context)')
  }
  const caps = [body.max_output_tokens, body.max_completion_tokens].filter((n): n is number => typeof n === 'number')
  return {
    assistant,
    assistantField: id !== undefined ? 'assistant_id' : 'assistant_type',
    temperature: given(body.temperature),
    top_p: given(body.top_p),
    max_output_tokens: caps.length > 0 ? Math.min(...caps) : undefined,
    max_output_field: typeof body.max_completion_tokens === 'number' && body.max_completion_tokens <= (body.max_output_tokens ?? Infinity) ? 'max_completion_tokens' : 'max_output_tokens',
    max_prompt_tokens: given(body.max_prompt_tokens),
    truncation_strategy: given(body.truncation_strategy),
    response_format: given(body.response_format),
    tool_choice: given(body.tool_choice),
    parallel_tool_calls: given(body.parallel_tool_calls),
    metadata: given(body.metadata),
    additional_instructions: given(body.additional_instructions),
    additional_messages: body.additional_messages ?? [],
    stream
  }
}
