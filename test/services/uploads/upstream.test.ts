import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import OpenAI from 'openai'
import t from 'tap'
import { isRetryable, retryDelayMs, uploadRequestOptions, withUploadRetries } from '../../../services/uploads/upstream.ts'

const apiError = (status: number, headers: Record<string, string> = {}) =>
  OpenAI.APIError.generate(status, { message: 'x' }, 'x', new Headers(headers))

t.test('retried like the SDK would: connection errors, timeouts, 408/409/429/5xx', async t => {
  t.ok(isRetryable(new OpenAI.APIConnectionError({ message: 'refused' })))
  t.ok(isRetryable(new OpenAI.APIConnectionTimeoutError()))
  for (const status of [408, 409, 429, 500, 503]) t.ok(isRetryable(apiError(status)), String(status))
  for (const status of [400, 401, 404, 413, 422]) t.notOk(isRetryable(apiError(status)), String(status))
  t.ok(isRetryable(apiError(400, { 'x-should-retry': 'true' })))
  t.notOk(isRetryable(apiError(503, { 'x-should-retry': 'false' })))
  t.notOk(isRetryable(new OpenAI.APIUserAbortError()))
  t.notOk(isRetryable(new Error('ENOENT')))
})

t.test('the delay follows Retry-After within reason, else backs off', async t => {
  t.equal(retryDelayMs(apiError(429, { 'retry-after-ms': '250' }), 0), 250)
  t.equal(retryDelayMs(apiError(429, { 'retry-after': '2' }), 0), 2000)
  const date = new Date(Date.now() + 3000).toUTCString()
  t.ok(retryDelayMs(apiError(503, { 'retry-after': date }), 0) <= 3000)
  const ignored = retryDelayMs(apiError(429, { 'retry-after': '3600' }), 0)
  t.ok(ignored >= 375 && ignored <= 500, 'an hour is not waited for')
  const third = retryDelayMs(new OpenAI.APIConnectionError({ message: 'x' }), 2)
  t.ok(third >= 1500 && third <= 2000)
  t.ok(retryDelayMs(new Error('x'), 10) <= 8000, 'capped at 8 s')
})

t.test('withUploadRetries sends again, at most OPENAI_MAX_RETRIES times, only when it may', async t => {
  let calls = 0
  const flaky = async () => {
    calls++
    if (calls < 3) throw apiError(503, { 'retry-after-ms': '1' })
    return 'ok'
  }
  t.equal(await withUploadRetries({ OPENAI_MAX_RETRIES: 2 }, flaky), 'ok')
  t.equal(calls, 3)
  calls = 0
  t.ok(await withUploadRetries({ OPENAI_MAX_RETRIES: 1 }, flaky).catch((err: unknown) => err) instanceof OpenAI.InternalServerError)
  t.equal(calls, 2)
  calls = 0
  t.ok(await withUploadRetries({ OPENAI_MAX_RETRIES: 5 }, async () => { calls++; throw apiError(400) }).catch((err: unknown) => err) instanceof OpenAI.BadRequestError)
  t.equal(calls, 1, 'a 400 is not retried')
})

t.test('the per-attempt timeout grows with the upload; redirects are refused so the body streams', async t => {
  t.same(uploadRequestOptions({ OPENAI_TIMEOUT_MS: 30_000 }, 1), { timeout: 31_000, maxRetries: 0, fetchOptions: { redirect: 'error' } })
  t.equal(uploadRequestOptions({ OPENAI_TIMEOUT_MS: 30_000 }, 25 * 1024 * 1024).timeout, 130_000)
})

t.test('memory stays flat while a large file goes to a slow upstream', async t => {
  const script = join(import.meta.dirname, '..', '..', 'fixtures', 'upload-memory.ts')
  // A child of its own: forced GCs, and none of the test runner's instrumentation.
  const env = { ...process.env, NODE_OPTIONS: '' }
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', script, '64'], { timeout: 60_000, env })
  const { size, received, peak, gc } = JSON.parse(stdout) as { size: number, received: number, peak: number, gc: boolean }
  t.ok(gc, 'measured with forced GCs')
  t.ok(received > size, 'the whole file was sent')
  t.ok(peak < size / 2, `peak Buffer memory ${Math.round(peak / 1024 / 1024)} MiB for a ${size / 1024 / 1024} MiB file`)
})
