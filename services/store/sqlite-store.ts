import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync, type SQLInputValue, type SQLOutputValue, type StatementSync } from 'node:sqlite'
import { migrate } from './sqlite-migrations.ts'
import {
  isActiveRunStatus,
  type AssistantProfile,
  type BudgetLimits,
  type FileRecord,
  type IdempotencyClaim,
  type LedgerRow,
  type MessageRecord,
  type Page,
  type PageQuery,
  type Reservation,
  type ReserveResult,
  type RunRecord,
  type Store,
  type StoredAssistant,
  type ThreadRecord,
  type UsageAmounts
} from './types.ts'

export interface SqliteStoreOptions {
  /** Database file (its directory is created), or ':memory:'. */
  path: string
  /** Unix ms; injected by tests. */
  clock?: () => number
  busyTimeoutMs?: number
}

type Row = Record<string, SQLOutputValue>
type ColumnKind = 'value' | 'bool' | 'json'

const ACTIVE_SQL = "('queued', 'in_progress', 'cancelling')"
const USAGE_FIELDS: ReadonlyArray<keyof UsageAmounts> = [
  'input_tokens', 'cached_tokens', 'output_tokens', 'reasoning_tokens', 'total_tokens', 'audio_seconds', 'runs', 'cost_usd'
]

// Column order of the runs table as written by createRun/updateRun. Patches never change identity
// (id, thread_id, owner) or the lease (lease_owner, lease_expires_at, fence): those belong to
// createRun, claimRun, renewRun and the terminal transition.
const RUN_COLUMNS: ReadonlyArray<readonly [keyof RunRecord, ColumnKind]> = [
  ['id', 'value'], ['thread_id', 'value'], ['owner', 'value'], ['assistant_type', 'value'],
  ['assistant_version', 'value'], ['model', 'value'], ['status', 'value'], ['created_at', 'value'],
  ['started_at', 'value'], ['completed_at', 'value'], ['cancelled_at', 'value'], ['failed_at', 'value'],
  ['last_error', 'json'], ['incomplete_details', 'json'], ['usage', 'json'], ['temperature', 'value'],
  ['top_p', 'value'], ['max_output_tokens', 'value'], ['stream', 'bool'], ['response_ids', 'json'],
  ['settled_response_ids', 'json'], ['tool_rounds', 'value'], ['cancel_requested', 'bool'],
  ['reservation_id', 'value'], ['deadline_at', 'value'], ['lease_owner', 'value'],
  ['lease_expires_at', 'value'], ['fence', 'value'], ['pending_input', 'json'], ['creating_since', 'value']
]
const RUN_FIXED_FIELDS = new Set<string>(['id', 'thread_id', 'owner', 'lease_owner', 'lease_expires_at', 'fence'])
const INSERT_RUN = `INSERT INTO runs (${RUN_COLUMNS.map(c => c[0]).join(', ')}) VALUES (${RUN_COLUMNS.map(() => '?').join(', ')})`
const UPDATE_RUN = `UPDATE runs SET ${RUN_COLUMNS.map(c => `${c[0]} = ?`).join(', ')} WHERE id = ?`

const encode = (value: unknown, kind: ColumnKind): SQLInputValue => {
  if (value === null || value === undefined) return null
  if (kind === 'bool') return value ? 1 : 0
  if (kind === 'json') return JSON.stringify(value)
  return value as SQLInputValue
}
const decode = (value: SQLOutputValue, kind: ColumnKind): unknown => {
  if (kind === 'bool') return value === 1
  if (kind === 'json') return value === null ? null : JSON.parse(value as string)
  return value
}

const runToParams = (run: RunRecord): SQLInputValue[] => RUN_COLUMNS.map(([name, kind]) => encode(run[name], kind))
function rowToRun (row: Row): RunRecord {
  const run: Record<string, unknown> = {}
  for (const [name, kind] of RUN_COLUMNS) run[name] = decode(row[name], kind)
  return run as unknown as RunRecord
}

const rowToThread = (row: Row): ThreadRecord => ({
  id: row.id as string,
  owner: row.owner as string,
  title: row.title as string | null,
  metadata: JSON.parse(row.metadata as string),
  created_at: row.created_at as number,
  updated_at: row.updated_at as number,
  token_estimate: row.token_estimate as number,
  revision: row.revision as number
})

const rowToFile = (row: Row): FileRecord => ({
  id: row.id as string,
  owner: row.owner as string,
  filename: row.filename as string,
  bytes: row.bytes as number,
  purpose: row.purpose as FileRecord['purpose'],
  mime: row.mime as string,
  created_at: row.created_at as number
})

const rowToMessage = (row: Row): MessageRecord => ({
  thread_id: row.thread_id as string,
  item_id: row.item_id as string,
  created_at: row.created_at as number,
  run_id: row.run_id as string | null,
  attachments: JSON.parse(row.attachments as string)
})

const rowToAssistant = (row: Row): StoredAssistant => ({
  profile: row.profile === null ? null : JSON.parse(row.profile as string) as AssistantProfile,
  deleted: row.deleted === 1,
  version: row.version as number,
  updated_at: row.updated_at as number
})

const rowToLedger = (row: Row): LedgerRow => {
  const ledger: Record<string, unknown> = { day: row.day, user: row.user, assistant: row.assistant, model: row.model }
  for (const field of USAGE_FIELDS) ledger[field] = row[field]
  return ledger as unknown as LedgerRow
}

function assertAmount (name: string, value: number) {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a finite number >= 0, got ${value}`)
}

function assertLimit (limit: number) {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`page limit must be a positive integer, got ${limit}`)
}

/**
 * The embedded store: one SQLite file in WAL mode, for a single gateway instance (several instances
 * need STORE=redis). Every read-modify-write runs in BEGIN IMMEDIATE, which takes the database's write
 * lock up front, so it is atomic against other connections and other processes on the same file too.
 * node:sqlite is synchronous: a method runs to completion before the event loop moves on.
 */
export function createSqliteStore (options: SqliteStoreOptions): Store {
  const { path, clock = Date.now, busyTimeoutMs = 5000 } = options
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })

  const db = new DatabaseSync(path)
  try {
    db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.trunc(busyTimeoutMs))}`)
    db.exec('PRAGMA journal_mode = WAL')
    db.exec('PRAGMA synchronous = NORMAL')
    db.exec('PRAGMA foreign_keys = ON')
    migrate(db)
  } catch (err) {
    db.close()
    throw err
  }

  let closed = false
  const statements = new Map<string, StatementSync>()
  function sql (text: string): StatementSync {
    let statement = statements.get(text)
    if (!statement) {
      statement = db.prepare(text)
      statements.set(text, statement)
    }
    return statement
  }
  function open () {
    if (closed) throw new Error('The SQLite store is closed')
  }
  function immediate<T> (fn: () => T): T {
    open()
    db.exec('BEGIN IMMEDIATE')
    try {
      const result = fn()
      db.exec('COMMIT')
      return result
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK')
      throw err
    }
  }
  /** Several reads from one snapshot (a deferred transaction never waits in WAL mode). */
  function snapshot<T> (fn: () => T): T {
    open()
    db.exec('BEGIN')
    try {
      return fn()
    } finally {
      db.exec('COMMIT')
    }
  }
  function get (text: string, ...params: SQLInputValue[]): Row | undefined {
    open()
    return sql(text).get(...params)
  }
  function all (text: string, ...params: SQLInputValue[]): Row[] {
    open()
    return sql(text).all(...params)
  }
  function run (text: string, ...params: SQLInputValue[]): number {
    open()
    return Number(sql(text).run(...params).changes)
  }

  /** One page of `table` filtered by `column = value`, ordered by (created_at, seq). */
  function page<T> (table: string, column: string, value: string, query: PageQuery, map: (row: Row) => T): Page<T> {
    assertLimit(query.limit)
    const desc = query.order === 'desc'
    const direction = desc ? 'DESC' : 'ASC'
    let rows: Row[]
    if (query.after === undefined) {
      rows = all(`SELECT * FROM ${table} WHERE ${column} = ? ORDER BY created_at ${direction}, seq ${direction} LIMIT ?`,
        value, query.limit + 1)
    } else {
      // The cursor must be a row of the same owner/thread; anything else (unknown, deleted, foreign) is an empty page.
      const cursor = get(`SELECT created_at, seq FROM ${table} WHERE id = ? AND ${column} = ?`, query.after, value)
      if (!cursor) return { data: [], hasMore: false }
      rows = all(`SELECT * FROM ${table} WHERE ${column} = ? AND (created_at, seq) ${desc ? '<' : '>'} (?, ?) ` +
        `ORDER BY created_at ${direction}, seq ${direction} LIMIT ?`, value, cursor.created_at, cursor.seq, query.limit + 1)
    }
    return { data: rows.slice(0, query.limit).map(map), hasMore: rows.length > query.limit }
  }

  // Locks. A row is kept after release or expiry (holder NULL / expires_at passed) so the fence
  // counter of the key never goes back. Held while now < expires_at.
  function takeLock (key: string, holder: string, ttlMs: number, now: number): number | null {
    const row = get('SELECT holder, expires_at, fence FROM locks WHERE key = ?', key)
    if (!row) {
      run('INSERT INTO locks (key, holder, expires_at, fence) VALUES (?, ?, ?, 1)', key, holder, now + ttlMs)
      return 1
    }
    if (row.holder !== null && row.holder !== holder && (row.expires_at as number) > now) return null
    const fence = (row.fence as number) + 1
    run('UPDATE locks SET holder = ?, expires_at = ?, fence = ? WHERE key = ?', holder, now + ttlMs, fence, key)
    return fence
  }
  function lockFree (key: string, holder: string, now: number): boolean {
    const row = get('SELECT holder, expires_at FROM locks WHERE key = ?', key)
    return !row || row.holder === null || row.holder === holder || (row.expires_at as number) <= now
  }
  function dropLock (key: string, holder: string, now: number): boolean {
    return run('UPDATE locks SET holder = NULL, expires_at = 0 WHERE key = ? AND holder = ? AND expires_at > ?', key, holder, now) === 1
  }

  // Budgets
  function bumpCounter (day: string, kind: string, subject: string, used: number, reserved: number) {
    run('INSERT INTO budget_counters (day, kind, subject, used, reserved) VALUES (?, ?, ?, ?, ?) ' +
      'ON CONFLICT (day, kind, subject) DO UPDATE SET used = used + excluded.used, reserved = reserved + excluded.reserved',
    day, kind, subject, used, reserved)
  }
  function counter (day: string, kind: string, subject: string): { used: number, reserved: number } {
    const row = get('SELECT used, reserved FROM budget_counters WHERE day = ? AND kind = ? AND subject = ?', day, kind, subject)
    return { used: (row?.used as number) ?? 0, reserved: (row?.reserved as number) ?? 0 }
  }
  function bumpReserved (r: { day: string, user: string, assistant: string, tokens: number, audio_seconds: number }, sign: 1 | -1) {
    bumpCounter(r.day, 'user_tokens', r.user, 0, sign * r.tokens)
    bumpCounter(r.day, 'user_audio', r.user, 0, sign * r.audio_seconds)
    bumpCounter(r.day, 'assistant_tokens', r.assistant, 0, sign * r.tokens)
    bumpCounter(r.day, 'global_tokens', '', 0, sign * r.tokens)
  }
  /** Frees an open reservation; returns it, or null when there was none. */
  function releaseReservation (id: string): Reservation | null {
    const row = get('SELECT * FROM budget_reservations WHERE id = ?', id) as unknown as Reservation | undefined
    if (!row) return null
    run('DELETE FROM budget_reservations WHERE id = ?', id)
    bumpReserved(row, -1)
    return row
  }
  function applyUsage (usage: LedgerRow) {
    for (const field of USAGE_FIELDS) assertAmount(`usage.${field}`, usage[field])
    bumpCounter(usage.day, 'user_tokens', usage.user, usage.total_tokens, 0)
    bumpCounter(usage.day, 'user_audio', usage.user, usage.audio_seconds, 0)
    bumpCounter(usage.day, 'assistant_tokens', usage.assistant, usage.total_tokens, 0)
    bumpCounter(usage.day, 'global_tokens', '', usage.total_tokens, 0)
    run(`INSERT INTO usage_ledger (day, user, assistant, model, ${USAGE_FIELDS.join(', ')}) ` +
      `VALUES (?, ?, ?, ?, ${USAGE_FIELDS.map(() => '?').join(', ')}) ON CONFLICT (day, user, assistant, model) DO UPDATE SET ` +
      USAGE_FIELDS.map(f => `${f} = ${f} + excluded.${f}`).join(', '),
    usage.day, usage.user, usage.assistant, usage.model, ...USAGE_FIELDS.map(f => usage[f]))
  }
  /** Marks a usage id as counted; false when it already was. */
  function markApplied (id: string, now: number): boolean {
    return run('INSERT INTO usage_applied (id, applied_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING', id, now) === 1
  }

  function writeAssistant (id: string, profile: AssistantProfile | null, baseVersion: number, now: number): StoredAssistant {
    return immediate(() => {
      const row = get('SELECT version FROM assistants WHERE id = ?', id)
      const version = Math.max((row?.version as number | undefined) ?? 0, baseVersion) + 1
      run('INSERT INTO assistants (id, profile, deleted, version, updated_at) VALUES (?, ?, ?, ?, ?) ' +
        'ON CONFLICT (id) DO UPDATE SET profile = excluded.profile, deleted = excluded.deleted, ' +
        'version = excluded.version, updated_at = excluded.updated_at',
      id, profile === null ? null : JSON.stringify(profile), profile === null ? 1 : 0, version, now)
      return { profile, deleted: profile === null, version, updated_at: now }
    })
  }

  const store: Store = {
    kind: 'sqlite',

    async ping () {
      get('SELECT 1 AS ok')
    },

    async close () {
      if (closed) return
      closed = true
      statements.clear()
      db.close()
    },

    // Threads

    async createThread (thread) {
      run('INSERT INTO threads (id, owner, title, metadata, created_at, updated_at, token_estimate, revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        thread.id, thread.owner, thread.title, JSON.stringify(thread.metadata), thread.created_at, thread.updated_at, thread.token_estimate, thread.revision)
    },

    async getThread (id) {
      const row = get('SELECT * FROM threads WHERE id = ?', id)
      return row ? rowToThread(row) : null
    },

    async listThreads (owner, query) {
      return snapshot(() => page('threads', 'owner', owner, query, rowToThread))
    },

    async updateThread (id, patch) {
      return immediate(() => {
        const row = get('SELECT * FROM threads WHERE id = ?', id)
        if (!row) return null
        const next = rowToThread(row)
        if (patch.title !== undefined) next.title = patch.title
        if (patch.metadata !== undefined) next.metadata = patch.metadata
        if (patch.updated_at !== undefined) next.updated_at = patch.updated_at
        if (patch.token_estimate !== undefined) next.token_estimate = patch.token_estimate
        next.revision += 1
        run('UPDATE threads SET title = ?, metadata = ?, updated_at = ?, token_estimate = ?, revision = ? WHERE id = ?',
          next.title, JSON.stringify(next.metadata), next.updated_at, next.token_estimate, next.revision, id)
        return next
      })
    },

    async deleteThread (id) {
      immediate(() => {
        run('DELETE FROM messages WHERE thread_id = ?', id)
        run('DELETE FROM runs WHERE thread_id = ?', id)
        run('DELETE FROM threads WHERE id = ?', id)
      })
    },

    // Message index

    async putMessages (records) {
      if (records.length === 0) return
      immediate(() => {
        for (const m of records) {
          run('INSERT INTO messages (thread_id, item_id, created_at, run_id, attachments) VALUES (?, ?, ?, ?, ?) ' +
            'ON CONFLICT (thread_id, item_id) DO UPDATE SET created_at = excluded.created_at, run_id = excluded.run_id, ' +
            'attachments = excluded.attachments',
          m.thread_id, m.item_id, m.created_at, m.run_id, JSON.stringify(m.attachments))
        }
      })
    },

    async getMessages (threadId, itemIds) {
      const found = new Map<string, MessageRecord>()
      if (itemIds.length === 0) return found
      const rows = all('SELECT * FROM messages WHERE thread_id = ? AND item_id IN (SELECT value FROM json_each(?))',
        threadId, JSON.stringify(itemIds))
      for (const row of rows) found.set(row.item_id as string, rowToMessage(row))
      return found
    },

    // Files

    async createFile (file) {
      run('INSERT INTO files (id, owner, filename, bytes, purpose, mime, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        file.id, file.owner, file.filename, file.bytes, file.purpose, file.mime, file.created_at)
    },

    async getFile (id) {
      const row = get('SELECT * FROM files WHERE id = ?', id)
      return row ? rowToFile(row) : null
    },

    async listFiles (owner, query) {
      return snapshot(() => page('files', 'owner', owner, query, rowToFile))
    },

    async deleteFile (id) {
      run('DELETE FROM files WHERE id = ?', id)
    },

    // Locks

    async acquireLock (key, holder, ttlMs) {
      return immediate(() => takeLock(key, holder, ttlMs, clock()))
    },

    async renewLock (key, holder, ttlMs) {
      return immediate(() => {
        const now = clock()
        return run('UPDATE locks SET expires_at = ? WHERE key = ? AND holder = ? AND expires_at > ?', now + ttlMs, key, holder, now) === 1
      })
    },

    async releaseLock (key, holder) {
      return immediate(() => dropLock(key, holder, clock()))
    },

    // Runs

    async createRun (record, opts) {
      return immediate(() => {
        const now = clock()
        const lockKey = `thread:${record.thread_id}`
        if (!lockFree(lockKey, record.id, now)) return { ok: false, reason: 'thread_busy' } as const
        const active = get(`SELECT count(*) AS n FROM runs WHERE owner = ? AND status IN ${ACTIVE_SQL}`, record.owner)
        if ((active?.n as number) >= opts.maxActivePerUser) return { ok: false, reason: 'too_many_active' } as const
        run(INSERT_RUN, ...runToParams(record))
        takeLock(lockKey, record.id, opts.threadLockTtlMs, now)
        return { ok: true } as const
      })
    },

    async getRun (id) {
      const row = get('SELECT * FROM runs WHERE id = ?', id)
      return row ? rowToRun(row) : null
    },

    async listRuns (threadId, query) {
      return snapshot(() => page('runs', 'thread_id', threadId, query, rowToRun))
    },

    async listOrphanedRuns (limit) {
      return all(`SELECT * FROM runs WHERE status IN ${ACTIVE_SQL} AND lease_expires_at <= ? ORDER BY created_at, seq LIMIT ?`,
        clock(), limit).map(rowToRun)
    },

    async claimRun (id, worker, leaseMs) {
      return immediate(() => {
        const now = clock()
        const row = get('SELECT status, lease_owner, lease_expires_at, fence FROM runs WHERE id = ?', id)
        if (!row || !isActiveRunStatus(row.status as RunRecord['status'])) return null
        if (row.lease_owner !== null && row.lease_owner !== worker && (row.lease_expires_at as number) > now) return null
        const fence = (row.fence as number) + 1
        run('UPDATE runs SET lease_owner = ?, lease_expires_at = ?, fence = ? WHERE id = ?', worker, now + leaseMs, fence, id)
        return fence
      })
    },

    async renewRun (id, worker, fence, leaseMs) {
      return immediate(() => run(`UPDATE runs SET lease_expires_at = ? WHERE id = ? AND lease_owner = ? AND fence = ? AND status IN ${ACTIVE_SQL}`,
        clock() + leaseMs, id, worker, fence) === 1)
    },

    async releaseRun (id, worker, fence) {
      return immediate(() => run(`UPDATE runs SET lease_owner = NULL, lease_expires_at = 0 WHERE id = ? AND lease_owner = ? AND fence = ? AND status IN ${ACTIVE_SQL}`,
        id, worker, fence) === 1)
    },

    async updateRun (id, patch, fence) {
      return immediate(() => {
        const row = get('SELECT * FROM runs WHERE id = ?', id)
        if (!row) return null
        const current = rowToRun(row)
        if (fence !== null && current.fence !== fence) return null
        // A finished run stays finished: e.g. a cancel racing the driver's completion must not reopen it.
        if (!isActiveRunStatus(current.status) && patch.status !== undefined && patch.status !== current.status) return null
        const next: Record<string, unknown> = { ...current }
        for (const [name] of RUN_COLUMNS) {
          if (!RUN_FIXED_FIELDS.has(name) && patch[name] !== undefined) next[name] = patch[name]
        }
        const updated = next as unknown as RunRecord
        if (isActiveRunStatus(current.status) && !isActiveRunStatus(updated.status)) {
          dropLock(`thread:${current.thread_id}`, current.id, clock())
          updated.lease_owner = null
          updated.lease_expires_at = 0
        }
        run(UPDATE_RUN, ...runToParams(updated), id)
        return updated
      })
    },

    // Assistants

    async getAssistant (id) {
      const row = get('SELECT * FROM assistants WHERE id = ?', id)
      return row ? rowToAssistant(row) : null
    },

    async listAssistants () {
      return all('SELECT * FROM assistants ORDER BY id').map(row => ({ id: row.id as string, ...rowToAssistant(row) }))
    },

    async putAssistant (profile, baseVersion, now) {
      return writeAssistant(profile.id, profile, baseVersion, now)
    },

    async deleteAssistant (id, baseVersion, now) {
      return writeAssistant(id, null, baseVersion, now)
    },

    // Idempotency

    async claimIdempotency (user, key, fingerprint, ttlMs, inFlightTtlMs): Promise<IdempotencyClaim> {
      return immediate(() => {
        const now = clock()
        // Lazy purge, bounded so one claim never pays for a large backlog.
        run('DELETE FROM idempotency WHERE (user, key) IN (SELECT user, key FROM idempotency WHERE expires_at <= ? LIMIT 100)', now)
        const row = get('SELECT * FROM idempotency WHERE user = ? AND key = ? AND expires_at > ?', user, key, now)
        if (row && row.fingerprint !== fingerprint) return { state: 'mismatch' }
        if (row && row.completed === 1) return { state: 'replay', reply: JSON.parse(row.reply as string) }
        if (row && (row.started_at as number) + inFlightTtlMs > now) return { state: 'in_progress' }
        run('INSERT INTO idempotency (user, key, fingerprint, completed, reply, started_at, expires_at) VALUES (?, ?, ?, 0, NULL, ?, ?) ' +
          'ON CONFLICT (user, key) DO UPDATE SET fingerprint = excluded.fingerprint, completed = 0, reply = NULL, ' +
          'started_at = excluded.started_at, expires_at = excluded.expires_at',
        user, key, fingerprint, now, now + ttlMs)
        return { state: 'new' }
      })
    },

    async completeIdempotency (user, key, reply) {
      const now = clock()
      run('UPDATE idempotency SET completed = 1, reply = ? WHERE user = ? AND key = ? AND completed = 0 AND expires_at > ?',
        JSON.stringify(reply), user, key, now)
    },

    async abandonIdempotency (user, key) {
      run('DELETE FROM idempotency WHERE user = ? AND key = ? AND completed = 0', user, key)
    },

    // Budgets and the usage ledger

    async reserveBudget (reservation, limits: BudgetLimits): Promise<ReserveResult> {
      assertAmount('reservation.tokens', reservation.tokens)
      assertAmount('reservation.audio_seconds', reservation.audio_seconds)
      return immediate(() => {
        if (get('SELECT 1 FROM budget_reservations WHERE id = ?', reservation.id)) return { ok: true }
        const { day, user, assistant, tokens, audio_seconds: audio } = reservation
        const checks = [
          ['user_tokens', limits.userTokens, tokens, 'user_tokens', user],
          ['user_audio', limits.userAudioSeconds, audio, 'user_audio', user],
          ['assistant_tokens', limits.assistantTokens, tokens, 'assistant_tokens', assistant],
          ['global_tokens', limits.globalTokens, tokens, 'global_tokens', '']
        ] as const
        for (const [scope, limit, amount, kind, subject] of checks) {
          // A scope is only charged when the reservation asks for some of it.
          if (limit <= 0 || amount <= 0) continue
          const c = counter(day, kind, subject)
          if (c.used + c.reserved + amount > limit) return { ok: false, scope }
        }
        run('INSERT INTO budget_reservations (id, day, user, assistant, tokens, audio_seconds, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
          reservation.id, day, user, assistant, tokens, audio, reservation.expires_at)
        bumpReserved(reservation, 1)
        return { ok: true }
      })
    },

    async settleBudget (reservationId, usage) {
      return immediate(() => {
        const reservation = releaseReservation(reservationId)
        if (!reservation) return false
        // The reservation id is remembered as a usage id: recordUsage(reservationId, …) after a settle is a no-op.
        markApplied(reservationId, clock())
        applyUsage({ ...usage, day: reservation.day })
        return true
      })
    },

    async recordUsage (usageId, usage) {
      return immediate(() => {
        if (!markApplied(usageId, clock())) return false
        applyUsage(usage)
        return true
      })
    },

    async releaseBudget (reservationId) {
      return immediate(() => releaseReservation(reservationId) !== null)
    },

    async releaseExpiredReservations () {
      return immediate(() => {
        const expired = all('SELECT id FROM budget_reservations WHERE expires_at <= ?', clock())
        for (const row of expired) releaseReservation(row.id as string)
        return expired.length
      })
    },

    async budgetCounters (day, user, assistant) {
      return snapshot(() => {
        const userTokens = counter(day, 'user_tokens', user)
        const userAudio = counter(day, 'user_audio', user)
        const globalTokens = counter(day, 'global_tokens', '')
        const assistantTokens = assistant === undefined ? { used: 0, reserved: 0 } : counter(day, 'assistant_tokens', assistant)
        return {
          user_tokens: userTokens.used,
          global_tokens: globalTokens.used,
          user_audio_seconds: userAudio.used,
          reserved_user_tokens: userTokens.reserved,
          reserved_global_tokens: globalTokens.reserved,
          reserved_user_audio_seconds: userAudio.reserved,
          assistant_tokens: assistantTokens.used,
          reserved_assistant_tokens: assistantTokens.reserved
        }
      })
    },

    async usageLedger (day, user) {
      const rows = user === undefined
        ? all('SELECT * FROM usage_ledger WHERE day = ? ORDER BY user, assistant, model', day)
        : all('SELECT * FROM usage_ledger WHERE day = ? AND user = ? ORDER BY assistant, model', day, user)
      return rows.map(rowToLedger)
    }
  }
  return store
}
