import type { ConversationItem } from 'openai/resources/conversations/items'
import type { Run } from '../../schemas/runs.ts'
import type { Message } from '../../schemas/threads.ts'
import { attachmentsOf, isActiveRunStatus, type MessageAttachment, type MessageRecord, type RunRecord } from '../store/types.ts'

/**
 * The contract's Run object. `instructions` is given for admins only: a profile's prompt is not shown
 * to users.
 */
export function toRunView (run: RunRecord, instructions: string | null = null): Run {
  const ended = !isActiveRunStatus(run.status)
  return {
    id: run.id,
    object: 'thread.run',
    created_at: run.created_at,
    thread_id: run.thread_id,
    assistant_id: run.assistant_type,
    assistant_type: run.assistant_type,
    model: run.model,
    status: run.status,
    started_at: run.started_at,
    completed_at: run.completed_at,
    cancelled_at: run.cancelled_at,
    failed_at: run.failed_at,
    last_error: run.last_error,
    incomplete_details: run.incomplete_details,
    usage: ended
      ? {
          prompt_tokens: run.usage?.input_tokens ?? 0,
          completion_tokens: run.usage?.output_tokens ?? 0,
          total_tokens: run.usage?.total_tokens ?? 0
        }
      : null,
    temperature: run.temperature,
    top_p: run.top_p,
    max_output_tokens: run.max_output_tokens,
    max_completion_tokens: run.max_output_tokens,
    max_prompt_tokens: run.max_prompt_tokens,
    instructions,
    tools: run.tools ?? [],
    required_action: run.required_action,
    expires_at: run.expires_at,
    metadata: run.metadata ?? {},
    parallel_tool_calls: run.parallel_tool_calls ?? true,
    response_format: run.response_format,
    tool_choice: run.tool_choice,
    // A profile that truncates shows it the way the Assistants API did, unless the run asked for its own.
    truncation_strategy: run.truncation_strategy ?? (run.context_policy?.truncation === 'auto' ? { type: 'auto', last_messages: null } : null),
    context_policy: run.context_policy ?? null
  }
}

/** The last_error codes the Assistants API's types declare; the gateway's own codes are named in the message. */
const ASSISTANTS_ERROR_CODES = new Set(['server_error', 'rate_limit_exceeded', 'invalid_prompt'])

/**
 * A Run in the Assistants API's own vocabulary, for clients that speak it (OpenAI-Beta: assistants=v2):
 * a run over its time limit is `expired`, as theirs were; an error code their types do not declare is a
 * server_error whose message names the gateway's code; the output cap is max_completion_tokens.
 */
export function assistantsRunView (run: Run): Run {
  if (run.status === 'failed' && run.last_error?.code === 'run_timeout') return { ...run, status: 'expired', last_error: null }
  const lastError = run.last_error && !ASSISTANTS_ERROR_CODES.has(run.last_error.code)
    ? { code: 'server_error', message: `${run.last_error.message} (${run.last_error.code})` }
    : run.last_error
  const incomplete = run.incomplete_details?.reason === 'max_output_tokens' ? { reason: 'max_completion_tokens' } : run.incomplete_details
  return { ...run, last_error: lastError, incomplete_details: incomplete }
}

export interface MessageFields {
  id: string
  thread_id: string
  role: Message['role']
  /** Text of each content part, in order. */
  texts: string[]
  status?: Message['status']
  created_at?: number | null
  /** When it was completed (or cut off, for an incomplete one); defaults to created_at. */
  ended_at?: number | null
  incomplete_reason?: string
  run_id?: string | null
  assistant_id?: string | null
  attachments?: MessageAttachment[]
  metadata?: Record<string, string> | null
}

/** The contract's Message object: the one place its shape is spelled out. */
export function messageView (m: MessageFields): Message {
  const status = m.status ?? 'completed'
  const createdAt = m.created_at ?? null
  const endedAt = m.ended_at === undefined ? createdAt : m.ended_at
  return {
    id: m.id,
    object: 'thread.message',
    created_at: createdAt,
    thread_id: m.thread_id,
    role: m.role,
    run_id: m.run_id ?? null,
    assistant_id: m.assistant_id ?? null,
    status,
    completed_at: status === 'completed' ? endedAt : null,
    incomplete_at: status === 'incomplete' ? endedAt : null,
    // An upstream message item is cut off by the token cap (content filtering fails a response instead).
    incomplete_details: status === 'incomplete' ? { reason: m.incomplete_reason ?? 'max_tokens' } : null,
    content: m.texts.map(value => ({ type: 'text' as const, text: { value, annotations: [] } })),
    attachments: (m.attachments ?? []).map(a => ({ file_id: a.file_id, tools: a.tools })),
    metadata: m.metadata ?? {}
  }
}

/** Conversation items shown as messages: user and assistant messages (not tool calls, not system text). */
export const isMessage = (item: ConversationItem): item is Extract<ConversationItem, { type: 'message' }> & { role: 'user' | 'assistant' } =>
  item.type === 'message' && (item.role === 'user' || item.role === 'assistant')

/** The Message of an upstream conversation item, with what the gateway's message index knows of it. */
export function messageFromItem (item: ConversationItem, threadId: string, indexed?: MessageRecord): Message | null {
  if (!isMessage(item)) return null
  const texts: string[] = []
  const files: string[] = []
  for (const part of item.content) {
    if (part.type === 'input_text' || part.type === 'output_text' || part.type === 'text') texts.push(part.text)
    else if ((part.type === 'input_file' || part.type === 'input_image') && part.file_id) files.push(part.file_id)
  }
  const status = item.status === 'in_progress' || item.status === 'incomplete' ? item.status : 'completed'
  return messageView({
    id: item.id,
    thread_id: threadId,
    role: item.role,
    texts,
    status,
    created_at: indexed?.created_at,
    run_id: indexed?.run_id,
    assistant_id: indexed?.assistant_id,
    metadata: indexed?.metadata,
    attachments: indexed ? attachmentsOf(indexed) : files.map(id => ({ file_id: id, tools: [] }))
  })
}
