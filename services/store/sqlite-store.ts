import type { FeedLogger } from './change-feed.ts'
import { sqliteAssistants } from './sqlite/assistants.ts'
import { sqliteAudit } from './sqlite/audit.ts'
import { sqliteBudgets } from './sqlite/budgets.ts'
import { createSqliteChangeFeed } from './sqlite/change-feed.ts'
import { openSqliteDb } from './sqlite/db.ts'
import { sqliteFiles } from './sqlite/files.ts'
import { sqliteIdempotency } from './sqlite/idempotency.ts'
import { sqliteMessages } from './sqlite/messages.ts'
import { sqliteRuns } from './sqlite/runs.ts'
import { sqliteSafetyIdentifiers } from './sqlite/safety-identifiers.ts'
import { sqliteThreadLocks } from './sqlite/thread-locks.ts'
import { sqliteThreads } from './sqlite/threads.ts'
import { sqliteUsers } from './sqlite/users.ts'
import { sqliteWebhookEvents } from './sqlite/webhook-events.ts'
import type { Store } from './types.ts'

export interface SqliteStoreOptions {
  /** Database file (its directory is created), or ':memory:'. */
  path: string
  /** Unix ms; injected by tests. */
  clock?: () => number
  busyTimeoutMs?: number
  /** Where a failing change listener is reported. */
  log?: FeedLogger
}

/**
 * The embedded store: one SQLite file in WAL mode (sqlite/db.ts), for a single gateway instance (several
 * instances need STORE=redis; the change feed is in-process). One file per domain under sqlite/.
 */
export function createSqliteStore (options: SqliteStoreOptions): Store {
  const { path, clock = Date.now, busyTimeoutMs = 5000, log } = options
  const db = openSqliteDb(path, busyTimeoutMs)
  const changes = createSqliteChangeFeed(path, log)
  return {
    kind: 'sqlite',
    changes,
    async ping () {
      db.get('SELECT 1 AS ok')
    },
    async close () {
      if (db.close()) changes.close()
    },
    ...sqliteThreads(db),
    ...sqliteThreadLocks(db, clock),
    ...sqliteMessages(db),
    ...sqliteFiles(db),
    ...sqliteRuns(db, clock, changes),
    ...sqliteAssistants(db),
    ...sqliteIdempotency(db, clock),
    ...sqliteBudgets(db, clock),
    ...sqliteUsers(db, changes),
    ...sqliteSafetyIdentifiers(db, clock),
    ...sqliteWebhookEvents(db, clock),
    ...sqliteAudit(db)
  }
}
