import type { WebhookEventStore } from '../webhook-events.ts'
import type { SqliteDb } from './db.ts'

/** Expired claims behave as absent; they are purged lazily on claim, at most this many at a time. */
const PURGE_BATCH = 100

export function sqliteWebhookEvents (db: SqliteDb, clock: () => number): WebhookEventStore {
  return {
    async claimWebhookEvent (id, ttlMs) {
      return db.immediate(() => {
        const now = clock()
        db.run('DELETE FROM webhook_events WHERE id IN (SELECT id FROM webhook_events WHERE expires_at <= ? LIMIT ?)', now, PURGE_BATCH)
        return db.run('INSERT INTO webhook_events (id, expires_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING', id, now + ttlMs) === 1
      })
    },
    async releaseWebhookEvent (id) {
      db.run('DELETE FROM webhook_events WHERE id = ?', id)
    }
  }
}
