import type { ChangeFeed } from '../change-feed.ts'
import { RUN_FIELDS, isActiveRunStatus, runPatch, type RunRecord, type RunStore } from '../runs.ts'
import { ACTIVE_SQL, type SqliteDb } from './db.ts'
import { orderedTable } from './ordered.ts'
import { threadLocks } from './thread-locks.ts'

const RENEWALS_PER_TRANSACTION = 250
interface Renewal { id: string, worker: string, fence: number, expiresAt: number, resolve: (kept: boolean) => void, reject: (err: unknown) => void }

/** Runs; createRun and updateRun publish ('run', id) once their transaction has committed. */
export function sqliteRuns (db: SqliteDb, clock: () => number, changes: ChangeFeed): RunStore {
  const table = orderedTable(db, 'runs', RUN_FIELDS, 'thread_id')
  const runs = table.codec
  const UPDATE_RUN = runs.update('id')
  const locks = threadLocks(db)
  const changed = (id: string) => { changes.publish('run', id).catch(() => {}) }

  /**
   * Lease renewals asked for together (the lease keeper renews every lease it holds on one tick) share
   * transactions of up to RENEWALS_PER_TRANSACTION, the loop free between them: with thousands of runs in
   * flight, one transaction each kept the event loop blocked for a second or more every tick.
   */
  let renewals: Renewal[] = []
  function flushRenewals (): void {
    const batch = renewals.slice(0, RENEWALS_PER_TRANSACTION)
    renewals = renewals.slice(RENEWALS_PER_TRANSACTION)
    if (renewals.length > 0) setImmediate(flushRenewals)
    let kept: boolean[]
    try {
      kept = db.immediate(() => batch.map(r => db.run(`UPDATE runs SET lease_expires_at = ? WHERE id = ? AND lease_owner = ? AND fence = ? AND status IN ${ACTIVE_SQL}`,
        r.expiresAt, r.id, r.worker, r.fence) === 1))
    } catch (err) {
      for (const r of batch) r.reject(err)
      return
    }
    batch.forEach((r, i) => r.resolve(kept[i]))
  }

  return {
    async createRun (record, opts) {
      const result = db.immediate(() => {
        const now = clock()
        if (!locks.free(record.thread_id, record.id, now)) return { ok: false, reason: 'thread_busy' } as const
        const active = db.get(`SELECT count(*) AS n FROM runs WHERE owner = ? AND status IN ${ACTIVE_SQL}`, record.owner)
        if ((active?.n as number) >= opts.maxActivePerUser) return { ok: false, reason: 'too_many_active' } as const
        db.run(runs.insert, ...runs.params(record))
        locks.take(record.thread_id, record.id, opts.threadLockTtlMs, now)
        return { ok: true } as const
      })
      if (result.ok) changed(record.id)
      return result
    },

    getRun: table.get,
    listRuns: table.page,

    async listOrphanedRuns (limit) {
      return db.all(`SELECT * FROM runs WHERE status IN ${ACTIVE_SQL} AND lease_expires_at <= ? ORDER BY created_at, seq LIMIT ?`,
        clock(), limit).map(runs.row)
    },

    async listActiveRuns (owner) {
      return db.all(`SELECT * FROM runs WHERE owner = ? AND status IN ${ACTIVE_SQL} ORDER BY created_at, seq`, owner).map(runs.row)
    },

    async claimRun (id, worker, leaseMs) {
      return db.immediate(() => {
        const now = clock()
        const row = db.get('SELECT status, lease_owner, lease_expires_at, fence FROM runs WHERE id = ?', id)
        if (!row || !isActiveRunStatus(row.status as RunRecord['status'])) return null
        if (row.lease_owner !== null && row.lease_owner !== worker && (row.lease_expires_at as number) > now) return null
        const fence = (row.fence as number) + 1
        db.run('UPDATE runs SET lease_owner = ?, lease_expires_at = ?, fence = ? WHERE id = ?', worker, now + leaseMs, fence, id)
        return fence
      })
    },

    renewRun (id, worker, fence, leaseMs) {
      return new Promise<boolean>((resolve, reject) => {
        renewals.push({ id, worker, fence, expiresAt: clock() + leaseMs, resolve, reject })
        if (renewals.length === 1) setImmediate(flushRenewals)
      })
    },

    async releaseRun (id, worker, fence, resumeAt = 0) {
      return db.immediate(() => db.run(`UPDATE runs SET lease_owner = NULL, lease_expires_at = ? WHERE id = ? AND lease_owner = ? AND fence = ? AND status IN ${ACTIVE_SQL}`,
        resumeAt, id, worker, fence) === 1)
    },

    async updateRun (id, patch, fence) {
      const updated = db.immediate(() => {
        const row = db.get('SELECT * FROM runs WHERE id = ?', id)
        if (!row) return null
        const current = runs.row(row)
        if (fence !== null && current.fence !== fence) return null
        // A finished run stays finished: e.g. a cancel racing the driver's completion must not reopen it.
        if (!isActiveRunStatus(current.status) && patch.status !== undefined && patch.status !== current.status) return null
        const next: RunRecord = { ...current, ...runPatch(patch) }
        if (isActiveRunStatus(current.status) && !isActiveRunStatus(next.status)) {
          locks.drop(current.thread_id, current.id, clock())
          next.lease_owner = null
          next.lease_expires_at = 0
        }
        db.run(UPDATE_RUN, ...runs.params(next), id)
        return next
      })
      if (updated) changed(id)
      return updated
    }
  }
}
