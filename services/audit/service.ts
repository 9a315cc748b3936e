import { GENESIS_HASH, auditHash, auditId, type AuditQuery, type AuditRecord, type Store } from '../store/types.ts'

/** Entries read per round trip while verifying. */
const VERIFY_BATCH = 500

/** Who did it: an admin's `sub`, or the gateway itself. */
export const SYSTEM_ACTOR = 'system'

export interface AuditEvent {
  actor: string
  action: string
  target: string | null
  requestId: string | null
  details?: Record<string, unknown>
}

export interface AuditVerification {
  valid: boolean
  /** Entries checked (up to the first bad one). */
  entries: number
  first_bad_id: string | null
  /** The hash of the last entry: note it elsewhere, and a rewrite of the whole chain shows too. */
  last_hash: string | null
}

/**
 * The audit trail: every admin write, suspension and safety notice, appended to a hash chain in the
 * store (services/store/audit.ts has the canonical form). `verify` walks the chain and names the first
 * entry that does not hold: edited (its hash), removed (a gap, or the head naming an entry that is gone),
 * or re-chained (a prev_hash that is not the hash before it).
 */
export function createAuditService ({ store, clock }: { store: Store, clock: () => number }) {
  return {
    async record (event: AuditEvent): Promise<AuditRecord> {
      return store.appendAudit({
        created_at: Math.floor(clock() / 1000),
        actor: event.actor,
        action: event.action,
        target: event.target,
        request_id: event.requestId,
        details: event.details ?? {}
      })
    },

    list: (query: AuditQuery) => store.listAudit(query),

    async verify (): Promise<AuditVerification> {
      const head = await store.auditHead()
      let checked = 0
      let prev = GENESIS_HASH
      let expected = 1
      const bad = (seq: number): AuditVerification => ({ valid: false, entries: checked, first_bad_id: auditId(seq), last_hash: head?.hash ?? null })
      for (;;) {
        const batch = await store.auditEntries(expected - 1, VERIFY_BATCH)
        for (const entry of batch) {
          if (entry.seq !== expected) return bad(expected)
          const { hash, ...rest } = entry
          if (entry.id !== auditId(entry.seq) || entry.prev_hash !== prev || auditHash(rest) !== hash) return bad(entry.seq)
          prev = hash
          expected++
          checked++
        }
        if (batch.length < VERIFY_BATCH) break
      }
      // The head is written with every append: entries missing at the end, or a head that another chain wrote, show here.
      const headSeq = head?.seq ?? 0
      if (headSeq !== checked) return bad(Math.min(headSeq, checked) + 1)
      if (head !== null && head.hash !== prev) return bad(checked)
      return { valid: true, entries: checked, first_bad_id: null, last_hash: head?.hash ?? null }
    }
  }
}
export type AuditService = ReturnType<typeof createAuditService>
