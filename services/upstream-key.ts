import OpenAI from 'openai'
import type { FastifyBaseLogger } from 'fastify'

/**
 * - `unchecked`: not asked yet (an app built without server.ts's start(), as the tests build it);
 * - `ok`: the upstream accepted the key;
 * - `refused`: the upstream answered 401 — the key is wrong or revoked, every upstream call will fail;
 * - `unverified`: the check could not tell (network error, timeout, 403, 404, 5xx).
 */
export type UpstreamKeyStatus = 'unchecked' | 'ok' | 'refused' | 'unverified'

/** A refused or unverified key is asked about again, in the background, at most this often. */
export const RECHECK_MS = 30_000
/** The check must not hold start-up for long when the upstream is unreachable. */
const CHECK_TIMEOUT_MS = 5000

export interface UpstreamKeyDeps {
  openai: OpenAI
  log: FastifyBaseLogger
  /** The upstream's base URL, for the log lines. */
  baseUrl: string
  timeoutMs: number
  clock?: () => number
}

/**
 * Whether the upstream accepts OPENAI_API_KEY, learnt with the cheapest authenticated call it offers:
 * `GET /files?limit=1` (OpenAI has no key introspection; listing one file costs nothing and reads no
 * conversation). Only a 401 says the key is wrong. A 403 (a restricted key without the Files
 * permission can still run responses), a 404 (an OpenAI-compatible upstream without /files), a 5xx or a
 * network error say nothing about the key: the gateway starts anyway and says so in the log.
 */
export function createUpstreamKeyCheck ({ openai, log, baseUrl, timeoutMs, clock = Date.now }: UpstreamKeyDeps) {
  let status: UpstreamKeyStatus = 'unchecked'
  let detail: string | null = null
  let checkedAt = 0
  let inFlight: Promise<UpstreamKeyStatus> | null = null
  const upstream = baseUrl.replace(/\/\/[^/@]*@/, '//')

  async function check (): Promise<UpstreamKeyStatus> {
    try {
      await openai.files.list({ limit: 1 }, { maxRetries: 0, timeout: Math.min(timeoutMs, CHECK_TIMEOUT_MS) })
      if (status !== 'ok') log.info({ upstream }, 'the upstream accepts OPENAI_API_KEY')
      status = 'ok'
      detail = null
    } catch (err) {
      if (err instanceof OpenAI.AuthenticationError) {
        detail = `401${err.code ? ` ${err.code}` : ''}`
        if (status !== 'refused') log.error({ upstream, status: 401, code: err.code }, `the upstream refuses OPENAI_API_KEY (${detail}): every run and upload will fail, and /health/ready answers 503`)
        status = 'refused'
      } else {
        detail = err instanceof OpenAI.APIError && err.status ? `answered ${err.status}` : (err as Error).message
        if (status !== 'unverified') log.warn({ upstream, reason: detail }, 'could not verify OPENAI_API_KEY with the upstream; going on')
        status = 'unverified'
      }
    } finally {
      checkedAt = clock()
    }
    return status
  }

  /** Asks the upstream now (one call at a time); never throws. */
  function verify (): Promise<UpstreamKeyStatus> {
    inFlight ??= check().finally(() => { inFlight = null })
    return inFlight
  }

  return {
    get status (): UpstreamKeyStatus { return status },
    /** What the upstream said when it refused or could not be asked; null otherwise. */
    get detail (): string | null { return detail },
    verify,
    /**
     * The status readiness reports. A refused or unverified key is asked about again in the background
     * when the last answer is older than RECHECK_MS, so a health probe never waits on the upstream and a
     * gateway whose key is accepted again becomes ready without a restart.
     */
    current (): UpstreamKeyStatus {
      if ((status === 'refused' || status === 'unverified') && !inFlight && clock() - checkedAt >= RECHECK_MS) verify()
      return status
    }
  }
}
export type UpstreamKeyCheck = ReturnType<typeof createUpstreamKeyCheck>
