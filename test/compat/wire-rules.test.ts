import t from 'tap'
import { userToken } from '../helpers/tokens.ts'
import { text } from '../fixtures/samples.ts'
import { startCompat, type CompatGateway } from './gateway.ts'

/**
 * The wire rules of contract v2 that the SDK relies on, checked on raw requests so a failure names the rule
 * rather than an SDK symptom: the error envelope, empty JSON bodies, OpenAI-Beta semantics for failed runs,
 * assistant_id next to assistant_type.
 */

const token = userToken('wire-user')

async function call (gateway: CompatGateway, method: string, path: string, options: { body?: unknown, headers?: Record<string, string>, rawBody?: string } = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...options.headers }
  let body: string | undefined = options.rawBody
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json'
    body = JSON.stringify(options.body)
  }
  const res = await fetch(`${gateway.baseURL}${path}`, { method, headers, body, signal: AbortSignal.timeout(30_000) })
  return { status: res.status, headers: res.headers, body: await res.json() as Record<string, any> }
}

async function thread (gateway: CompatGateway, content: string): Promise<string> {
  return (await call(gateway, 'POST', '/threads', { body: { messages: [{ role: 'user', content }] } })).body.id
}

t.test('the error envelope: an OpenAI-shaped error object plus v1\'s top-level fields', async t => {
  const gateway = await startCompat(t)
  const notFound = await call(gateway, 'GET', '/threads/conv_nope', { headers: { 'x-request-id': 'spa-req-0001' } })
  t.equal(notFound.status, 404)
  t.same(notFound.body, {
    error: { message: 'Thread not found', type: 'invalid_request_error', code: 'NOT_FOUND', param: null },
    statusCode: 404,
    code: 'NOT_FOUND',
    message: 'Thread not found',
    requestId: 'spa-req-0001'
  })
  t.equal(notFound.headers.get('x-request-id'), 'spa-req-0001', 'the caller\'s sane request id is kept')

  const invalid = await call(gateway, 'POST', `/threads/${await thread(gateway, 'hi')}/messages`, { body: { content: '' } })
  t.equal(invalid.status, 400)
  t.match(invalid.body, { error: { type: 'invalid_request_error', code: 'VALIDATION_FAILED', param: 'content', message: /content/ }, statusCode: 400, code: 'VALIDATION_FAILED' })
  t.equal(invalid.body.requestId, invalid.headers.get('x-request-id'))

  const noToken = await fetch(`${gateway.baseURL}/threads`)
  t.equal(noToken.status, 401)
  t.match(await noToken.json(), { error: { type: 'authentication_error', code: 'UNAUTHORIZED' }, code: 'UNAUTHORIZED' })
  t.same(gateway.sim.nonconforming(), [])
})

t.test('Content-Type: application/json with an empty body is a request without a body (DELETE, cancel)', async t => {
  const gateway = await startCompat(t, { env: { RUN_WAIT_TIMEOUT_MS: '100' } })
  const json = { 'content-type': 'application/json' }
  const slow = await thread(gateway, 'Slowly [slow:10000]')
  const run = await call(gateway, 'POST', `/threads/${slow}/runs`, { body: { assistant_type: 'mentor' } })
  t.equal(run.status, 202)
  const cancelled = await call(gateway, 'POST', `/threads/${slow}/runs/${run.body.id}/cancel`, { headers: json, rawBody: '' })
  t.equal(cancelled.status, 200, 'cancel')
  t.ok(['cancelling', 'cancelled'].includes(cancelled.body.status))

  const doomed = await thread(gateway, 'delete me')
  const deleted = await call(gateway, 'DELETE', `/threads/${doomed}`, { headers: json, rawBody: '' })
  t.equal(deleted.status, 200, 'thread DELETE')
  t.same(deleted.body, { id: doomed, object: 'thread.deleted', deleted: true })

  const form = new FormData()
  form.append('file', new Blob([text.plain()]), 'notes.txt')
  const file = await (await fetch(`${gateway.baseURL}/files`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form })).json() as { id: string }
  const fileDeleted = await call(gateway, 'DELETE', `/files/${file.id}`, { headers: json, rawBody: '' })
  t.equal(fileDeleted.status, 200, 'file DELETE')
  t.same(gateway.sim.nonconforming(), [])
})

t.test('a failed run: 200 with the failed run under OpenAI-Beta: assistants=v2, v1\'s 502 RUN_FAILED without; never retried, one upstream response each', async t => {
  const gateway = await startCompat(t)
  const upstream = () => gateway.sim.counters()['POST /v1/responses'] ?? 0

  // wait: true, which an SDK caller passes to have the run's end in one request (without it the answer is at once).
  const v2 = await call(gateway, 'POST', `/threads/${await thread(gateway, 'Break [fail]')}/runs`, { body: { assistant_type: 'mentor', wait: true }, headers: { 'openai-beta': 'assistants=v2' } })
  t.equal(v2.status, 200, 'Assistants semantics: the run, not an error')
  t.match(v2.body, { object: 'thread.run', status: 'failed', last_error: { code: String, message: String } })
  t.equal(upstream(), 1)

  const v1 = await call(gateway, 'POST', `/threads/${await thread(gateway, 'Break again [fail]')}/runs`, { body: { assistant_type: 'mentor' } })
  t.equal(v1.status, 502, 'v1 clients keep their 502')
  t.match(v1.body, { code: 'RUN_FAILED', error: { code: 'RUN_FAILED', type: 'server_error' }, run: { status: 'failed' } })
  t.equal(v1.headers.get('x-should-retry'), 'false', 'and the SDKs are told not to retry it')
  t.equal(upstream(), 2)
  t.same(gateway.sim.nonconforming(), [])
})

t.test('assistant_id and assistant_type: the same value space; both and different is a 400 naming assistant_id', async t => {
  const gateway = await startCompat(t)
  const threadId = await thread(gateway, 'hello')
  const both = await call(gateway, 'POST', `/threads/${threadId}/runs`, { body: { assistant_id: 'mentor', assistant_type: 'mentor' } })
  t.equal(both.status, 200, 'both, equal')
  t.match(both.body, { assistant_id: 'mentor', assistant_type: 'mentor', status: 'completed' }, 'objects carry both')

  const clash = await call(gateway, 'POST', `/threads/${threadId}/runs`, { body: { assistant_id: 'mentor', assistant_type: 'curator' } })
  t.equal(clash.status, 400)
  t.match(clash.body, { code: 'VALIDATION_FAILED', error: { param: 'assistant_id' } })

  const unknown = await call(gateway, 'POST', `/threads/${threadId}/runs`, { body: { assistant_id: 'asst_unknown' } })
  t.equal(unknown.status, 400)
  t.match(unknown.body, { error: { param: 'assistant_id' } })

  const neither = await call(gateway, 'POST', `/threads/${threadId}/runs`, { body: { temperature: 0.4 } })
  t.equal(neither.status, 400)
  t.ok(['assistant_id', 'assistant_type'].includes(neither.body.error?.param), `neither: a 400 naming one of them (${neither.body.error?.param})`)
  t.same(gateway.sim.nonconforming(), [])
})

t.test('run reads carry openai-poll-after-ms: a 202 and a plain GET of a running run, short enough for runs.poll', async t => {
  const gateway = await startCompat(t, { env: { RUN_WAIT_TIMEOUT_MS: '100' } })
  const threadId = await thread(gateway, 'Slowly [slow:3000]')
  const accepted = await call(gateway, 'POST', `/threads/${threadId}/runs`, { body: { assistant_type: 'mentor' } })
  t.equal(accepted.status, 202)
  const onAccepted = Number(accepted.headers.get('openai-poll-after-ms'))
  t.ok(onAccepted > 0 && onAccepted <= 100, `the 202 (${accepted.headers.get('openai-poll-after-ms')})`)
  const read = await call(gateway, 'GET', `/threads/${threadId}/runs/${accepted.body.id}`)
  t.ok(['queued', 'in_progress'].includes(read.body.status), 'read while running')
  const onRead = Number(read.headers.get('openai-poll-after-ms'))
  t.ok(onRead > 0 && onRead <= 100, `the GET (${read.headers.get('openai-poll-after-ms')})`)
  await call(gateway, 'POST', `/threads/${threadId}/runs/${accepted.body.id}/cancel`)
  t.same(gateway.sim.nonconforming(), [])
})

t.test('a rate limit whose reset is a minute away says x-should-retry: false (the SDK would otherwise sit on the call for that minute)', async t => {
  const gateway = await startCompat(t, { env: { RATE_LIMIT_MAX: '2' } })
  for (let i = 0; i < 2; i++) t.equal((await call(gateway, 'GET', '/threads')).status, 200)
  const limited = await call(gateway, 'GET', '/threads')
  t.equal(limited.status, 429)
  t.match(limited.body, { code: 'RATE_LIMITED', error: { type: 'rate_limit_error', code: 'RATE_LIMITED' } })
  const retryAfter = Number(limited.headers.get('retry-after'))
  t.ok(retryAfter > 10, `Retry-After is most of the window (${retryAfter} s)`)
  t.equal(limited.headers.get('x-should-retry'), 'false', 'x-should-retry: false')
  t.same(gateway.sim.nonconforming(), [])
})
