/**
 * A small cache for list pages: entries live `ttlMs`, oldest first out, and the whole is bounded by the
 * entries' approximate size in bytes. Insertion order is expiry order, so every insert also sweeps the
 * expired entries at the front: pages nobody reads again (a deleted thread's) leave on time instead of
 * waiting for the size bound. Values are shared, not copied: callers must not mutate them.
 */
export function createPageCache<T> ({ maxBytes, ttlMs, now = Date.now }: { maxBytes: number, ttlMs: number, now?: () => number }) {
  const entries = new Map<string, { value: T, bytes: number, expiresAt: number }>()
  let bytes = 0

  function drop (key: string): void {
    const entry = entries.get(key)
    if (!entry) return
    entries.delete(key)
    bytes -= entry.bytes
  }

  function sweep (at: number): void {
    for (const [key, entry] of entries) {
      if (entry.expiresAt > at && bytes <= maxBytes) break
      drop(key)
    }
  }

  return {
    get (key: string): T | undefined {
      const entry = entries.get(key)
      if (!entry || entry.expiresAt <= now()) return undefined
      return entry.value
    },
    set (key: string, value: T, size: number): void {
      if (maxBytes <= 0 || size > maxBytes / 4) return
      const at = now()
      drop(key)
      entries.set(key, { value, bytes: size, expiresAt: at + ttlMs })
      bytes += size
      sweep(at)
    },
    get size () { return entries.size },
    get bytes () { return bytes }
  }
}
export type PageCache<T> = ReturnType<typeof createPageCache<T>>
