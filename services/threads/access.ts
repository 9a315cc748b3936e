import { ThreadBusy, notFound, withDetails, type GatewayError } from '../errors.ts'
import { isActiveRunStatus, type FileRecord, type RunRecord, type Store, type ThreadRecord } from '../store/types.ts'

/** How long a message write may hold the thread (it only spans an upstream call or two). */
const WRITE_LOCK_MS = 30_000
/** Runs read to find the one holding a thread: only one is active at a time, and it is the newest but for a race. */
const ACTIVE_RUN_SCAN = 5

/** What a refused write would have done, as "Can't <action> <thread> while …" says it. */
export type ThreadWrite = 'add messages to' | 'delete messages of' | 'delete' | 'start a run on'

/**
 * What every thread operation checks first, from the store, before any upstream call: the thread and
 * files are the caller's (anything else is "not found", exactly like an unknown id), and writes to the
 * conversation hold the thread's lock, which an active run holds too.
 */
export function createThreadAccess ({ store }: { store: Store }) {
  /** The run holding the thread, if a run does (a message write holds it briefly too). */
  async function activeRun (threadId: string): Promise<RunRecord | null> {
    const page = await store.listRuns(threadId, { limit: ACTIVE_RUN_SCAN, order: 'desc' })
    return page.data.find(run => isActiveRunStatus(run.status)) ?? null
  }

  /**
   * The 409 for a write the thread's lock refused, naming the run that holds it as OpenAI's did ("… while a
   * run run_… is active"): Assistants-era code takes the id from the message to cancel it. A run paused for
   * its tool outputs waits for the client, not for time: the client is told so, and not to retry.
   */
  async function busy (threadId: string, action: ThreadWrite): Promise<GatewayError> {
    const run = await activeRun(threadId)
    if (run?.status === 'requires_action') {
      return withDetails(new ThreadBusy(`Can't ${action} ${threadId} while a run ${run.id} is active: it is paused in requires_action, ` +
        'waiting for the client\'s tool outputs — submit its tool outputs or cancel it'), { retry: false })
    }
    if (run) {
      return withDetails(new ThreadBusy(`Can't ${action} ${threadId} while a run ${run.id} is active (status ${run.status}); wait for it to end or cancel it`),
        { retryAfterSeconds: 2 })
    }
    return withDetails(new ThreadBusy(`Can't ${action} ${threadId} while another request writes to it; retry in a moment`), { retryAfterSeconds: 2 })
  }

  return {
    activeRun,
    busy,

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

    /** Runs `write` while holding the thread's lock: busy (a run, another write) → 409 naming what holds it. */
    async withThreadWrite<T> (threadId: string, holder: string, action: ThreadWrite, write: () => Promise<T>): Promise<T> {
      const fence = await store.lockThread(threadId, holder, WRITE_LOCK_MS)
      if (fence === null) throw await busy(threadId, action)
      try {
        return await write()
      } finally {
        await store.unlockThread(threadId, holder)
      }
    }
  }
}
export type ThreadAccess = ReturnType<typeof createThreadAccess>
