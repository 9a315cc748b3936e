import type { DatabaseSync } from 'node:sqlite'

/**
 * Schema migrations of the SQLite store. Append only: a released migration is never edited, a change
 * is a new entry with the next version. `PRAGMA user_version` records the last one applied; it lives in
 * the database header, so it commits or rolls back together with the migration's DDL.
 */
export interface Migration {
  version: number
  name: string
  sql: string
}

const ACTIVE = "('queued', 'in_progress', 'cancelling')"

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    // `seq` is an explicit INTEGER PRIMARY KEY so the insertion order used by pagination survives VACUUM.
    // No foreign keys between threads, messages and runs: deleteThread removes them explicitly, and a
    // late write from a run racing a delete must not fail (the Redis backend behaves the same).
    sql: `
      CREATE TABLE threads (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        owner TEXT NOT NULL,
        title TEXT,
        metadata TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX threads_owner_order ON threads (owner, created_at, seq);

      CREATE TABLE messages (
        thread_id TEXT NOT NULL,
        item_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        run_id TEXT,
        attachments TEXT NOT NULL,
        PRIMARY KEY (thread_id, item_id)
      ) WITHOUT ROWID;

      CREATE TABLE files (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        owner TEXT NOT NULL,
        filename TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        purpose TEXT NOT NULL,
        mime TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX files_owner_order ON files (owner, created_at, seq);

      CREATE TABLE locks (
        key TEXT PRIMARY KEY,
        holder TEXT,
        expires_at INTEGER NOT NULL,
        fence INTEGER NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE runs (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        thread_id TEXT NOT NULL,
        owner TEXT NOT NULL,
        assistant_type TEXT NOT NULL,
        assistant_version INTEGER NOT NULL,
        model TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        started_at INTEGER,
        completed_at INTEGER,
        cancelled_at INTEGER,
        failed_at INTEGER,
        last_error TEXT,
        incomplete_details TEXT,
        usage TEXT,
        temperature REAL,
        top_p REAL,
        max_output_tokens INTEGER,
        stream INTEGER NOT NULL,
        response_ids TEXT NOT NULL,
        settled_response_ids TEXT NOT NULL,
        tool_rounds INTEGER NOT NULL,
        cancel_requested INTEGER NOT NULL,
        reservation_id TEXT,
        deadline_at INTEGER NOT NULL,
        lease_owner TEXT,
        lease_expires_at INTEGER NOT NULL,
        fence INTEGER NOT NULL
      );
      CREATE INDEX runs_thread_order ON runs (thread_id, created_at, seq);
      CREATE INDEX runs_owner_status ON runs (owner, status);
      CREATE INDEX runs_active_order ON runs (created_at, seq) WHERE status IN ${ACTIVE};

      CREATE TABLE assistants (
        id TEXT PRIMARY KEY,
        profile TEXT,
        deleted INTEGER NOT NULL,
        version INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE idempotency (
        user TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        completed INTEGER NOT NULL,
        reply TEXT,
        started_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (user, key)
      ) WITHOUT ROWID;
      CREATE INDEX idempotency_expiry ON idempotency (expires_at);

      -- kind: user_tokens | user_audio | assistant_tokens | global_tokens; subject: user, assistant or ''.
      CREATE TABLE budget_counters (
        day TEXT NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        used REAL NOT NULL,
        reserved REAL NOT NULL,
        PRIMARY KEY (day, kind, subject)
      ) WITHOUT ROWID;

      CREATE TABLE budget_reservations (
        id TEXT PRIMARY KEY,
        day TEXT NOT NULL,
        user TEXT NOT NULL,
        assistant TEXT NOT NULL,
        tokens REAL NOT NULL,
        audio_seconds REAL NOT NULL,
        expires_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX budget_reservations_expiry ON budget_reservations (expires_at);

      -- Usage ids already counted (recordUsage ids and settled reservation ids), so nothing counts twice.
      CREATE TABLE usage_applied (
        id TEXT PRIMARY KEY,
        applied_at INTEGER NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE usage_ledger (
        day TEXT NOT NULL,
        user TEXT NOT NULL,
        assistant TEXT NOT NULL,
        model TEXT NOT NULL,
        input_tokens REAL NOT NULL,
        cached_tokens REAL NOT NULL,
        output_tokens REAL NOT NULL,
        reasoning_tokens REAL NOT NULL,
        total_tokens REAL NOT NULL,
        audio_seconds REAL NOT NULL,
        runs REAL NOT NULL,
        cost_usd REAL NOT NULL,
        PRIMARY KEY (day, user, assistant, model)
      ) WITHOUT ROWID;
    `
  },
  {
    version: 2,
    name: 'crash-safe run rounds',
    // pending_input: tool outputs computed but not yet sent upstream (a resumed run sends them, never re-runs tools).
    // creating_since: set while an upstream response is being created, so a resume can tell the id may be unknown.
    // token_estimate: how many input tokens the thread's next response will read, for budget reservations.
    sql: `
      ALTER TABLE runs ADD COLUMN pending_input TEXT;
      ALTER TABLE runs ADD COLUMN creating_since INTEGER;
      ALTER TABLE threads ADD COLUMN token_estimate INTEGER NOT NULL DEFAULT 0;
    `
  },
  {
    version: 3,
    name: 'thread revisions',
    // Bumped by every thread update, so the gateway can cache a thread's message pages safely.
    sql: 'ALTER TABLE threads ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;'
  },
  {
    version: 4,
    name: 'assistants api: run settings, message metadata',
    // The Assistants API's run settings (JSON where they are objects) and what the message index adds to a
    // conversation item. NULL on rows from before: readers take NULL as "none".
    sql: `
      ALTER TABLE runs ADD COLUMN metadata TEXT;
      ALTER TABLE runs ADD COLUMN tools TEXT;
      ALTER TABLE runs ADD COLUMN max_prompt_tokens INTEGER;
      ALTER TABLE runs ADD COLUMN truncation_strategy TEXT;
      ALTER TABLE runs ADD COLUMN response_format TEXT;
      ALTER TABLE runs ADD COLUMN tool_choice TEXT;
      ALTER TABLE runs ADD COLUMN parallel_tool_calls TEXT;
      ALTER TABLE runs ADD COLUMN additional_instructions TEXT;
      ALTER TABLE messages ADD COLUMN metadata TEXT;
      ALTER TABLE messages ADD COLUMN assistant_id TEXT;
    `
  },
  {
    version: 5,
    name: 'client tools and run steps',
    // required_action: the client's calls a paused run waits for; expires_at: when it stops waiting (Unix s);
    // steps: the run's steps (JSON). A paused run is parked: no lease owner, lease_expires_at = expires_at.
    sql: `
      ALTER TABLE runs ADD COLUMN required_action TEXT;
      ALTER TABLE runs ADD COLUMN expires_at INTEGER;
      ALTER TABLE runs ADD COLUMN steps TEXT;
      -- requires_action is active (the run holds its thread): the orphan scan's index covers it too.
      DROP INDEX runs_active_order;
      CREATE INDEX runs_active_order ON runs (created_at, seq) WHERE status IN ('queued', 'in_progress', 'cancelling', 'requires_action');
    `
  },
  {
    version: 6,
    name: 'accountability: users, safety identifiers, webhook deliveries, the audit trail',
    // The audit log is append-only: the triggers refuse to change or remove an entry through SQL (whoever
    // drops them to tamper still breaks the hash chain, which GET /admin/audit/verify checks). audit_head is
    // the one row holding the last seq and hash, so a removed last entry shows too.
    sql: `
      CREATE TABLE users (
        id TEXT PRIMARY KEY,
        suspended INTEGER NOT NULL,
        suspended_at INTEGER,
        suspension_reason TEXT,
        suspended_by TEXT,
        safety_warnings INTEGER NOT NULL,
        safety_deactivations INTEGER NOT NULL,
        last_warning_at INTEGER,
        last_deactivation_at INTEGER,
        last_notice TEXT,
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE safety_identifiers (
        identifier TEXT PRIMARY KEY,
        user TEXT NOT NULL,
        created_at INTEGER NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE webhook_events (
        id TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX webhook_events_expiry ON webhook_events (expires_at);

      CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT,
        request_id TEXT,
        details TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      );
      CREATE INDEX audit_log_actor ON audit_log (actor, seq);
      CREATE INDEX audit_log_action ON audit_log (action, seq);
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
      CREATE TABLE audit_head (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
      );
    `
  },
  {
    version: 7,
    name: 'cache writes in the usage ledger',
    // Input written to the prompt cache, priced apart for the models that charge for it; rows from before wrote none.
    sql: `
      ALTER TABLE usage_ledger ADD COLUMN cache_write_tokens REAL NOT NULL DEFAULT 0;
    `
  },
  {
    version: 8,
    name: 'context policy: the run\'s applied policy, the thread\'s current turn',
    // NULL on rows from before: no policy applied; the turn unknown (the budget then assumes the whole thread).
    sql: `
      ALTER TABLE runs ADD COLUMN context_policy TEXT;
      ALTER TABLE threads ADD COLUMN turn_tokens INTEGER;
    `
  },
  {
    version: 9,
    name: 'the trace a run belongs to',
    // NULL on rows from before, and whenever tracing is off: a drive of such a run starts a trace of its own.
    sql: `
      ALTER TABLE runs ADD COLUMN trace_context TEXT;
    `
  }
]

function userVersion (db: DatabaseSync): number {
  const row = db.prepare('PRAGMA user_version').get()
  return Number(row?.user_version ?? 0)
}

/**
 * Applies the migrations newer than the database, each in its own IMMEDIATE transaction (so two
 * processes opening the same file at once apply each migration exactly once). Returns the versions
 * applied. Refuses a database written by a newer gateway.
 */
export function migrate (db: DatabaseSync, migrations: readonly Migration[] = MIGRATIONS): number[] {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${m.name} has version ${m.version}, expected ${i + 1}`)
  })
  const latest = migrations.length
  const found = userVersion(db)
  if (found > latest) {
    throw new Error(`SQLite store schema version ${found} is newer than this gateway knows (${latest}); refusing to open it`)
  }
  const applied: number[] = []
  for (const m of migrations.slice(found)) {
    db.exec('BEGIN IMMEDIATE')
    try {
      if (userVersion(db) < m.version) {
        db.exec(m.sql)
        db.exec(`PRAGMA user_version = ${m.version}`)
        applied.push(m.version)
      }
      db.exec('COMMIT')
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK')
      throw new Error(`SQLite store migration ${m.version} (${m.name}) failed: ${(err as Error).message}`, { cause: err })
    }
  }
  return applied
}
