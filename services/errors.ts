import createError, { type FastifyErrorConstructor } from '@fastify/error'
import OpenAI from 'openai'
import type { ErrorBody } from '../schemas/common.ts'

/**
 * The one error catalogue: every error the gateway answers with has a stable `code` from the contract.
 * Extra response fields (the run of RUN_FAILED) go in `body`; `retryAfterSeconds` becomes Retry-After;
 * `param` names the request field at fault (a service knows the field, the HTTP layer where it was sent);
 * `retry: false` says that this one refusal cannot be retried away, whatever its code (see `retryable`).
 */
export interface GatewayErrorFields {
  retryAfterSeconds?: number
  body?: Record<string, unknown>
  param?: string
  retry?: false
}
export type GatewayError = Error & GatewayErrorFields & { code: string, statusCode: number }

type Ctor = FastifyErrorConstructor<{ code: string, statusCode: number }, [string]>
const make = (code: string, status: number): Ctor => createError(code, '%s', status) as Ctor

export const ValidationFailed = make('VALIDATION_FAILED', 400)
export const Unauthorized = make('UNAUTHORIZED', 401)
export const Forbidden = make('FORBIDDEN', 403)
export const UserSuspended = make('USER_SUSPENDED', 403)
export const NotFound = make('NOT_FOUND', 404)
export const UploadTimeout = make('UPLOAD_TIMEOUT', 408)
export const ThreadBusy = make('THREAD_BUSY', 409)
export const IdempotencyInProgress = make('IDEMPOTENCY_IN_PROGRESS', 409)
/** A per-user cap on stored things (threads, files) is reached: 409 (the user's collection is full), until some are deleted. */
export const QuotaExceeded = make('QUOTA_EXCEEDED', 409)
export const PayloadTooLarge = make('PAYLOAD_TOO_LARGE', 413)
export const UnsupportedMediaType = make('UNSUPPORTED_MEDIA_TYPE', 415)
export const IdempotencyKeyReused = make('IDEMPOTENCY_KEY_REUSED', 422)
export const RateLimited = make('RATE_LIMITED', 429)
export const BudgetExceeded = make('BUDGET_EXCEEDED', 429)
export const TooManyActiveRuns = make('TOO_MANY_ACTIVE_RUNS', 429)
export const UpstreamError = make('UPSTREAM_ERROR', 502)
export const RunFailed = make('RUN_FAILED', 502)
export const UpstreamUnavailable = make('UPSTREAM_UNAVAILABLE', 503)
export const ServiceUnavailable = make('SERVICE_UNAVAILABLE', 503)
export const UpstreamTimeout = make('UPSTREAM_TIMEOUT', 504)
/**
 * The shared store (Redis) did not answer: down, failing over or too slow. Answered as 503
 * SERVICE_UNAVAILABLE like the others, but its own class, so a caller (the run driver) can tell
 * "try again later" from a failure of its own work.
 */
export const StoreUnavailable = make('SERVICE_UNAVAILABLE', 503)

export const ERROR_CODES = [
  'VALIDATION_FAILED', 'UNAUTHORIZED', 'FORBIDDEN', 'USER_SUSPENDED', 'NOT_FOUND', 'UPLOAD_TIMEOUT', 'THREAD_BUSY', 'IDEMPOTENCY_IN_PROGRESS', 'QUOTA_EXCEEDED',
  'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'IDEMPOTENCY_KEY_REUSED', 'RATE_LIMITED', 'BUDGET_EXCEEDED',
  'TOO_MANY_ACTIVE_RUNS', 'UPSTREAM_ERROR', 'RUN_FAILED', 'UPSTREAM_UNAVAILABLE', 'SERVICE_UNAVAILABLE',
  'UPSTREAM_TIMEOUT', 'INTERNAL_ERROR'
] as const
const catalogue = new Set<string>(ERROR_CODES)

export function isGatewayError (err: unknown): err is GatewayError {
  return err instanceof Error && typeof (err as GatewayError).code === 'string' && catalogue.has((err as GatewayError).code) &&
    typeof (err as GatewayError).statusCode === 'number'
}

/** Builds a catalogue error with optional Retry-After and extra body fields. */
export function withDetails<E extends Error> (err: E, fields: GatewayErrorFields & { cause?: unknown }): E & GatewayErrorFields {
  return Object.assign(err, fields)
}

export function storeUnavailable (cause: unknown): GatewayError {
  return withDetails(new StoreUnavailable('The gateway\'s store is not answering; retry shortly'), { retryAfterSeconds: 2, cause })
}

/** A request field a service refused: `problem` reads after the field's name ("must be at most 500"). */
export function invalidArgument (param: string, problem: string): GatewayError {
  return withDetails(new ValidationFailed(problem), { param })
}

/** OpenAI's error `type` for a status, so the official SDKs classify our errors as they do OpenAI's. */
function errorType (err: GatewayError): string {
  if (err.statusCode === 401) return 'authentication_error'
  if (err.statusCode === 403) return 'permission_error'
  if (err.code === 'BUDGET_EXCEEDED') return 'insufficient_quota'
  if (err.statusCode === 429) return 'rate_limit_error'
  if (err.statusCode >= 500) return 'server_error'
  return 'invalid_request_error'
}

/** The SDKs wait at most this long for a Retry-After before they back off on their own instead. */
const SDK_MAX_RETRY_WAIT_S = 60

/**
 * Whether a client retry can help within seconds. The official SDKs retry 408/409/429/5xx unless told
 * `x-should-retry: false`: a failed run would become a new run, a budget refusal until midnight a hang.
 */
export function retryable (err: GatewayError): boolean {
  if (err.retry === false) return false
  if (err.code === 'RUN_FAILED' || err.code === 'USER_SUSPENDED' || err.code === 'QUOTA_EXCEEDED') return false
  if (err.code === 'BUDGET_EXCEEDED') return (err.retryAfterSeconds ?? Infinity) < SDK_MAX_RETRY_WAIT_S
  // Beyond what the SDKs wait for, they retry on their own short backoff: into the same refusal.
  if (err.statusCode === 429 || err.statusCode === 503) return (err.retryAfterSeconds ?? 0) < SDK_MAX_RETRY_WAIT_S
  return true
}

/**
 * The contract's error body: `error` shaped as OpenAI's own (so the SDKs surface message, code, type
 * and param), the v1 fields beside it.
 */
export function errorBody (err: GatewayError, requestId: string): ErrorBody {
  return {
    ...err.body,
    error: { message: err.message, type: errorType(err), code: err.code, param: err.param ?? null },
    statusCode: err.statusCode,
    code: err.code,
    message: err.message,
    requestId
  }
}

/** The per-user cap on `things` (THREADS_MAX_PER_USER, FILES_MAX_PER_USER) is reached. */
export function quotaExceeded (things: 'threads' | 'files', max: number): GatewayError {
  return new QuotaExceeded(`Limit reached: a user may keep at most ${max} ${things}; delete some to make room`)
}

export function notFound (what: string): GatewayError {
  return new NotFound(`${what} not found`)
}

const UPSTREAM_RETRY_FALLBACK_S = 5

function retryAfterFrom (headers: Headers | undefined): number {
  const raw = headers?.get('retry-after')
  const seconds = raw === null || raw === undefined ? NaN : Number(raw)
  if (Number.isFinite(seconds) && seconds >= 0) return Math.min(Math.max(Math.ceil(seconds), 1), 60)
  return UPSTREAM_RETRY_FALLBACK_S
}

/**
 * Maps an error thrown by the openai SDK to the catalogue. Upstream bodies never reach the caller:
 * the message is ours, the original stays as `cause` for the log.
 */
export function fromUpstream (err: unknown, what = 'Resource'): GatewayError {
  if (isGatewayError(err)) return err
  if (err instanceof OpenAI.APIConnectionTimeoutError || err instanceof OpenAI.APIUserAbortError) {
    return withDetails(new UpstreamTimeout('OpenAI did not answer in time'), { cause: err, retryAfterSeconds: UPSTREAM_RETRY_FALLBACK_S })
  }
  if (err instanceof OpenAI.APIConnectionError) {
    return withDetails(new UpstreamUnavailable('OpenAI is unreachable'), { cause: err, retryAfterSeconds: UPSTREAM_RETRY_FALLBACK_S })
  }
  if (err instanceof OpenAI.APIError) {
    const status = err.status
    if (status === 429) {
      return withDetails(new UpstreamUnavailable('OpenAI is rate-limiting the gateway'), { cause: err, retryAfterSeconds: retryAfterFrom(err.headers) })
    }
    if (status === 404) return withDetails(notFound(what), { cause: err })
    if (status === 413) return withDetails(new PayloadTooLarge('OpenAI rejected the upload as too large'), { cause: err })
    if (status === 400 && err.code === 'conversation_locked') {
      return withDetails(new ThreadBusy('A run is active on this thread'), { cause: err, retryAfterSeconds: 2 })
    }
    if (status === 400 && err.code === 'context_length_exceeded') {
      return withDetails(new ValidationFailed('The thread is too long for the assistant\'s model'), { cause: err })
    }
    if (status === 400 && typeof err.code === 'string' && /^(invalid_image|image_|unsupported_image|invalid_file|unsupported_file)/.test(err.code)) {
      return withDetails(new ValidationFailed('OpenAI could not read an attached file'), { cause: err })
    }
    if (status !== undefined && status >= 500) {
      return withDetails(new UpstreamError('OpenAI failed to process the request'), { cause: err })
    }
    return withDetails(new UpstreamError('OpenAI rejected the request'), { cause: err })
  }
  return withDetails(new UpstreamError('OpenAI request failed'), { cause: err })
}
