import type { FastifyBaseLogger } from 'fastify'
import type { RunRecord, Store } from '../store/types.ts'

/**
 * Re-reads a watched run this often even without a notification: notifications are hints that can be
 * lost (a dropped subscriber connection between resyncs), and a lapsed lease is not a write at all.
 */
const SAFETY_POLL_MS = 5000
const TICK_MS = 1000

export interface WatchOptions {
  /** What the waiter waits for; the run is read from the store each time it may have changed. */
  until: (run: RunRecord) => boolean
  timeoutMs: number
  signal?: AbortSignal
  /** Sees every read of the run that did not end the wait (e.g. to resume a run whose driver died). */
  onRead?: (run: RunRecord) => void
}

interface Waiter {
  until: (run: RunRecord) => boolean
  onRead?: (run: RunRecord) => void
  settle: (run: RunRecord | null) => void
  lastReadAt: number
}

/**
 * The one way to wait for a run: long-polls, the answer to POST …/runs, cancel, SSE followers. Fed by
 * the store's change feed (in-process for SQLite, Redis pub/sub across instances), so a waiter learns
 * of a change driven anywhere as soon as it is written; the store read is always the truth, and a slow
 * safety poll covers a missed notification. Reads of one run are shared by all its waiters.
 */
export function createRunWatcher ({ store, log, safetyPollMs = SAFETY_POLL_MS }: { store: Store, log: FastifyBaseLogger, safetyPollMs?: number }) {
  const waiters = new Map<string, Set<Waiter>>()
  /** Runs being read; true when a change arrived during the read (read again after it). */
  const reading = new Map<string, boolean>()
  let feed: Array<() => void> | null = null
  let ticker: NodeJS.Timeout | null = null

  function refresh (runId: string): void {
    if (!waiters.has(runId)) return
    if (reading.has(runId)) {
      reading.set(runId, true)
      return
    }
    reading.set(runId, false)
    store.getRun(runId)
      .then(run => deliver(runId, run), err => log.debug({ err, runId }, 'reading a watched run failed; the safety poll retries'))
      .finally(() => {
        const changedMeanwhile = reading.get(runId)
        reading.delete(runId)
        if (changedMeanwhile) refresh(runId)
      })
  }

  function deliver (runId: string, run: RunRecord | null): void {
    const now = Date.now()
    for (const waiter of waiters.get(runId) ?? []) {
      waiter.lastReadAt = now
      if (!run || waiter.until(run)) waiter.settle(run)
      else waiter.onRead?.(run)
    }
  }

  function start (): void {
    if (feed) return
    feed = [
      store.changes.subscribe('run', refresh),
      store.changes.onResync(() => { for (const runId of waiters.keys()) refresh(runId) })
    ]
    ticker = setInterval(() => {
      const stale = Date.now() - safetyPollMs
      for (const [runId, set] of waiters) {
        for (const waiter of set) {
          if (waiter.lastReadAt <= stale) {
            refresh(runId)
            break
          }
        }
      }
    }, Math.min(TICK_MS, safetyPollMs))
    ticker.unref()
  }

  return {
    /**
     * Resolves with the run as soon as `until(run)` holds or it is gone (null); at the timeout or when
     * `signal` aborts, with the run as it is then.
     */
    async watch (runId: string, options: WatchOptions): Promise<RunRecord | null> {
      start()
      let wake!: () => void
      const woken = new Promise<void>(resolve => { wake = resolve })
      let result: { run: RunRecord | null } | undefined
      const waiter: Waiter = {
        until: options.until,
        onRead: options.onRead,
        settle: run => { result ??= { run }; wake() },
        lastReadAt: Date.now()
      }
      // Registered before the first read, so a change written in between is not missed.
      let set = waiters.get(runId)
      if (!set) waiters.set(runId, set = new Set())
      set.add(waiter)
      const timer = setTimeout(wake, options.timeoutMs)
      options.signal?.addEventListener('abort', wake, { once: true })
      try {
        const first = await store.getRun(runId)
        if (!first || options.until(first)) return first
        options.onRead?.(first)
        await woken
        return result ? result.run : await store.getRun(runId)
      } finally {
        clearTimeout(timer)
        options.signal?.removeEventListener('abort', wake)
        set.delete(waiter)
        if (set.size === 0) waiters.delete(runId)
      }
    },

    /** Runs being waited for (for tests and metrics). */
    watched: () => waiters.size,

    close (): void {
      for (const stop of feed ?? []) stop()
      feed = null
      if (ticker) clearInterval(ticker)
      ticker = null
    }
  }
}
export type RunWatcher = ReturnType<typeof createRunWatcher>
