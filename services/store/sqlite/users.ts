import type { ChangeFeed } from '../change-feed.ts'
import { USER_FIELDS, newUserRecord, type UserRecord, type UserStore, type UserWrite } from '../users.ts'
import { sqliteCodec } from './codec.ts'
import type { SqliteDb } from './db.ts'

const users = sqliteCodec('users', USER_FIELDS)
const SAVE_USER = `${users.insert} ${users.upsert('id')}`

/** One row per user the gateway had to remember something about; every write publishes ('user', id) once committed. */
export function sqliteUsers (db: SqliteDb, changes: ChangeFeed): UserStore {
  const read = (id: string): UserRecord | null => {
    const row = db.get('SELECT * FROM users WHERE id = ?', id)
    return row ? users.row(row) : null
  }
  /** Applies `change` to the user's record (a new one if absent) in one transaction, then tells every instance. */
  async function write<T> (id: string, now: number, change: (current: UserRecord) => { next: UserRecord, result: T }): Promise<T> {
    const result = db.immediate(() => {
      const { next, result } = change(read(id) ?? newUserRecord(id, now))
      db.run(SAVE_USER, ...users.params(next))
      return result
    })
    await changes.publish('user', id)
    return result
  }

  return {
    async getUser (id) {
      return read(id)
    },

    async suspendUser (id, { reason, by, at }) {
      return write<UserWrite>(id, at, current => {
        const next = { ...current, suspended: true, suspended_at: current.suspended ? current.suspended_at : at, suspension_reason: reason, suspended_by: by, updated_at: at }
        return { next, result: { user: next, changed: !current.suspended } }
      })
    },

    async unsuspendUser (id, at) {
      return write<UserWrite>(id, at, current => {
        const next = current.suspended ? { ...current, suspended: false, suspended_at: null, suspension_reason: null, suspended_by: null, updated_at: at } : current
        return { next, result: { user: next, changed: current.suspended } }
      })
    },

    async recordSafetyNotice (id, notice) {
      return write(id, notice.at, current => {
        const next = notice.type === 'warning'
          ? { ...current, safety_warnings: current.safety_warnings + 1, last_warning_at: notice.at }
          : { ...current, safety_deactivations: current.safety_deactivations + 1, last_deactivation_at: notice.at }
        const user = { ...next, last_notice: notice, updated_at: notice.at }
        return { next: user, result: user }
      })
    }
  }
}
