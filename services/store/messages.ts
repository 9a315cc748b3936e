import type { Fields } from './fields.ts'

/** A file attached to a message, and the Assistants-era tools it was attached for (recorded, not used). */
export interface MessageAttachment { file_id: string, tools: Array<{ type: string }> }

/**
 * The message index: upstream item id → what the gateway knows of the message that the conversation
 * item does not hold: when the gateway saw it, which run (and assistant) wrote it, its attachments and
 * metadata. Rows written before contract v2 hold attachments as bare file ids and no metadata or
 * assistant: readers take both shapes (see attachmentsOf).
 */
export interface MessageRecord {
  thread_id: string
  item_id: string
  /** Unix seconds: when the gateway saw the message. */
  created_at: number
  run_id: string | null
  attachments: Array<MessageAttachment | string>
  metadata: Record<string, string> | null
  assistant_id: string | null
}

export const MESSAGE_FIELDS: Fields<MessageRecord> = {
  thread_id: 'raw',
  item_id: 'raw',
  created_at: 'value',
  run_id: 'value',
  attachments: 'json',
  metadata: 'json',
  assistant_id: 'value'
}

/** A record's attachments in today's shape, whichever shape they were written in. */
export const attachmentsOf = (record: Pick<MessageRecord, 'attachments'>): MessageAttachment[] =>
  record.attachments.map(a => typeof a === 'string' ? { file_id: a, tools: [] } : a)

export interface MessageStore {
  /** Inserts or overwrites. */
  putMessages (records: MessageRecord[]): Promise<void>
  getMessages (threadId: string, itemIds: string[]): Promise<Map<string, MessageRecord>>
  /** Forgets a message (deleted upstream); false when it was not indexed. */
  deleteMessage (threadId: string, itemId: string): Promise<boolean>
}
