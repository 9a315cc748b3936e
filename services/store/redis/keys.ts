import { THREAD_LOCK } from '../thread-locks.ts'

/**
 * Every key type the store writes, after the store's prefix. Each ends in ':' before its one variable
 * part (two-part keys length-prefix the first), so no owner, thread id or lock name can collide with
 * another. The Lua scripts get the same table as `K` (lua.ts), so each is spelled here only.
 */
export const KEY_TYPES = {
  thread: 'thread:',
  threads: 'threads:',
  messages: 'messages:',
  file: 'file:',
  files: 'files:',
  threadLock: `lock:${THREAD_LOCK}`,
  run: 'run:',
  runs: 'runs:',
  active: 'active:',
  activeRuns: 'active-runs',
  assistants: 'assistants',
  assistantVersions: 'assistant-versions',
  idempotency: 'idem:',
  budget: 'budget:',
  reservation: 'reservation:',
  reservations: 'reservations',
  usageId: 'usage-id:',
  ledger: 'ledger:',
  ledgerUsers: 'ledger-users:',
  user: 'user:',
  safetyIdentifiers: 'safety-ids',
  webhookEvent: 'webhook:',
  /** The audit trail: entries by seq, and the head (last seq and hash); appendAudit writes both. */
  auditEntries: 'audit-entries',
  auditHead: 'audit-head',
  /** Counters: lock fences (never go back, though released locks are deleted) and the insertion order. */
  fence: 'fence',
  seq: 'seq',
  /** In a cluster: every run that may be active, across homes (redis/runs.ts), and each id's home (homes.ts). */
  activeCandidates: 'active-candidates',
  home: 'home:',
  /** Pub/sub channels of the change feed, one per kind. */
  changes: 'changes:'
} as const

export type RedisKeys = ReturnType<typeof redisKeys>

/** The keys TypeScript builds; the scripts build those that derive from stored data. */
export function redisKeys (prefix: string) {
  const k = (type: keyof typeof KEY_TYPES) => (id: string) => prefix + KEY_TYPES[type] + id
  return {
    thread: k('thread'),
    threads: k('threads'),
    messages: k('messages'),
    file: k('file'),
    files: k('files'),
    threadLock: k('threadLock'),
    run: k('run'),
    runs: k('runs'),
    active: k('active'),
    assistants: prefix + KEY_TYPES.assistants,
    assistantVersions: prefix + KEY_TYPES.assistantVersions,
    idempotency: (user: string, key: string) => `${prefix}${KEY_TYPES.idempotency}${Buffer.byteLength(user)}:${user}:${key}`,
    budget: k('budget'),
    user: k('user'),
    safetyIdentifiers: prefix + KEY_TYPES.safetyIdentifiers,
    webhookEvent: k('webhookEvent'),
    auditEntries: prefix + KEY_TYPES.auditEntries,
    auditHead: prefix + KEY_TYPES.auditHead,
    activeRuns: prefix + KEY_TYPES.activeRuns,
    activeCandidates: prefix + KEY_TYPES.activeCandidates,
    reservations: prefix + KEY_TYPES.reservations,
    changes: k('changes')
  }
}
