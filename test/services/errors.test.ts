import OpenAI from 'openai'
import t from 'tap'
import { fromUpstream, isGatewayError, NotFound, withDetails } from '../../services/errors.ts'
import { toGatewayError, validationMessage } from '../../services/http-errors.ts'

const headers = (h: Record<string, string> = {}) => new Headers(h)
const apiError = (status: number, code: string | null = null, h: Record<string, string> = {}) =>
  OpenAI.APIError.generate(status, { error: { message: 'upstream text sk-should-not-leak', type: 'invalid_request_error', code, param: null } }, undefined, headers(h))

t.test('every openai SDK error maps to the contract', async t => {
  const cases: Array<[unknown, number, string]> = [
    [new OpenAI.APIConnectionTimeoutError(), 504, 'UPSTREAM_TIMEOUT'],
    [new OpenAI.APIUserAbortError(), 504, 'UPSTREAM_TIMEOUT'],
    [new OpenAI.APIConnectionError({ message: 'ECONNREFUSED' }), 503, 'UPSTREAM_UNAVAILABLE'],
    [apiError(429, 'rate_limit_exceeded', { 'retry-after': '12' }), 503, 'UPSTREAM_UNAVAILABLE'],
    [apiError(404), 404, 'NOT_FOUND'],
    [apiError(413), 413, 'PAYLOAD_TOO_LARGE'],
    [apiError(400, 'conversation_locked'), 409, 'THREAD_BUSY'],
    [apiError(400, 'context_length_exceeded'), 400, 'VALIDATION_FAILED'],
    [apiError(400, 'invalid_image_format'), 400, 'VALIDATION_FAILED'],
    [apiError(400, 'unsupported_file'), 400, 'VALIDATION_FAILED'],
    [apiError(400, 'something_else'), 502, 'UPSTREAM_ERROR'],
    [apiError(401, 'invalid_api_key'), 502, 'UPSTREAM_ERROR'],
    [apiError(500), 502, 'UPSTREAM_ERROR'],
    [apiError(503), 502, 'UPSTREAM_ERROR'],
    [new TypeError('terminated'), 502, 'UPSTREAM_ERROR']
  ]
  for (const [err, status, code] of cases) {
    const mapped = fromUpstream(err, 'Thread')
    t.equal(mapped.statusCode, status, `${(err as Error).constructor.name} ${(err as { status?: number }).status ?? ''} → ${status}`)
    t.equal(mapped.code, code)
    t.notMatch(mapped.message, /sk-should-not-leak/, 'upstream text never becomes our message')
    t.equal((mapped as { cause?: unknown }).cause, err, 'the original is kept for the log')
  }
  t.equal(fromUpstream(apiError(429, null, { 'retry-after': '12' })).retryAfterSeconds, 12)
  t.equal(fromUpstream(apiError(429, null, { 'retry-after': '900' })).retryAfterSeconds, 60, 'clamped')
  t.equal(fromUpstream(apiError(429)).retryAfterSeconds, 5, 'a default when none is given')
  t.equal(fromUpstream(apiError(404), 'Thread').message, 'Thread not found')
  const ours = new NotFound('x')
  t.equal(fromUpstream(ours), ours, 'catalogue errors pass through')
})

t.test('catalogue helpers', async t => {
  t.ok(isGatewayError(new NotFound('x')))
  t.notOk(isGatewayError(new Error('x')))
  t.notOk(isGatewayError(Object.assign(new Error('x'), { code: 'FST_SOMETHING', statusCode: 400 })))
  t.equal(withDetails(new NotFound('x'), { retryAfterSeconds: 3 }).retryAfterSeconds, 3)
})

t.test('validation messages name the field in the caller\'s terms', async t => {
  t.equal(validationMessage([]), 'body is invalid')
  t.equal(validationMessage([{ instancePath: '', keyword: 'required', params: { missingProperty: 'assistant_type' } }]), 'body.assistant_type is required')
  t.equal(validationMessage([{ instancePath: '/a/0', keyword: 'additionalProperties', params: { additionalProperty: 'x' } }], 'body'), 'body.a.0.x is not allowed')
  t.equal(validationMessage([{ instancePath: '/order', keyword: 'enum', params: { allowedValues: ['asc', 'desc'] } }], 'querystring'), 'querystring.order must be one of "asc", "desc"')
  t.equal(validationMessage([{ instancePath: '/limit', keyword: 'maximum', message: 'must be <= 100', params: {} }], 'querystring'), 'querystring.limit must be <= 100')
  t.equal(validationMessage([{ instancePath: '/x', keyword: 'type', params: {} }]), 'body.x is invalid')
})

t.test('framework errors become catalogue errors; unknown ones an opaque 500', async t => {
  const fastifyError = (code: string, statusCode: number, message = 'm') => Object.assign(new Error(message), { code, statusCode }) as never
  t.equal(toGatewayError(fastifyError('FST_ERR_CTP_BODY_TOO_LARGE', 413), 1024).message, 'Request body is larger than 1024 bytes')
  t.equal(toGatewayError(fastifyError('FST_ERR_CTP_EMPTY_JSON_BODY', 400), 1).code, 'VALIDATION_FAILED')
  t.equal(toGatewayError(fastifyError('FST_ERR_CTP_INVALID_JSON_BODY', 400), 1).code, 'VALIDATION_FAILED')
  t.equal(toGatewayError(fastifyError('FST_INVALID_MULTIPART_CONTENT_TYPE', 406), 1).code, 'UNSUPPORTED_MEDIA_TYPE')
  t.equal(toGatewayError(fastifyError('FST_FILES_LIMIT', 413, 'reach files limit'), 1).code, 'PAYLOAD_TOO_LARGE')
  t.equal(toGatewayError(fastifyError('X', 415), 1).code, 'UNSUPPORTED_MEDIA_TYPE')
  t.equal(toGatewayError(fastifyError('X', 503), 1).code, 'SERVICE_UNAVAILABLE')
  t.equal(toGatewayError(fastifyError('X', 418, 'teapot'), 1).code, 'VALIDATION_FAILED')
  const internal = toGatewayError(new Error('secret internals') as never, 1)
  t.same([internal.statusCode, internal.code, internal.message], [500, 'INTERNAL_ERROR', 'Internal Server Error'])
  t.equal(toGatewayError(apiError(500) as never, 1).code, 'UPSTREAM_ERROR')
})
