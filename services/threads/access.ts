import { ThreadBusy, notFound, withDetails } from '../errors.ts'
import type { FileRecord, Store, ThreadRecord } from '../store/types.ts'

/** How long a message write may hold the thread (it only spans an upstream call or two). */
const WRITE_LOCK_MS = 30_000

/**
 * What every thread operation checks first, from the store, before any upstream call: the thread and
 * files are the caller's (anything else is "not found", exactly like an unknown id), and writes to the
 * conversation hold the thread's lock, which an active run holds too.
 */
export function createThreadAccess ({ store }: { store: Store }) {
  return {
    async ownedThread (userId: string, threadId: string): Promise<ThreadRecord> {
      const thread = await store.getThread(threadId)
      if (!thread || thread.owner !== userId) throw notFound('Thread')
      return thread
    },

    /** The caller's files, in the order asked: any id that is unknown or someone else's is 404. */
    async ownedFiles (userId: string, fileIds: string[]): Promise<FileRecord[]> {
      const files: FileRecord[] = []
      for (const id of new Set(fileIds)) {
        const file = await store.getFile(id)
        if (!file || file.owner !== userId) throw notFound(`File ${id}`)
        files.push(file)
      }
      return files
    },

    /** Runs `write` while holding the thread's lock: busy (a run, another write) → 409. */
    async withThreadWrite<T> (threadId: string, holder: string, write: () => Promise<T>): Promise<T> {
      const fence = await store.lockThread(threadId, holder, WRITE_LOCK_MS)
      if (fence === null) throw withDetails(new ThreadBusy('A run is active on this thread; wait for it to finish'), { retryAfterSeconds: 2 })
      try {
        return await write()
      } finally {
        await store.unlockThread(threadId, holder)
      }
    }
  }
}
export type ThreadAccess = ReturnType<typeof createThreadAccess>
