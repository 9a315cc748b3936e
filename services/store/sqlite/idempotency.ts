import type { IdempotencyClaim, IdempotencyStore } from '../idempotency.ts'
import type { SqliteDb } from './db.ts'

/** Expired rows behave as absent; they are purged lazily on claim, at most this many at a time. */
const PURGE_BATCH = 100

export function sqliteIdempotency (db: SqliteDb, clock: () => number): IdempotencyStore {
  return {
    async claimIdempotency (user, key, fingerprint, ttlMs, inFlightTtlMs): Promise<IdempotencyClaim> {
      return db.immediate(() => {
        const now = clock()
        // Bounded, so one claim never pays for a large backlog.
        db.run('DELETE FROM idempotency WHERE (user, key) IN (SELECT user, key FROM idempotency WHERE expires_at <= ? LIMIT ?)', now, PURGE_BATCH)
        const row = db.get('SELECT * FROM idempotency WHERE user = ? AND key = ? AND expires_at > ?', user, key, now)
        if (row && row.fingerprint !== fingerprint) return { state: 'mismatch' }
        if (row && row.completed === 1) return { state: 'replay', reply: JSON.parse(row.reply as string) }
        if (row && (row.started_at as number) + inFlightTtlMs > now) return { state: 'in_progress' }
        db.run('INSERT INTO idempotency (user, key, fingerprint, completed, reply, started_at, expires_at) VALUES (?, ?, ?, 0, NULL, ?, ?) ' +
          'ON CONFLICT (user, key) DO UPDATE SET fingerprint = excluded.fingerprint, completed = 0, reply = NULL, ' +
          'started_at = excluded.started_at, expires_at = excluded.expires_at',
        user, key, fingerprint, now, now + ttlMs)
        return { state: 'new' }
      })
    },

    async completeIdempotency (user, key, reply) {
      db.run('UPDATE idempotency SET completed = 1, reply = ? WHERE user = ? AND key = ? AND completed = 0 AND expires_at > ?',
        JSON.stringify(reply), user, key, clock())
    },

    async abandonIdempotency (user, key) {
      db.run('DELETE FROM idempotency WHERE user = ? AND key = ? AND completed = 0', user, key)
    }
  }
}
