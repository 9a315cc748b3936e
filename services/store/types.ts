/**
 * Everything the gateway must remember, behind one interface with two backends: SQLite (embedded,
 * one instance) and Redis (several instances). Operations that must be atomic — take a lock, start a
 * run, claim an idempotency key, reserve budget — are single store operations, never read-then-write
 * in the caller. Times are Unix milliseconds from the store's clock unless a field says seconds.
 *
 * Each domain has its own file (record types, their field lists, the interface); `Store` is all of them.
 */
import type { AssistantStore } from './assistants.ts'
import type { AuditStore } from './audit.ts'
import type { BudgetStore } from './budgets.ts'
import type { ChangeFeed } from './change-feed.ts'
import type { FileStore } from './files.ts'
import type { IdempotencyStore } from './idempotency.ts'
import type { MessageStore } from './messages.ts'
import type { RunStore } from './runs.ts'
import type { SafetyIdentifierStore } from './safety-identifiers.ts'
import type { ThreadLockStore } from './thread-locks.ts'
import type { ThreadStore } from './threads.ts'
import type { UserStore } from './users.ts'
import type { WebhookEventStore } from './webhook-events.ts'

export * from './assistants.ts'
export * from './audit.ts'
export * from './budgets.ts'
export * from './change-feed.ts'
export * from './files.ts'
export * from './idempotency.ts'
export * from './messages.ts'
export * from './page.ts'
export * from './runs.ts'
export * from './safety-identifiers.ts'
export * from './thread-locks.ts'
export * from './threads.ts'
export * from './users.ts'
export * from './webhook-events.ts'

export interface Store extends ThreadStore, ThreadLockStore, MessageStore, FileStore, RunStore, AssistantStore, IdempotencyStore, BudgetStore,
  UserStore, SafetyIdentifierStore, WebhookEventStore, AuditStore {
  readonly kind: 'sqlite' | 'redis'
  /** Cheap liveness check for readiness probes; throws when the store cannot answer. */
  ping (): Promise<void>
  close (): Promise<void>
  /** createRun and every updateRun that writes publish ('run', run id); other kinds are published by their writers. */
  readonly changes: ChangeFeed
}
