import { createHash } from 'node:crypto'
import type { RedisClient } from '../../redis.ts'

/**
 * Where a key lives in Redis Cluster: its "home", the part of the key prefix that Redis hashes to a slot
 * (a hash tag, `agw:{<tag>}thread:…`). A Lua script may only touch keys of one slot, so every script runs
 * in one home and builds all its keys there (lua.ts: `P`, ARGV[1], is the home). The homes, and why:
 *
 * - a user's home (`u` + hash of the id): their threads and files with the per-user indexes and caps, the
 *   threads' message indexes, write locks, runs, run indexes and active-run set. Every atomic operation of
 *   a chat turn (createRun: thread lock + the user's active count + the run + the thread's run index) and
 *   every page stays in one slot, and users spread over the cluster;
 * - `budgets`: day counters, reservations, usage ids and the ledger. A reservation checks the user's, the
 *   assistant's and the global budget at once, and settling counts usage exactly once against the same
 *   counters: they cannot be split without losing atomicity, so every budget operation goes to one primary;
 * - `assistants`, `audit`: the profiles with their versions, the hash-chained audit trail (each appended
 *   with a compare-and-set on its head);
 * - `runs`: the index of active runs the sweeper scans for orphans (redis/runs.ts);
 * - `changes`: only to send a handle's publishes through one node, in order (redis/change-feed.ts);
 * - none (hashed as they are): one-key records — users, idempotency keys, webhook ids, safety identifiers,
 *   rate-limit counters — and the pointers below.
 *
 * Records are read by id alone (getThread, getRun, getFile), so each id has a pointer to its home
 * (`home:<kind>:<id>`), written once, before the record, and never changed or deleted: an instance can
 * cache it for ever. A run lives in its thread's home; a thread is homed with its owner when it is
 * created (or when a run first names it); a thread that only ever saw a lock or a message index (the
 * store's own tests do that) gets a home of its own (`t` + hash of the id).
 *
 * With one Redis (a server or Sentinel) there are no homes: every key is as before, without a tag.
 */
export type HomeKind = 'thread' | 'run' | 'file'

/** The tag of a user's (`u`) or a lone thread's (`t`) home. */
export const homeTag = (kind: 'u' | 't', id: string) => kind + createHash('sha256').update(id).digest('base64url').slice(0, 12)
/** Pointers cached per process; an id's home never changes, so only the size is bounded. */
const CACHE_MAX = 100_000

export type Homes = ReturnType<typeof createHomes>

export function createHomes (client: RedisClient, prefix: string, clustered: boolean, call: <T>(fn: () => Promise<T>) => Promise<T>) {
  const cache = new Map<string, string>()
  const pointer = (kind: HomeKind, id: string) => `${prefix}home:${kind}:${id}`
  const remember = (key: string, tag: string) => {
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string)
    cache.set(key, tag)
  }
  /** The key prefix of a home: the store's prefix and the tag (none with one Redis). */
  const at = (tag: string) => clustered ? `${prefix}{${tag}}` : prefix

  return {
    clustered,
    at,
    /** The tag of a home (its prefix from `at`). */
    tag: (home: string) => home.slice(prefix.length + 1, -1),
    /** A user's home. */
    owner: (owner: string) => at(homeTag('u', owner)),
    /** One of the fixed homes. */
    fixed: (name: 'budgets' | 'assistants' | 'audit' | 'runs' | 'changes') => at(name),
    /** The home of a thread that no owner has claimed. */
    threadOnly: (threadId: string) => at(homeTag('t', threadId)),

    /** The home of a record, null when no pointer names it (the record does not exist). */
    async find (kind: HomeKind, id: string): Promise<string | null> {
      if (!clustered) return prefix
      const key = pointer(kind, id)
      let tag = cache.get(key)
      if (tag === undefined) {
        const found = await call(() => client.get(key))
        if (found === null) return null
        tag = found
        remember(key, tag)
      }
      return at(tag)
    },

    /**
     * The home of a record about to be written: the one its pointer names, or `home` (a prefix from
     * `owner`, `threadOnly` or `find`), which the pointer then names for good. Racing claims agree.
     */
    async claim (kind: HomeKind, id: string, home: string): Promise<string> {
      if (!clustered) return prefix
      const key = pointer(kind, id)
      const cached = cache.get(key)
      if (cached !== undefined) return at(cached)
      const tag = this.tag(home)
      const previous = await call(() => client.set(key, tag, 'NX', 'GET'))
      remember(key, previous ?? tag)
      return at(previous ?? tag)
    },

    /** Claims `home` for a new record; an id already homed elsewhere is a duplicate (as with one Redis). */
    async claimAs (kind: HomeKind, id: string, home: string): Promise<string> {
      const claimed = await this.claim(kind, id, home)
      if (claimed !== home) throw new Error(`A ${kind} with id ${id} already exists`)
      return home
    }
  }
}
