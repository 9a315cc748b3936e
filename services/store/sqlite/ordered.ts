import type { Fields } from '../fields.ts'
import { assertLimit } from '../guards.ts'
import type { Page, PageQuery } from '../page.ts'
import { sqliteCodec } from './codec.ts'
import type { Row, SqliteDb } from './db.ts'

/**
 * Tables of records listed in insertion order per owner or thread (threads, files, runs): `seq` is the
 * insertion order, an index on (scope, created_at, seq) serves the pages.
 */
export function orderedTable<T extends { id: string }> (db: SqliteDb, table: string, fields: Fields<T>, scopeColumn: keyof T & string) {
  const codec = sqliteCodec(table, fields)

  /** One page of the scope's records, from one snapshot. */
  async function page (scope: string, query: PageQuery): Promise<Page<T>> {
    assertLimit(query.limit)
    const desc = query.order === 'desc'
    const direction = desc ? 'DESC' : 'ASC'
    const order = `ORDER BY created_at ${direction}, seq ${direction} LIMIT ?`
    return db.snapshot(() => {
      let rows: Row[]
      if (query.after === undefined) {
        rows = db.all(`SELECT * FROM ${table} WHERE ${scopeColumn} = ? ${order}`, scope, query.limit + 1)
      } else {
        // The cursor must be a row of the same owner/thread; anything else (unknown, deleted, foreign) is an empty page.
        const cursor = db.get(`SELECT created_at, seq FROM ${table} WHERE id = ? AND ${scopeColumn} = ?`, query.after, scope)
        if (!cursor) return { data: [], hasMore: false }
        rows = db.all(`SELECT * FROM ${table} WHERE ${scopeColumn} = ? AND (created_at, seq) ${desc ? '<' : '>'} (?, ?) ${order}`,
          scope, cursor.created_at, cursor.seq, query.limit + 1)
      }
      return { data: rows.slice(0, query.limit).map(codec.row), hasMore: rows.length > query.limit }
    })
  }

  const count = (scope: string) => Number(db.get(`SELECT COUNT(*) AS n FROM ${table} WHERE ${scopeColumn} = ?`, scope)?.n ?? 0)

  return {
    codec,
    /**
     * Inserts the record; a duplicate id is an error. With `maxPerScope`, only while its scope holds fewer
     * records: counted and inserted in one IMMEDIATE transaction (false, nothing written, at the cap).
     */
    async create (record: T, maxPerScope?: number): Promise<boolean> {
      if (maxPerScope === undefined) {
        db.run(codec.insert, ...codec.params(record))
        return true
      }
      return db.immediate(() => {
        if (count(String(record[scopeColumn])) >= maxPerScope) return false
        db.run(codec.insert, ...codec.params(record))
        return true
      })
    },
    async count (scope: string): Promise<number> {
      return count(scope)
    },
    async get (id: string): Promise<T | null> {
      const row = db.get(`SELECT * FROM ${table} WHERE id = ?`, id)
      return row ? codec.row(row) : null
    },
    page
  }
}
