import type { Fields } from './fields.ts'

/** The message index: upstream item id → when the gateway saw it, which run produced it, attachments. */
export interface MessageRecord {
  thread_id: string
  item_id: string
  /** Unix seconds: when the gateway saw the message. */
  created_at: number
  run_id: string | null
  attachments: string[]
}

export const MESSAGE_FIELDS: Fields<MessageRecord> = {
  thread_id: 'raw',
  item_id: 'raw',
  created_at: 'value',
  run_id: 'value',
  attachments: 'json'
}

export interface MessageStore {
  /** Inserts or overwrites. */
  putMessages (records: MessageRecord[]): Promise<void>
  getMessages (threadId: string, itemIds: string[]): Promise<Map<string, MessageRecord>>
}
