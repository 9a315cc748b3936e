import { createReadStream } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import OpenAI, { toStreamingFile } from 'openai'
import type { Config } from '../config.ts'
import type { ReceivedUpload } from './spool.ts'

/** Slow-link allowance on top of OPENAI_TIMEOUT_MS: one second per 256 KiB sent (a 25 MiB file gets 100 s more). */
const BYTES_PER_EXTRA_SECOND = 256 * 1024
const RETRY_AFTER_MAX_MS = 60_000

/**
 * The spooled file as a streamed multipart part: read from disk as the request is sent, with
 * backpressure, so memory does not grow with the file. (A disk-backed Blob in a FormData would be
 * retried by the SDK, but undici reads such a body without backpressure and, when the server answers
 * before reading it all, rejects unhandled: "ReadableStream is already closed".)
 */
export function upstreamFile (upload: Pick<ReceivedUpload, 'path' | 'filename' | 'type'>) {
  return toStreamingFile(readLazily(upload.path), upload.filename, { type: upload.type.mime })
}

/** Opens the file only once the body is read, so an attempt that fails before sending holds no descriptor. */
async function * readLazily (path: string): AsyncGenerator<Buffer> {
  yield * createReadStream(path)
}

export interface UploadRequestOptions {
  timeout: number
  maxRetries: 0
  fetchOptions: { redirect: 'error' }
}

export function uploadRequestOptions (config: Pick<Config, 'OPENAI_TIMEOUT_MS'>, bytes: number): UploadRequestOptions {
  return {
    timeout: config.OPENAI_TIMEOUT_MS + Math.ceil(bytes / BYTES_PER_EXTRA_SECOND) * 1000,
    // A streamed body is never retried by the SDK; withUploadRetries re-reads the file instead.
    maxRetries: 0,
    // undici's fetch tees a request body it might have to replay on a redirect, which keeps a copy of
    // everything sent in memory; refusing redirects lets it stream the file.
    fetchOptions: { redirect: 'error' }
  }
}

/** The SDK's own rule: connection errors and timeouts, 408, 409, 429 and 5xx, unless x-should-retry says otherwise. */
export function isRetryable (err: unknown): boolean {
  if (err instanceof OpenAI.APIUserAbortError) return false
  if (err instanceof OpenAI.APIConnectionError) return true
  if (!(err instanceof OpenAI.APIError) || err.status === undefined) return false
  const hint = err.headers?.get('x-should-retry')
  if (hint === 'true' || hint === 'false') return hint === 'true'
  return err.status === 408 || err.status === 409 || err.status === 429 || err.status >= 500
}

/** Retry-After(-Ms) when the upstream gives a sane one, else exponential backoff from 0.5 s to 8 s with jitter. */
export function retryDelayMs (err: unknown, attempt: number): number {
  const headers = err instanceof OpenAI.APIError ? err.headers : undefined
  const ms = Number(headers?.get('retry-after-ms') ?? NaN)
  if (Number.isFinite(ms) && ms >= 0 && ms <= RETRY_AFTER_MAX_MS) return ms
  const raw = headers?.get('retry-after')
  if (raw) {
    const seconds = Number(raw)
    const wait = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(raw) - Date.now()
    if (Number.isFinite(wait) && wait >= 0 && wait <= RETRY_AFTER_MAX_MS) return wait
  }
  return Math.min(500 * 2 ** attempt, 8000) * (1 - Math.random() * 0.25)
}

/**
 * Runs `send` (which opens the spooled file afresh each time) and retries it like the SDK would,
 * at most OPENAI_MAX_RETRIES times: the spool is what makes a failed upload repeatable.
 */
export async function withUploadRetries<T> (config: Pick<Config, 'OPENAI_MAX_RETRIES'>, send: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await send()
    } catch (err) {
      if (attempt >= config.OPENAI_MAX_RETRIES || !isRetryable(err)) throw err
      await sleep(retryDelayMs(err, attempt))
    }
  }
}
