/**
 * How each field of a record is stored. Every record has one such list, next to its type, and both
 * backends derive their codecs from it (SQLite columns, parameters and row mapping; Redis hash fields).
 * The list is typed by the record: a field added to the type and not to its list fails typecheck, and a
 * field's kind must fit its type.
 *
 * - raw: a string the Redis scripts compare or build keys from (ids, owners, a run's status); stored as
 *   is in both backends
 * - value: a number, a string or null; as is in SQLite, JSON text in Redis
 * - bool: 0/1 in SQLite, JSON text in Redis
 * - json: objects and arrays; JSON text in both (Lua never decodes it: cjson would turn [] into {})
 */
export type FieldKind = 'raw' | 'value' | 'bool' | 'json'

type KindOf<V> = [V] extends [boolean] ? 'bool' : [V] extends [string] ? 'raw' | 'value' : [V] extends [string | number | null] ? 'value' : 'json'

export type Fields<T> = { readonly [K in keyof T]-?: KindOf<T[K]> }

/** The field names in the list's order (the order of SQLite columns and of Lua argument lists). */
export const fieldNames = <T>(fields: Fields<T>) => Object.keys(fields) as Array<keyof T & string>
export const fieldEntries = <T>(fields: Fields<T>) => Object.entries(fields) as Array<[keyof T & string, FieldKind]>
