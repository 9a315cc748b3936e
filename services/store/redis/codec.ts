import { fieldEntries, type Fields } from '../fields.ts'

/** A record as hash field/value pairs, from its field list; undefined fields (a patch's absent ones) are left out. */
export function encodeHash<T> (record: Partial<T>, fields: Fields<T>): string[] {
  const out: string[] = []
  for (const [name, kind] of fieldEntries(fields)) {
    const value = record[name]
    if (value === undefined) continue
    out.push(name, kind === 'raw' ? String(value) : JSON.stringify(value))
  }
  return out
}

/** A record from a hash as HGETALL returns it to Lua (flat pairs) or ioredis (an object); null when empty. */
export function decodeHash<T> (hash: unknown, fields: Fields<T>): T | null {
  const flat = Array.isArray(hash) ? hash : Object.entries((hash ?? {}) as Record<string, string>).flat()
  if (flat.length === 0) return null
  const stored = new Map<string, string>()
  for (let i = 0; i < flat.length; i += 2) stored.set(String(flat[i]), String(flat[i + 1]))
  const record: Record<string, unknown> = {}
  for (const [name, kind] of fieldEntries(fields)) {
    const value = stored.get(name)
    record[name] = value === undefined ? null : kind === 'raw' ? value : JSON.parse(value)
  }
  return record as T
}
