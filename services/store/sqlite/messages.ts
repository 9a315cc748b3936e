import { MESSAGE_FIELDS, type MessageRecord, type MessageStore } from '../messages.ts'
import { sqliteCodec } from './codec.ts'
import type { SqliteDb } from './db.ts'

const messages = sqliteCodec('messages', MESSAGE_FIELDS)
const PUT_MESSAGE = `${messages.insert} ${messages.upsert('thread_id', 'item_id')}`

export function sqliteMessages (db: SqliteDb): MessageStore {
  return {
    async putMessages (records) {
      if (records.length === 0) return
      db.immediate(() => {
        for (const m of records) db.run(PUT_MESSAGE, ...messages.params(m))
      })
    },

    async getMessages (threadId, itemIds) {
      const found = new Map<string, MessageRecord>()
      if (itemIds.length === 0) return found
      const rows = db.all('SELECT * FROM messages WHERE thread_id = ? AND item_id IN (SELECT value FROM json_each(?))',
        threadId, JSON.stringify(itemIds))
      for (const row of rows) found.set(row.item_id as string, messages.row(row))
      return found
    },

    async deleteMessage (threadId, itemId) {
      return db.run('DELETE FROM messages WHERE thread_id = ? AND item_id = ?', threadId, itemId) === 1
    }
  }
}
