import { FILE_FIELDS, type FileStore } from '../files.ts'
import type { SqliteDb } from './db.ts'
import { orderedTable } from './ordered.ts'

export function sqliteFiles (db: SqliteDb): FileStore {
  const files = orderedTable(db, 'files', FILE_FIELDS, 'owner')
  return {
    createFile: files.create,
    countFiles: files.count,
    getFile: files.get,
    listFiles: files.page,

    async deleteFile (id) {
      db.run('DELETE FROM files WHERE id = ?', id)
    }
  }
}
