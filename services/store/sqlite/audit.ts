import type { SQLInputValue } from 'node:sqlite'
import { AUDIT_FIELDS, sealAudit, type AuditHead, type AuditStore } from '../audit.ts'
import { assertLimit } from '../guards.ts'
import { sqliteCodec } from './codec.ts'
import type { SqliteDb } from './db.ts'

const audit = sqliteCodec('audit_log', AUDIT_FIELDS)

/**
 * The audit trail: `audit_log` (append-only: triggers refuse UPDATE and DELETE) and `audit_head`, the one
 * row holding the last seq and hash. Appending reads the head and writes both in one IMMEDIATE
 * transaction, so concurrent writers (other processes on the file too) always extend one chain.
 */
export function sqliteAudit (db: SqliteDb): AuditStore {
  const head = (): AuditHead | null => {
    const row = db.get('SELECT seq, hash FROM audit_head WHERE one = 1')
    return row ? { seq: row.seq as number, hash: row.hash as string } : null
  }
  return {
    async appendAudit (draft) {
      return db.immediate(() => {
        const entry = sealAudit(draft, head())
        db.run(audit.insert, ...audit.params(entry))
        db.run('INSERT INTO audit_head (one, seq, hash) VALUES (1, ?, ?) ON CONFLICT (one) DO UPDATE SET seq = excluded.seq, hash = excluded.hash', entry.seq, entry.hash)
        return entry
      })
    },

    async listAudit (query) {
      assertLimit(query.limit)
      return db.snapshot(() => {
        const where: string[] = []
        const params: SQLInputValue[] = []
        if (query.after !== undefined) {
          const cursor = db.get('SELECT seq FROM audit_log WHERE id = ?', query.after)
          if (!cursor) return { data: [], hasMore: false }
          where.push(query.order === 'desc' ? 'seq < ?' : 'seq > ?')
          params.push(cursor.seq as number)
        }
        if (query.actor !== undefined) { where.push('actor = ?'); params.push(query.actor) }
        if (query.action !== undefined) { where.push('action = ?'); params.push(query.action) }
        if (query.since !== undefined) { where.push('created_at >= ?'); params.push(query.since) }
        const rows = db.all(`SELECT * FROM audit_log ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ` +
          `ORDER BY seq ${query.order === 'desc' ? 'DESC' : 'ASC'} LIMIT ?`, ...params, query.limit + 1)
        return { data: rows.slice(0, query.limit).map(audit.row), hasMore: rows.length > query.limit }
      })
    },

    async auditEntries (afterSeq, limit) {
      assertLimit(limit)
      return db.all('SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?', afterSeq, limit).map(audit.row)
    },

    async auditHead () {
      return head()
    }
  }
}
