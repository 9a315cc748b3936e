import { LRUCache } from 'lru-cache'

/** At most this many tokens are remembered (an SPA user sends one token with every request). */
const MAX_TOKENS = 10_000
/** A remembered token is verified again after this long, whatever its expiry. */
const TTL_MS = 60_000

/**
 * Bearer tokens that passed verification, with the caller each identifies, so the next request with
 * the same token skips @fastify/jwt's per-request work (option merging, decoding, the verifier: about
 * 40 µs of a proxied read that costs well under a millisecond, even with fast-jwt's own token cache).
 * Only the exact string that verified is remembered; an entry is used only until the token expires
 * (`exp` plus the clock tolerance, as the verifier allows) and for at most a minute after it verified,
 * so a token signed by a JWKS key that was withdrawn stops being honoured within a minute of the JWKS
 * cache's next refresh (fast-jwt's cache, used before this, added ten minutes to that refresh).
 */
export function createVerifiedTokens<T extends object> (options: { clockToleranceMs: number, now?: () => number }) {
  const now = options.now ?? Date.now
  const tokens = new LRUCache<string, { value: T, expiresAtMs: number }>({ max: MAX_TOKENS, ttl: TTL_MS, ttlResolution: 0, perf: { now } })

  return {
    /** What was remembered for this exact token, while the token is still unexpired. */
    get (token: string): T | undefined {
      const entry = tokens.get(token)
      if (!entry) return undefined
      if (entry.expiresAtMs <= now()) {
        tokens.delete(token)
        return undefined
      }
      return entry.value
    },
    /** Remembers a token that just verified; `exp` is its claim (seconds), without which nothing is kept. */
    set (token: string, exp: unknown, value: T) {
      if (typeof exp !== 'number' || !Number.isFinite(exp)) return
      tokens.set(token, { value, expiresAtMs: exp * 1000 + options.clockToleranceMs })
    }
  }
}
