export interface StoredReply {
  status: number
  body: unknown
  headers: Record<string, string>
}

export type IdempotencyClaim =
  | { state: 'new' }
  | { state: 'in_progress' }
  | { state: 'mismatch' }
  | { state: 'replay', reply: StoredReply }

/** Idempotency keys, scoped per user. */
export interface IdempotencyStore {
  /**
   * Claims (user, key). New → 'new' (the caller must complete or abandon it); same fingerprint and
   * completed → 'replay'; same fingerprint still running → 'in_progress'; another fingerprint → 'mismatch'.
   * An in-flight claim older than inFlightTtlMs counts as abandoned.
   */
  claimIdempotency (user: string, key: string, fingerprint: string, ttlMs: number, inFlightTtlMs: number): Promise<IdempotencyClaim>
  completeIdempotency (user: string, key: string, reply: StoredReply): Promise<void>
  abandonIdempotency (user: string, key: string): Promise<void>
}
