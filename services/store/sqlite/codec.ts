import type { SQLInputValue } from 'node:sqlite'
import { fieldEntries, fieldNames, type FieldKind, type Fields } from '../fields.ts'
import type { Row } from './db.ts'

function encode (value: unknown, kind: FieldKind): SQLInputValue {
  if (value === null || value === undefined) return null
  if (kind === 'bool') return value ? 1 : 0
  if (kind === 'json') return JSON.stringify(value)
  return value as SQLInputValue
}

function decode (value: Row[string], kind: FieldKind): unknown {
  if (kind === 'bool') return value === 1
  if (kind === 'json') return value === null ? null : JSON.parse(value as string)
  return value
}

/**
 * A table's statements and row mapping, derived from the record's field list: one column per field,
 * named after it (a table may have more, such as `seq`, which the record does not carry).
 */
export function sqliteCodec<T> (table: string, fields: Fields<T>) {
  const columns = fieldNames(fields)
  const kinds = fieldEntries(fields)
  return {
    columns,
    insert: `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
    /** Every column from the record, in the order of `insert` and `update`. */
    params: (record: T): SQLInputValue[] => kinds.map(([name, kind]) => encode(record[name], kind)),
    /** Sets every column of the row whose `key` is the extra last parameter. */
    update: (key: keyof T & string) => `UPDATE ${table} SET ${columns.map(c => `${c} = ?`).join(', ')} WHERE ${key} = ?`,
    /** After `insert`: an upsert that overwrites every column but the conflict target's. */
    upsert: (...target: Array<keyof T & string>) => `ON CONFLICT (${target.join(', ')}) DO UPDATE SET ` +
      columns.filter(c => !target.includes(c)).map(c => `${c} = excluded.${c}`).join(', '),
    row (row: Row): T {
      const record: Record<string, unknown> = {}
      for (const [name, kind] of kinds) record[name] = decode(row[name], kind)
      return record as T
    }
  }
}
