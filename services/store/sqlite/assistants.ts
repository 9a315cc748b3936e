import { STORED_ASSISTANT_FIELDS, type AssistantProfile, type AssistantStore, type StoredAssistant } from '../assistants.ts'
import { sqliteCodec } from './codec.ts'
import type { SqliteDb } from './db.ts'

const assistants = sqliteCodec<StoredAssistant & { id: string }>('assistants', { id: 'raw', ...STORED_ASSISTANT_FIELDS })
const PUT_ASSISTANT = `${assistants.insert} ${assistants.upsert('id')}`

export function sqliteAssistants (db: SqliteDb): AssistantStore {
  const write = (id: string, profile: AssistantProfile | null, baseVersion: number, now: number): StoredAssistant => db.immediate(() => {
    const row = db.get('SELECT version FROM assistants WHERE id = ?', id)
    const version = Math.max((row?.version as number | undefined) ?? 0, baseVersion) + 1
    const stored = { profile, deleted: profile === null, version, updated_at: now }
    db.run(PUT_ASSISTANT, ...assistants.params({ id, ...stored }))
    return stored
  })

  return {
    async getAssistant (id) {
      const row = db.get('SELECT * FROM assistants WHERE id = ?', id)
      if (!row) return null
      const { id: _id, ...stored } = assistants.row(row)
      return stored
    },

    async listAssistants () {
      return db.all('SELECT * FROM assistants ORDER BY id').map(assistants.row)
    },

    async putAssistant (profile, baseVersion, now) {
      return write(profile.id, profile, baseVersion, now)
    },

    async deleteAssistant (id, baseVersion, now) {
      return write(id, null, baseVersion, now)
    }
  }
}
