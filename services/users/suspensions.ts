import type { Store } from '../store/types.ts'

/** Users whose state is cached; beyond it the oldest entries are dropped (a miss costs one store read). */
const MAX_CACHED = 10_000
/**
 * A cached answer is re-read after this long even without a notification: the feed is best effort
 * (a resync also clears everything), so this bounds how stale a lost notification can leave it.
 */
const CACHE_TTL_MS = 30_000

/**
 * Whether a user is suspended, answered from memory: every /api request asks. The cache is dropped per
 * user on each ('user', id) change from any instance (a suspension is written and published in one store
 * operation), and entirely when the feed resyncs, so a suspension reaches every instance as fast as the
 * change feed does.
 */
export function createSuspensionCheck ({ store }: { store: Store }) {
  const cache = new Map<string, { suspended: boolean, readAt: number }>()
  // Bumped by every notification: a read that started before one must not cache what it read.
  let epoch = 0
  const offUser = store.changes.subscribe('user', id => {
    epoch++
    cache.delete(id)
  })
  const offResync = store.changes.onResync(() => {
    epoch++
    cache.clear()
  })

  return {
    async isSuspended (userId: string): Promise<boolean> {
      const cached = cache.get(userId)
      if (cached && performance.now() - cached.readAt < CACHE_TTL_MS) return cached.suspended
      const started = epoch
      const suspended = (await store.getUser(userId))?.suspended ?? false
      if (epoch === started) {
        cache.delete(userId)
        if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!)
        cache.set(userId, { suspended, readAt: performance.now() })
      }
      return suspended
    },
    close () {
      offUser()
      offResync()
      cache.clear()
    }
  }
}
export type SuspensionCheck = ReturnType<typeof createSuspensionCheck>
