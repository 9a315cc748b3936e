import { createHash } from 'node:crypto'
import type { Fields } from './fields.ts'
import type { Order, Page } from './page.ts'

/**
 * One entry of the audit trail: who did what to what, when, in which request. Entries are appended,
 * never changed, and chained: `hash` is the SHA-256 of the canonical entry (every field but `hash`,
 * `prev_hash` included), `prev_hash` the hash of the entry before (GENESIS_HASH for the first), so an
 * entry edited or removed in the store breaks the chain where it was.
 */
export interface AuditRecord {
  id: string
  /** Position in the chain, from 1, without gaps. */
  seq: number
  /** Unix seconds. */
  created_at: number
  /** An admin's `sub`, or 'system'. */
  actor: string
  action: string
  /** What the action was done to (a user id, an assistant id), or null. */
  target: string | null
  request_id: string | null
  details: Record<string, unknown>
  prev_hash: string
  hash: string
}

export const AUDIT_FIELDS: Fields<AuditRecord> = {
  id: 'raw',
  seq: 'value',
  created_at: 'value',
  actor: 'value',
  action: 'value',
  target: 'value',
  request_id: 'value',
  details: 'json',
  prev_hash: 'value',
  hash: 'value'
}

export type AuditDraft = Pick<AuditRecord, 'created_at' | 'actor' | 'action' | 'target' | 'request_id' | 'details'>
export interface AuditHead { seq: number, hash: string }
export const GENESIS_HASH = '0'.repeat(64)
export const auditId = (seq: number) => `aud_${seq}`

/** JSON with object keys sorted at every depth: the one serialisation an entry is hashed in. */
export function canonicalJson (value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined)
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}

/** The hash an entry must carry: over every field but `hash` itself. */
export function auditHash (entry: Omit<AuditRecord, 'hash'>): string {
  const { id, seq, created_at: createdAt, actor, action, target, request_id: requestId, details, prev_hash: prevHash } = entry
  return createHash('sha256').update(canonicalJson({ id, seq, created_at: createdAt, actor, action, target, request_id: requestId, details, prev_hash: prevHash })).digest('hex')
}

/** The entry that follows `head` in the chain. */
export function sealAudit (draft: AuditDraft, head: AuditHead | null): AuditRecord {
  const seq = (head?.seq ?? 0) + 1
  const entry = { id: auditId(seq), seq, ...draft, prev_hash: head?.hash ?? GENESIS_HASH }
  return { ...entry, hash: auditHash(entry) }
}

export interface AuditQuery {
  limit: number
  order: Order
  /** An entry id from the previous page. */
  after?: string
  actor?: string
  action?: string
  /** Unix seconds: entries created at or after it. */
  since?: number
}

export interface AuditStore {
  /**
   * Appends the entry at the end of the chain, atomically against every other writer (several instances
   * included): it gets the next seq and the head's hash as its prev_hash. Returns the sealed entry.
   */
  appendAudit (draft: AuditDraft): Promise<AuditRecord>
  /** A page of entries, newest first for desc, filtered; `after` is an entry id from a previous page. */
  listAudit (query: AuditQuery): Promise<Page<AuditRecord>>
  /** Entries with seq > afterSeq in chain order, at most `limit` (what verification walks); gaps are skipped. */
  auditEntries (afterSeq: number, limit: number): Promise<AuditRecord[]>
  /** The last entry's seq and hash, as recorded when it was appended; null before the first. */
  auditHead (): Promise<AuditHead | null>
}
