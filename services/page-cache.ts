/**
 * A small LRU for list pages, bounded by entries' approximate size in bytes, with a time limit as a
 * safety net. Values are shared, not copied: callers must not mutate what they put in or get out.
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

  return {
    get (key: string): T | undefined {
      const entry = entries.get(key)
      if (!entry) return undefined
      if (entry.expiresAt <= now()) {
        drop(key)
        return undefined
      }
      // Most recently used last: Map keeps insertion order.
      entries.delete(key)
      entries.set(key, entry)
      return entry.value
    },
    set (key: string, value: T, size: number): void {
      if (maxBytes <= 0 || size > maxBytes / 4) return
      drop(key)
      entries.set(key, { value, bytes: size, expiresAt: now() + ttlMs })
      bytes += size
      for (const oldest of entries.keys()) {
        if (bytes <= maxBytes) break
        drop(oldest)
      }
    },
    get size () { return entries.size },
    get bytes () { return bytes }
  }
}
export type PageCache<T> = ReturnType<typeof createPageCache<T>>
