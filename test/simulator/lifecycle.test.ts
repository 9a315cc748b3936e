import t from 'tap'
import OpenAI from 'openai'
import { startSimulator } from '../../simulator/index.ts'
import { API_KEY, failure } from './helpers.ts'
import { until } from '../helpers/until.ts'

t.test('close() ends open streams and hanging requests and clears every timer', async (t) => {
  const sim = await startSimulator({ generationMs: 10_000, queueMs: 10, latency: { fixedMs: 0, jitterMs: 0 }, precompile: true })
  const openai = new OpenAI({ apiKey: API_KEY, baseURL: sim.url, maxRetries: 0, timeout: 30_000 })

  const stream = await openai.responses.create({ model: 'gpt-4.1', input: 'long', background: true, stream: true })
  const streamed: string[] = []
  const streaming = failure((async () => { for await (const e of stream) streamed.push(e.type) })())
  const background = await openai.responses.create({ model: 'gpt-4.1', input: 'waiting', background: true })
  sim.faults.add({ route: 'GET /v1/conversations/{conversation_id}', kind: 'hang' })
  const hanging = failure(openai.conversations.retrieve('conv_x'))
  const sync = failure(openai.responses.create({ model: 'gpt-4.1', input: 'sync, never finishes' }))
  await until(() => sim.stats().hanging >= 1 && streamed.length >= 2 && sim.stats().responses.active >= 3, { message: 'a hanging request, an open stream and three active responses' })
  t.equal(sim.stats().hanging, 1)
  t.equal(sim.stats().responses.active, 3)
  t.ok(sim.stats().timers > 0)

  await sim.close()
  t.equal(sim.stats().timers, 0, 'no simulator timer survives close()')
  t.type(await hanging, OpenAI.APIConnectionError, 'the hung request is cut')
  t.ok(await sync, 'the synchronous request is cut')
  t.ok(await streaming, 'the open stream is cut')
  t.equal(background.status, 'queued')
})

t.test('starts on a free port and on a chosen one', async (t) => {
  const first = await startSimulator()
  t.teardown(() => first.close())
  t.match(first.url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/)
  t.equal(first.origin + '/v1', first.url)
  const taken = await failure(startSimulator({ port: first.port }))
  t.match(taken, { code: 'EADDRINUSE' })
})
