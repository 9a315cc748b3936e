import type { ConversationItem } from 'openai/resources/conversations/items'
import type { Run } from '../../schemas/runs.ts'
import type { Message } from '../../schemas/threads.ts'
import { isActiveRunStatus, type RunRecord } from '../store/types.ts'

/** The contract's Run object. */
export function toRunView (run: RunRecord): Run {
  const ended = !isActiveRunStatus(run.status)
  return {
    id: run.id,
    object: 'thread.run',
    created_at: run.created_at,
    thread_id: run.thread_id,
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
    max_output_tokens: run.max_output_tokens
  }
}

export interface MessageFields {
  id: string
  thread_id: string
  role: Message['role']
  /** Text of each content part, in order. */
  texts: string[]
  created_at?: number | null
  run_id?: string | null
  attachments?: string[]
}

/** The contract's Message object: the one place its shape is spelled out. */
export function messageView (m: MessageFields): Message {
  return {
    id: m.id,
    object: 'thread.message',
    created_at: m.created_at ?? null,
    thread_id: m.thread_id,
    role: m.role,
    run_id: m.run_id ?? null,
    content: m.texts.map(value => ({ type: 'text' as const, text: { value, annotations: [] } })),
    attachments: (m.attachments ?? []).map(file_id => ({ file_id }))
  }
}

/** The Message of an upstream conversation item; items other than user and assistant messages are not messages. */
export function messageFromItem (item: ConversationItem, threadId: string, seen?: { created_at: number, run_id: string | null }): Message | null {
  if (item.type !== 'message' || (item.role !== 'user' && item.role !== 'assistant')) return null
  const texts: string[] = []
  const attachments: string[] = []
  for (const part of item.content) {
    if (part.type === 'input_text' || part.type === 'output_text' || part.type === 'text') texts.push(part.text)
    else if ((part.type === 'input_file' || part.type === 'input_image') && part.file_id) attachments.push(part.file_id)
  }
  return messageView({ id: item.id, thread_id: threadId, role: item.role, texts, attachments, ...seen })
}
