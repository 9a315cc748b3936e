import { THREAD_FIELDS, threadPatch, type ThreadRecord, type ThreadStore } from '../threads.ts'
import type { SqliteDb } from './db.ts'
import { orderedTable } from './ordered.ts'

export function sqliteThreads (db: SqliteDb): ThreadStore {
  const threads = orderedTable(db, 'threads', THREAD_FIELDS, 'owner')
  const UPDATE_THREAD = threads.codec.update('id')
  return {
    createThread: threads.create,
    countThreads: threads.count,
    getThread: threads.get,
    listThreads: threads.page,

    async updateThread (id, patch) {
      return db.immediate(() => {
        const row = db.get('SELECT * FROM threads WHERE id = ?', id)
        if (!row) return null
        const current = threads.codec.row(row)
        const next: ThreadRecord = { ...current, ...threadPatch(patch), revision: current.revision + 1 }
        db.run(UPDATE_THREAD, ...threads.codec.params(next), id)
        return next
      })
    },

    // No foreign keys: a late write from a run racing the delete must not fail (Redis behaves the same).
    async deleteThread (id) {
      db.immediate(() => {
        db.run('DELETE FROM messages WHERE thread_id = ?', id)
        db.run('DELETE FROM runs WHERE thread_id = ?', id)
        db.run('DELETE FROM threads WHERE id = ?', id)
      })
    }
  }
}
