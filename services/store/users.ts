import type { Fields } from './fields.ts'

/** An OpenAI safety notice about a user, as the gateway recorded it (webhooks, services/webhooks/). */
export interface SafetyNotice {
  type: 'warning' | 'deactivation'
  /** OpenAI's safety case id. */
  case_id: string
  /** Unix seconds the gateway recorded it. */
  at: number
}

/**
 * What the gateway knows about an end user beyond their JWT: whether an admin (or the safety policy)
 * suspended them, and the safety notices OpenAI sent about them. A user the gateway has never had to
 * remember anything about has no record (getUser → null): they are active with no notices.
 */
export interface UserRecord {
  id: string
  suspended: boolean
  /** Unix seconds; null when not suspended. */
  suspended_at: number | null
  /** Shown to admins only (the user is told they are suspended, never why). */
  suspension_reason: string | null
  /** An admin's `sub`, or 'system' for an automatic suspension. */
  suspended_by: string | null
  safety_warnings: number
  safety_deactivations: number
  /** Unix seconds of the latest notice of each kind. */
  last_warning_at: number | null
  last_deactivation_at: number | null
  last_notice: SafetyNotice | null
  /** Unix seconds of the last change. */
  updated_at: number
}

export const USER_FIELDS: Fields<UserRecord> = {
  id: 'raw',
  suspended: 'bool',
  suspended_at: 'value',
  suspension_reason: 'value',
  suspended_by: 'value',
  safety_warnings: 'value',
  safety_deactivations: 'value',
  last_warning_at: 'value',
  last_deactivation_at: 'value',
  last_notice: 'json',
  updated_at: 'value'
}

/** The record of a user the gateway has not written yet. */
export const newUserRecord = (id: string, now: number): UserRecord => ({
  id,
  suspended: false,
  suspended_at: null,
  suspension_reason: null,
  suspended_by: null,
  safety_warnings: 0,
  safety_deactivations: 0,
  last_warning_at: null,
  last_deactivation_at: null,
  last_notice: null,
  updated_at: now
})

/** A write and whether it changed the suspension (suspending a suspended user changes nothing but the reason). */
export interface UserWrite { user: UserRecord, changed: boolean }

/**
 * End users: suspension and safety notices. Every write publishes ('user', id) on the change feed, so that
 * every instance drops what it cached about the user (the suspension check on every /api request).
 */
export interface UserStore {
  getUser (id: string): Promise<UserRecord | null>
  /**
   * Suspends the user (creating the record); `changed` is false when they already were, in which case
   * the reason and who are updated but `suspended_at` is kept.
   */
  suspendUser (id: string, suspension: { reason: string, by: string, at: number }): Promise<UserWrite>
  /** Lifts a suspension; `changed` is false when there was none. Nothing else about the user changes. */
  unsuspendUser (id: string, at: number): Promise<UserWrite>
  /** Counts a safety notice on the user (creating the record) and keeps it as the latest. */
  recordSafetyNotice (id: string, notice: SafetyNotice): Promise<UserRecord>
}
