import type { FastifyBaseLogger } from 'fastify'
import type { Store } from '../store/types.ts'

/**
 * Response ids heard of lately that no waiter was registered for yet: a webhook can arrive before the
 * driver that created the response starts to wait (the create's answer and the end cross on the wire).
 * A quick generation is done within seconds; this many ids cover far more than that at any rate.
 */
const RECENT_MAX = 4096

/**
 * Learns that upstream responses ended from OpenAI's `response.completed|failed|cancelled|incomplete`
 * webhooks. POST /webhooks/openai publishes a 'response' change on the store's feed on whichever
 * instance received the delivery, and every instance hears it (in-process for SQLite, Redis pub/sub
 * across instances), so the driver waiting for that response wakes wherever it runs. A notification is a
 * hint that the response changed, never its content: the waiter reads the response once. A resync of
 * the feed (notifications may have been missed) wakes every waiter to read once.
 */
export function createResponseEnds ({ store, log }: { store: Store, log: FastifyBaseLogger }) {
  const waiters = new Map<string, Set<() => void>>()
  const recent = new Set<string>()

  function heard (responseId: string): void {
    const set = waiters.get(responseId)
    if (set) {
      for (const wake of set) wake()
      return
    }
    recent.add(responseId)
    if (recent.size > RECENT_MAX) recent.delete(recent.values().next().value as string)
  }

  // Subscribed from the start, not at the first wait: an end heard before any wait began must be remembered.
  const feed = [
    store.changes.subscribe('response', heard),
    store.changes.onResync(() => {
      log.debug({ waiting: waiters.size }, 'the change feed resynced: waiting runs read their responses')
      for (const set of waiters.values()) for (const wake of set) wake()
    })
  ]

  return {
    /**
     * Resolves `true` as soon as `responseId` is said to have changed (at once if that was heard
     * before the wait began), `false` after `ms`; rejects with the signal's reason when it aborts.
     */
    wait (responseId: string, ms: number, signal: AbortSignal): Promise<boolean> {
      if (signal.aborted) return Promise.reject(signal.reason)
      if (recent.delete(responseId)) return Promise.resolve(true)
      return new Promise((resolve, reject) => {
        let set = waiters.get(responseId)
        if (!set) waiters.set(responseId, set = new Set())
        const done = () => {
          clearTimeout(timer)
          signal.removeEventListener('abort', onAbort)
          set.delete(wake)
          if (set.size === 0 && waiters.get(responseId) === set) waiters.delete(responseId)
        }
        const wake = () => { done(); resolve(true) }
        const onAbort = () => { done(); reject(signal.reason) }
        const timer = setTimeout(() => { done(); resolve(false) }, ms)
        set.add(wake)
        signal.addEventListener('abort', onAbort, { once: true })
      })
    },

    /** Responses waited for now (tests, metrics). */
    waiting: () => waiters.size,

    close (): void {
      for (const stop of feed.splice(0)) stop()
    }
  }
}
export type ResponseEnds = ReturnType<typeof createResponseEnds>
