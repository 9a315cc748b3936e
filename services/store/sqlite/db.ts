import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseSync, type SQLInputValue, type SQLOutputValue, type StatementSync } from 'node:sqlite'
import { ACTIVE_RUN_STATUSES } from '../runs.ts'
import { migrate } from './migrations.ts'

export type Row = Record<string, SQLOutputValue>

/** `('queued', 'in_progress', 'cancelling')`, for `status IN …`. */
export const ACTIVE_SQL = `(${ACTIVE_RUN_STATUSES.map(s => `'${s}'`).join(', ')})`

/** One connection and what every domain file uses on it. */
export type SqliteDb = ReturnType<typeof openSqliteDb>

/**
 * Opens (and migrates) the file in WAL mode. Every read-modify-write runs in `immediate`, i.e. BEGIN
 * IMMEDIATE, which takes the database's write lock up front, so it is atomic against other connections
 * and other processes on the same file too. node:sqlite is synchronous: a method runs to completion
 * before the event loop moves on.
 */
export function openSqliteDb (path: string, busyTimeoutMs: number) {
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
    if (closed) throw new Error('The SQLite store is closed')
    let statement = statements.get(text)
    if (!statement) {
      statement = db.prepare(text)
      statements.set(text, statement)
    }
    return statement
  }
  function exec (text: string) {
    if (closed) throw new Error('The SQLite store is closed')
    db.exec(text)
  }
  const get = (text: string, ...params: SQLInputValue[]): Row | undefined => sql(text).get(...params)
  const all = (text: string, ...params: SQLInputValue[]): Row[] => sql(text).all(...params)
  /** Several reads from one snapshot (a deferred transaction never waits in WAL mode). */
  function snapshot<T> (fn: () => T): T {
    exec('BEGIN')
    try {
      return fn()
    } finally {
      db.exec('COMMIT')
    }
  }

  return {
    get,
    all,
    snapshot,
    /** Returns the number of rows changed. */
    run: (text: string, ...params: SQLInputValue[]): number => Number(sql(text).run(...params).changes),

    immediate<T> (fn: () => T): T {
      exec('BEGIN IMMEDIATE')
      try {
        const result = fn()
        db.exec('COMMIT')
        return result
      } catch (err) {
        if (db.isTransaction) db.exec('ROLLBACK')
        throw err
      }
    },

    close () {
      if (closed) return false
      closed = true
      statements.clear()
      db.close()
      return true
    }
  }
}
