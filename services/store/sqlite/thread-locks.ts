import { threadLockName, type ThreadLockStore } from '../thread-locks.ts'
import type { SqliteDb } from './db.ts'

/**
 * Thread locks in the `locks` table. A row is kept after release or expiry (holder NULL / expires_at
 * passed) so the fence counter of the thread never goes back. Held while now < expires_at. The helpers
 * run inside the caller's transaction (createRun and updateRun take and drop the lock with the run).
 */
export function threadLocks (db: SqliteDb) {
  return {
    take (threadId: string, holder: string, ttlMs: number, now: number): number | null {
      const key = threadLockName(threadId)
      const row = db.get('SELECT holder, expires_at, fence FROM locks WHERE key = ?', key)
      if (!row) {
        db.run('INSERT INTO locks (key, holder, expires_at, fence) VALUES (?, ?, ?, 1)', key, holder, now + ttlMs)
        return 1
      }
      if (row.holder !== null && row.holder !== holder && (row.expires_at as number) > now) return null
      const fence = (row.fence as number) + 1
      db.run('UPDATE locks SET holder = ?, expires_at = ?, fence = ? WHERE key = ?', holder, now + ttlMs, fence, key)
      return fence
    },
    free (threadId: string, holder: string, now: number): boolean {
      const row = db.get('SELECT holder, expires_at FROM locks WHERE key = ?', threadLockName(threadId))
      return !row || row.holder === null || row.holder === holder || (row.expires_at as number) <= now
    },
    drop (threadId: string, holder: string, now: number): boolean {
      return db.run('UPDATE locks SET holder = NULL, expires_at = 0 WHERE key = ? AND holder = ? AND expires_at > ?',
        threadLockName(threadId), holder, now) === 1
    }
  }
}

export function sqliteThreadLocks (db: SqliteDb, clock: () => number): ThreadLockStore {
  const locks = threadLocks(db)
  return {
    async lockThread (threadId, holder, ttlMs) {
      return db.immediate(() => locks.take(threadId, holder, ttlMs, clock()))
    },
    async unlockThread (threadId, holder) {
      return db.immediate(() => locks.drop(threadId, holder, clock()))
    }
  }
}
