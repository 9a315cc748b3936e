import type { Fields } from './fields.ts'
import type { Page, PageQuery } from './page.ts'

export interface ThreadRecord {
  id: string
  owner: string
  title: string | null
  metadata: Record<string, string>
  /** Unix seconds. */
  created_at: number
  updated_at: number
  /** Upper estimate of the input tokens the thread's next response reads (budget reservations). */
  token_estimate: number
  /**
   * Upper estimate of the current turn: what was added since the last response that ended a turn (the
   * new messages, and the tool rounds of a run in progress). Compaction keeps the turn and replaces what
   * is before it, so with a compaction threshold it bounds what a response reads. Null on threads from before.
   */
  turn_tokens: number | null
  /**
   * Bumped by every updateThread. Every write to the conversation goes through the gateway and updates
   * the thread, so an unchanged revision means unchanged messages (what the message cache relies on).
   */
  revision: number
}

export const THREAD_FIELDS: Fields<ThreadRecord> = {
  id: 'raw',
  owner: 'raw',
  title: 'value',
  metadata: 'json',
  created_at: 'value',
  updated_at: 'value',
  token_estimate: 'value',
  turn_tokens: 'value',
  revision: 'value'
}

/** What updateThread may change; `revision` is the store's to bump. */
const THREAD_PATCH_FIELDS = ['title', 'metadata', 'updated_at', 'token_estimate', 'turn_tokens'] as const
export type ThreadPatch = Partial<Pick<ThreadRecord, typeof THREAD_PATCH_FIELDS[number]>>

/** The part of a patch updateThread applies: the fields it may change that the patch gives (null is a value). */
export function threadPatch (patch: ThreadPatch): ThreadPatch {
  const applied: Record<string, unknown> = {}
  for (const name of THREAD_PATCH_FIELDS) if (patch[name] !== undefined) applied[name] = patch[name]
  return applied as ThreadPatch
}

export interface ThreadStore {
  /**
   * Inserts the thread. With `maxPerOwner`, only while its owner holds fewer threads, checked and inserted
   * in one atomic step (concurrent creates, on any instance, cannot pass the cap together): false, and
   * nothing written, when the owner already holds that many.
   */
  createThread (thread: ThreadRecord, maxPerOwner?: number): Promise<boolean>
  /** How many threads the owner holds. */
  countThreads (owner: string): Promise<number>
  getThread (id: string): Promise<ThreadRecord | null>
  /** The caller's threads, newest first for desc; `after` is a thread id from a previous page. */
  listThreads (owner: string, page: PageQuery): Promise<Page<ThreadRecord>>
  /** Applies the patch and increments `revision`, atomically. */
  updateThread (id: string, patch: ThreadPatch): Promise<ThreadRecord | null>
  /** Removes the thread, its message index and its runs. */
  deleteThread (id: string): Promise<void>
}
