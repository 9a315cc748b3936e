import t from 'tap'
import OpenAI, { toFile } from 'openai'
import { API_KEY, failure, setup, wav } from './helpers.ts'

interface ErrorEnvelope {
  error: { message: string, type: string, param: string | null, code: string | null }
}

t.test('authentication', async (t) => {
  const { sim, openai } = await setup(t, { apiKey: [API_KEY, 'sk-second'] })

  const wrong = new OpenAI({ apiKey: 'sk-wrong-key-1234', baseURL: sim.url, maxRetries: 0 })
  const error = await failure(wrong.conversations.create())
  t.type(error, OpenAI.AuthenticationError)
  t.match(error, { status: 401, code: 'invalid_api_key', type: 'invalid_request_error', message: /Incorrect API key provided: sk-\*+1234/ })

  const missing = await fetch(`${sim.url}/conversations`, { method: 'POST' })
  t.equal(missing.status, 401)
  t.match(await missing.json(), { error: { code: 'invalid_api_key', message: /didn't provide an API key/ } })
  t.match(missing.headers.get('x-request-id'), /^req_/)

  const second = new OpenAI({ apiKey: 'sk-second', baseURL: sim.url, maxRetries: 0 })
  t.match((await second.conversations.create()).id, /^conv_/, 'every configured key is accepted')
  t.match((await openai.conversations.create()).id, /^conv_/)
})

t.test('the OpenAPI validator', async (t) => {
  const { sim, openai } = await setup(t)
  const headers = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }
  const post = (path: string, body: string) => fetch(`${sim.url}${path}`, { method: 'POST', headers, body })

  t.test('rejects a nonconforming JSON body and records it', async (t) => {
    const res = await post('/responses', JSON.stringify({ model: 'gpt-4.1', input: 42 }))
    t.equal(res.status, 400)
    const body = await res.json() as ErrorEnvelope
    t.match(body.error, {
      type: 'invalid_request_error',
      code: 'schema_validation_failed',
      param: 'input',
      message: /^Request does not conform to the OpenAPI schema: body 'input' /
    })
    const recorded = sim.nonconforming()
    t.equal(recorded.length, 1)
    t.match(recorded[0], { route: 'POST /v1/responses', method: 'POST', path: '/v1/responses' })
    t.ok(recorded[0].errors.length > 0)
    t.equal(sim.stats().responses.total, 0, 'the request did not reach the handler')
  })

  t.test('names the deepest failing parameter', async (t) => {
    const temperature = await (await post('/responses', JSON.stringify({ model: 'gpt-4.1', input: 'x', temperature: 'hot' }))).json() as ErrorEnvelope
    t.equal(temperature.error.param, 'temperature')
    const item = await (await post('/responses', JSON.stringify({ model: 'gpt-4.1', input: [{ role: 'user', content: 5 }] }))).json() as ErrorEnvelope
    t.equal(item.error.param, 'input[0].content')
    const tooMany = await (await post('/responses', JSON.stringify({ model: 'gpt-4.1', input: 'x', max_output_tokens: 3 }))).json() as ErrorEnvelope
    t.match(tooMany.error, { param: 'max_output_tokens', message: />= 16/ })
  })

  t.test('query parameters, missing bodies and bad JSON', async (t) => {
    const conv = await openai.conversations.create()
    const limit = await fetch(`${sim.url}/conversations/${conv.id}/items?limit=abc`, { headers })
    t.equal(limit.status, 400)
    t.match(await limit.json(), { error: { code: 'schema_validation_failed', param: 'limit' } })
    const order = await fetch(`${sim.url}/conversations/${conv.id}/items?order=sideways`, { headers })
    t.match(await order.json(), { error: { code: 'schema_validation_failed', param: 'order' } })
    const noBody = await fetch(`${sim.url}/conversations/${conv.id}`, { method: 'POST', headers: { authorization: headers.authorization } })
    t.match(await noBody.json(), { error: { code: 'schema_validation_failed' } })
    const badJson = await post('/conversations', '{"metadata":')
    t.equal(badJson.status, 400)
    t.match(await badJson.json(), { error: { message: /could not parse the JSON body/ } })
    const tooManyItems = await post(`/conversations/${conv.id}/items`, JSON.stringify({ items: Array.from({ length: 21 }, () => ({ role: 'user', content: 'x' })) }))
    t.match(await tooManyItems.json(), { error: { code: 'schema_validation_failed', param: 'items' } })
  })

  t.test('multipart fields are validated too', async (t) => {
    const form = new FormData()
    form.append('file', new Blob([new Uint8Array(wav(0.1))], { type: 'audio/wav' }), 'a.wav')
    form.append('response_format', 'yaml')
    const res = await fetch(`${sim.url}/audio/transcriptions`, { method: 'POST', headers: { authorization: headers.authorization }, body: form })
    t.equal(res.status, 400)
    const body = await res.json() as ErrorEnvelope
    t.equal(body.error.code, 'schema_validation_failed')
    const purpose = await failure(openai.files.create({ file: await toFile(Buffer.from('x'), 'x.txt'), purpose: 'nonsense' as never }))
    t.match(purpose, { status: 400, code: 'schema_validation_failed', param: 'purpose' })
    const json = await post('/files', JSON.stringify({ purpose: 'user_data' }))
    t.match(await json.json(), { error: { code: 'schema_validation_failed' } }, 'JSON where a form is expected')
  })

  t.test('unknown URLs are 404s like OpenAI\'s', async (t) => {
    const res = await fetch(`${sim.url}/assistants`, { headers })
    t.equal(res.status, 404)
    t.match(await res.json(), { error: { message: 'Invalid URL (GET /v1/assistants)' } })
    const method = await fetch(`${sim.url}/conversations`, { headers })
    t.equal(method.status, 404, 'no conversation list, like the real API')
    t.ok(sim.counters().unmatched >= 2)
  })

  t.test('everything recorded is listed, and validation can be switched off', async (t) => {
    t.equal(sim.nonconforming().length, 12)
    t.equal(sim.stats().nonconforming.count, 12)
    sim.configure({ validate: false })
    t.teardown(() => sim.configure({ validate: true }))
    const res = await post('/conversations', JSON.stringify({ metadata: { n: 1 } }))
    t.equal(res.status, 200, 'without validation the handler takes it as it is')
    t.equal(sim.nonconforming().length, 12)
  })
})
