import { createHash } from 'node:crypto'
import { Value } from 'typebox/value'
import { IdempotencyKeySchema } from '../schemas/common.ts'
import type { Config } from './config.ts'
import { IdempotencyInProgress, IdempotencyKeyReused, ValidationFailed } from './errors.ts'
import type { Store, StoredReply } from './store/types.ts'

/** What makes two requests the same request: route, params and body (key order ignored). */
export interface RequestShape { method: string, route: string, params: unknown, body: unknown }

function canonical (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical)
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map(k => [k, canonical((value as Record<string, unknown>)[k])]))
  }
  return value
}

export function fingerprint (request: RequestShape): string {
  return createHash('sha256')
    .update(JSON.stringify([request.method, request.route, request.params, canonical(request.body ?? null)]))
    .digest('base64url')
}

/**
 * Idempotency-Key, in one place: the key's rule, the request's fingerprint and the claim in the store.
 * The first successful answer is kept per user and key and replayed for a retry of the same request;
 * another request with the key is 422, a retry while the first runs 409. Failures are not kept, so a
 * retry after an error is attempted again.
 */
export function createIdempotency ({ store, config }: { store: Store, config: Config }) {
  const ttlMs = config.IDEMPOTENCY_TTL_SECONDS * 1000
  // A crashed request's claim must not block retries forever; no request legitimately runs this long.
  const inFlightTtlMs = Math.max(config.RUN_WAIT_TIMEOUT_MS, config.UPLOAD_TIMEOUT_MS, config.REQUEST_TIMEOUT_MS) + 60_000

  return {
    /** The key of an Idempotency-Key header, or null when there is none; a malformed one is a 400. */
    keyOf (header: string | string[] | undefined): string | null {
      if (header === undefined) return null
      const key = Array.isArray(header) ? header[0] : header
      if (!Value.Check(IdempotencyKeySchema, key)) throw new ValidationFailed('headers.idempotency-key must be 1-255 visible ASCII characters without spaces')
      return key
    },

    /** Claims the key for this request: null to go ahead (then complete or abandon it), or the answer to replay. */
    async claim (user: string, key: string, request: RequestShape): Promise<StoredReply | null> {
      const claim = await store.claimIdempotency(user, key, fingerprint(request), ttlMs, inFlightTtlMs)
      switch (claim.state) {
        case 'new': return null
        case 'replay': return claim.reply
        case 'in_progress': throw new IdempotencyInProgress('A request with this Idempotency-Key is still being processed')
        case 'mismatch': throw new IdempotencyKeyReused('This Idempotency-Key was used with a different request')
      }
    },

    complete: (user: string, key: string, reply: StoredReply) => store.completeIdempotency(user, key, reply),
    abandon: (user: string, key: string) => store.abandonIdempotency(user, key)
  }
}
export type Idempotency = ReturnType<typeof createIdempotency>
