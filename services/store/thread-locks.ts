/**
 * The thread's write lock: held by a run from createRun to its terminal update, and briefly by a
 * request that writes to the conversation (a message), so that the two never interleave. A lock is held
 * by `holder` until released or expired; every successful acquisition returns a fence larger than any
 * before it for that thread.
 */
export interface ThreadLockStore {
  /** Takes (or, for the same holder, re-takes and extends) the lock; null when another holder has it. */
  lockThread (threadId: string, holder: string, ttlMs: number): Promise<number | null>
  /** Releases the lock if `holder` still holds it. */
  unlockThread (threadId: string, holder: string): Promise<boolean>
}

/** A thread's lock is named `thread:<id>` in both backends: a SQLite `locks` row, the Redis key `lock:thread:<id>`. */
export const THREAD_LOCK = 'thread:'
export const threadLockName = (threadId: string) => THREAD_LOCK + threadId
