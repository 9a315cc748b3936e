export const CHANGE_KINDS = ['run', 'user', 'response'] as const
export type ChangeKind = typeof CHANGE_KINDS[number]

/**
 * Notifications that something in the store changed, so that waiters (a long poll, an SSE follower) on
 * any instance learn of it without polling. The store stays the truth: a notification says what to
 * re-read, never what the new state is.
 */
export interface ChangeFeed {
  /** Tells every instance sharing the store (this one included) that `id` of `kind` changed. */
  publish (kind: ChangeKind, id: string): Promise<void>
  /**
   * Hears every publish of `kind` from any instance. Best effort: a notification can be lost (a dropped
   * connection), so readers treat it as a hint, re-read the store, and keep a slow safety poll.
   * Returns unsubscribe.
   */
  subscribe (kind: ChangeKind, listener: (id: string) => void): () => void
  /** Called after the feed (re)connects: notifications may have been missed meanwhile, re-read what you wait for. */
  onResync (listener: () => void): () => void
}

export interface FeedLogger {
  warn: (obj: object, msg: string) => void
}
export type ChangeListeners = ReturnType<typeof createChangeListeners>

/**
 * The listeners of one store handle, for both backends. A listener that throws, or returns a promise
 * that rejects, is logged and skipped: it never reaches the store call that published, the other
 * listeners, or the process (an uncaught error there would end it).
 */
export function createChangeListeners (log?: FeedLogger) {
  const byKind = new Map<ChangeKind, Set<(id: string) => void>>(CHANGE_KINDS.map(kind => [kind, new Set()]))
  const resyncs = new Set<() => void>()

  function report (err: unknown) {
    if (log) log.warn({ err }, 'A store change listener failed')
    else process.emitWarning(err instanceof Error ? err : new Error(String(err)))
  }
  function safely (fn: () => unknown) {
    try {
      const result = fn()
      if (result instanceof Promise) result.catch(report)
    } catch (err) {
      report(err)
    }
  }
  // Each call adds its own entry, so the same function subscribed twice is unsubscribed one at a time.
  function add<A extends unknown[]> (set: Set<(...args: A) => void>, listener: (...args: A) => void): () => void {
    const entry = (...args: A) => listener(...args)
    set.add(entry)
    return () => { set.delete(entry) }
  }

  return {
    subscribe: (kind: ChangeKind, listener: (id: string) => void) => add(byKind.get(kind) as Set<(id: string) => void>, listener),
    onResync: (listener: () => void) => add(resyncs, listener),
    dispatch (kind: ChangeKind, id: string) {
      for (const listener of [...byKind.get(kind) ?? []]) safely(() => listener(id))
    },
    resync () {
      for (const listener of [...resyncs]) safely(listener)
    }
  }
}
