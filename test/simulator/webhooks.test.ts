import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import OpenAI from 'openai'
import type { UnwrapWebhookEvent } from 'openai/resources/webhooks/webhooks'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import { API_KEY, failure, poll, setup } from './helpers.ts'
import { until } from '../helpers/until.ts'

const SECRET = `whsec_${randomBytes(32).toString('base64')}`
const SPEC = new URL('../../../shared/openai/openapi.json', import.meta.url)

interface Received { body: string, headers: IncomingHttpHeaders }

/** A webhook endpoint that records what arrives; `answer(n)` is the status of the n-th request (1-based) or 'hang'. */
async function receiver (t: Test, answer: (n: number) => number | 'hang' = () => 200) {
  const received: Received[] = []
  const held = new Set<ServerResponse>()
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers })
      const status = answer(received.length)
      if (status === 'hang') held.add(res)
      else res.writeHead(status, { 'content-type': 'text/plain' }).end('ok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    for (const res of held) res.destroy()
    server.closeAllConnections()
    server.close(() => resolve())
  }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/openai`, received }
}

/** The spec's schema of a webhook event (under `webhooks` in openapi.json), or null where there is none. */
function webhookValidator () {
  if (!existsSync(SPEC)) return null
  const spec = JSON.parse(readFileSync(SPEC, 'utf8')) as { webhooks: Record<string, { post: { requestBody: { content: Record<string, { schema: { $ref: string } }> } } }>, components: { schemas: Record<string, object> } }
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  addFormats.default(ajv)
  ajv.addFormat('unixtime', { type: 'number', validate: () => true })
  return (event: { type: string }) => {
    const hook = spec.webhooks[event.type.replace('.', '_')]
    if (!hook) return `no schema for ${event.type}`
    const name = hook.post.requestBody.content['application/json'].schema.$ref.split('/').at(-1) as string
    const validate = ajv.compile(spec.components.schemas[name])
    return validate(event) ? null : validate.errors
  }
}

t.test('OpenAI webhooks from the simulator', async (t) => {
  const endpoint = await receiver(t)
  const fast = { maxAttempts: 4, backoffMs: 5, maxBackoffMs: 20, timeoutMs: 2000 }
  const { sim, openai } = await setup(t, { webhooks: { url: endpoint.url, secret: SECRET, ...fast } }, { webhookSecret: SECRET })
  const conforms = webhookValidator()
  const background = (input: string) => openai.responses.create({ model: 'gpt-4.1', input, background: true })
  /** Waits for the webhook whose data.id is `id` and returns it verified by the SDK. */
  const delivered = async (id: string, from: Received[] = endpoint.received) => {
    const hit = await until(() => from.find((r) => (JSON.parse(r.body) as { data: { id: string } }).data.id === id), { message: `a webhook for ${id}` })
    return { hit, event: await openai.webhooks.unwrap(hit.body, hit.headers as Record<string, string>) }
  }

  t.test('a background response that ends sends response.<status>, signed as Standard Webhooks', async (t) => {
    const created = await background('Hello')
    const { hit, event } = await delivered(created.id)
    t.match(hit.headers, {
      'content-type': 'application/json',
      'webhook-id': /^wh_[0-9a-f]{32}$/,
      'webhook-timestamp': /^\d{10}$/,
      'webhook-signature': /^v1,[A-Za-z0-9+/]{43}=$/
    })
    t.ok(Math.abs(Number(hit.headers['webhook-timestamp']) - Date.now() / 1000) < 60, 'the timestamp is now')
    t.same(Object.keys(event).sort(), ['created_at', 'data', 'id', 'object', 'type'])
    t.match(event, { id: /^evt_[0-9a-f]{32}$/, object: 'event', type: 'response.completed', created_at: Number, data: { id: created.id } })
    t.same(event.data, { id: created.id }, 'thin payload: fetch the response for the rest')
    t.equal((await openai.responses.retrieve(created.id)).status, 'completed', 'the response is final when its webhook arrives')
    if (conforms) t.equal(conforms(event), null, 'the event conforms to the spec\'s webhook schema')
    const typed: UnwrapWebhookEvent = event
    t.ok(typed)
  })

  t.test('failed, incomplete and cancelled, each with the spec\'s schema', async (t) => {
    const failed = await background('[fail]')
    const incomplete = await background('[incomplete]')
    const stuck = await background('[stuck]')
    await openai.responses.cancel(stuck.id)
    const seen = await Promise.all([failed, incomplete, stuck].map(async (r) => (await delivered(r.id)).event))
    t.same(seen.map((e) => e.type), ['response.failed', 'response.incomplete', 'response.cancelled'])
    if (conforms) for (const event of seen) t.equal(conforms(event), null, `${event.type} conforms`)
  })

  t.test('no webhook for synchronous or streamed-only responses', async (t) => {
    const before = sim.webhooks.stats().events
    const sync = await openai.responses.create({ model: 'gpt-4.1', input: 'sync' })
    const stream = await openai.responses.create({ model: 'gpt-4.1', input: 'streamed', stream: true })
    for await (const _ of stream) { /* drain */ }
    const marker = await background('marker')
    await delivered(marker.id)
    t.equal(sim.webhooks.stats().events, before + 1, 'only the background response raised an event')
    t.notOk(endpoint.received.some((r) => r.body.includes(sync.id)))
  })

  t.test('the body the SDK verifies is the body sent: a changed byte or another secret fails', async (t) => {
    const created = await background('Tamper')
    const { hit } = await delivered(created.id)
    const headers = hit.headers as Record<string, string>
    t.type(await failure(openai.webhooks.unwrap(hit.body.replace('event', 'evenT'), headers)), OpenAI.InvalidWebhookSignatureError)
    t.type(await failure(openai.webhooks.unwrap(hit.body, headers, `whsec_${randomBytes(32).toString('base64')}`)), OpenAI.InvalidWebhookSignatureError)
  })
})

t.test('at-least-once delivery: retries, loss, duplicates, stale timestamps', async (t) => {
  const fast = { maxAttempts: 3, backoffMs: 5, maxBackoffMs: 20, timeoutMs: 2000 }

  t.test('non-2xx answers are retried with the same webhook-id and a fresh signature', async (t) => {
    const endpoint = await receiver(t, (n) => n <= 2 ? 500 : 204)
    const { sim, openai } = await setup(t, { webhooks: { url: endpoint.url, secret: SECRET, ...fast } })
    const r = await openai.responses.create({ model: 'gpt-4.1', input: 'x', background: true })
    await until(() => sim.webhooks.stats().acknowledged === 1, { message: 'an acknowledged delivery' })
    t.equal(endpoint.received.length, 3)
    t.equal(new Set(endpoint.received.map((x) => x.headers['webhook-id'])).size, 1, 'one webhook-id across attempts')
    t.equal(new Set(endpoint.received.map((x) => x.body)).size, 1, 'the same body')
    for (const x of endpoint.received) t.match(await openai.webhooks.unwrap(x.body, x.headers as Record<string, string>, SECRET), { data: { id: r.id } })
    t.match(sim.webhooks.stats(), { events: 1, sent: 3, retried: 2, acknowledged: 1, failed: 0, pending: 0 })
    t.match(sim.webhooks.deliveries(), [{ attempts: 3, results: [500, 500, 204], outcome: 'acknowledged', duplicate: false }])
  })

  t.test('bounded: a receiver that is down is given up after maxAttempts', async (t) => {
    const endpoint = await receiver(t)
    const { sim, openai } = await setup(t, { webhooks: { url: endpoint.url.replace(/:\d+\//, ':1/'), secret: SECRET, ...fast } })
    await openai.responses.create({ model: 'gpt-4.1', input: 'x', background: true })
    await until(() => sim.webhooks.stats().failed === 1, { message: 'the delivery given up' })
    t.match(sim.webhooks.deliveries(), [{ attempts: 3, results: ['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED'], outcome: 'failed' }])
    t.match(sim.webhooks.stats(), { sent: 3, retried: 2, failed: 1, pending: 0 })
  })

  t.test('an attempt left unanswered times out and is retried', async (t) => {
    const endpoint = await receiver(t, (n) => n === 1 ? 'hang' : 200)
    const { sim, openai } = await setup(t, { webhooks: { url: endpoint.url, secret: SECRET, ...fast, timeoutMs: 100 } })
    await openai.responses.create({ model: 'gpt-4.1', input: 'x', background: true })
    await until(() => sim.webhooks.stats().acknowledged === 1, { message: 'the retry acknowledged' })
    t.match(sim.webhooks.deliveries(), [{ results: ['ETIMEDOUT', 200], outcome: 'acknowledged' }])
  })

  t.test('loss: the next N events, or a seeded probability, never arrive', async (t) => {
    const endpoint = await receiver(t)
    const { sim, openai } = await setup(t, { webhooks: { url: endpoint.url, secret: SECRET, ...fast, dropNext: 1 } })
    const lost = await openai.responses.create({ model: 'gpt-4.1', input: 'lost', background: true })
    const kept = await openai.responses.create({ model: 'gpt-4.1', input: 'kept', background: true })
    await until(() => endpoint.received.some((r) => r.body.includes(kept.id)), { message: 'the second event' })
    await poll(openai, lost.id)
    await sim.webhooks.idle()
    t.notOk(endpoint.received.some((r) => r.body.includes(lost.id)), 'the dropped event was never sent')
    t.match(sim.webhooks.stats(), { events: 2, dropped: 1, acknowledged: 1 })
    t.match(sim.webhooks.deliveries()[0], { outcome: 'dropped', attempts: 0, event: { data: { id: lost.id } } })

    // The same seed draws the same losses.
    const pattern = async () => {
      sim.configure({ webhooks: { dropProbability: 0.5, seed: 7 } })
      const ids: string[] = []
      for (let i = 0; i < 12; i++) ids.push((await openai.responses.create({ model: 'gpt-4.1', input: `p${i}`, background: true })).id)
      await Promise.all(ids.map((id) => poll(openai, id)))
      await sim.webhooks.idle()
      const outcome = new Map(sim.webhooks.deliveries().map((d) => [d.event.data.id, d.outcome]))
      return ids.map((id) => outcome.get(id))
    }
    const first = await pattern()
    const second = await pattern()
    t.same(second, first, 'deterministic for a seed')
    t.ok(first.includes('dropped') && first.includes('acknowledged'), `some lost, some delivered: ${first.join(' ')}`)
  })

  t.test('duplicates: the same event twice with the same webhook-id', async (t) => {
    const endpoint = await receiver(t)
    const { sim, openai } = await setup(t, { webhooks: { url: endpoint.url, secret: SECRET, ...fast, duplicateNext: 1 } })
    const r = await openai.responses.create({ model: 'gpt-4.1', input: 'twice', background: true })
    await until(() => endpoint.received.length === 2, { message: 'two deliveries' })
    await sim.webhooks.idle()
    const [a, b] = endpoint.received
    t.equal(a.headers['webhook-id'], b.headers['webhook-id'])
    t.equal(a.body, b.body)
    for (const x of [a, b]) t.match(await openai.webhooks.unwrap(x.body, x.headers as Record<string, string>, SECRET), { data: { id: r.id } })
    t.match(sim.webhooks.stats(), { events: 1, sent: 2, duplicated: 1, acknowledged: 2 })
    t.same(sim.webhooks.deliveries().map((d) => d.duplicate), [false, true])
  })

  t.test('stale timestamps and bad signatures are refused by the SDK; the retry then passes', async (t) => {
    const openai = new OpenAI({ apiKey: API_KEY, webhookSecret: SECRET })
    const verdicts: string[] = []
    const received: Received[] = []
    const server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8')
        received.push({ body, headers: req.headers })
        // A receiver as the gateway is meant to be: verify, 400 on failure (so OpenAI retries), 200 when good.
        openai.webhooks.unwrap(body, req.headers as Record<string, string>).then(
          () => { verdicts.push('ok'); res.writeHead(200).end() },
          (error: Error) => { verdicts.push(error.message); res.writeHead(400).end() })
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    t.teardown(() => { server.closeAllConnections(); server.close() })
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
    const { sim, openai: client } = await setup(t, { webhooks: { url, secret: SECRET, ...fast, staleNext: 1 } })
    await client.responses.create({ model: 'gpt-4.1', input: 'stale', background: true })
    await until(() => sim.webhooks.stats().acknowledged === 1, { message: 'the retried delivery' })
    t.same(verdicts, ['Webhook timestamp is too old', 'ok'])
    t.ok(Number(received[0].headers['webhook-timestamp']) < Date.now() / 1000 - 550, 'staleSeconds (600) in the past')

    sim.configure({ webhooks: { badSignatureNext: 1 } })
    await client.responses.create({ model: 'gpt-4.1', input: 'forged', background: true })
    await until(() => sim.webhooks.stats().acknowledged === 2, { message: 'the second retried delivery' })
    t.same(verdicts.slice(2), ['The given webhook signature does not match the expected signature', 'ok'])
  })
})

t.test('delivery never holds up a response, and close() stops it', async (t) => {
  const endpoint = await receiver(t, () => 'hang')
  const { sim, openai } = await setup(t, { webhooks: { url: endpoint.url, secret: SECRET, timeoutMs: 60_000 } })
  const first = await openai.responses.create({ model: 'gpt-4.1', input: 'one', background: true })
  await until(() => endpoint.received.length === 1, { message: 'the first delivery to hang' })
  const second = await poll(openai, (await openai.responses.create({ model: 'gpt-4.1', input: 'two', background: true })).id)
  t.equal(second.status, 'completed', 'a response ends while a delivery hangs')
  t.equal((await openai.responses.retrieve(first.id)).status, 'completed')
  await until(() => endpoint.received.length === 2, { message: 'the second delivery to hang too' })

  sim.configure({ webhooks: { latency: { fixedMs: 60_000 } } })
  await poll(openai, (await openai.responses.create({ model: 'gpt-4.1', input: 'three', background: true })).id)
  t.equal(sim.webhooks.stats().pending, 3, 'deliveries pending: two in flight, one waiting out its latency')
  t.ok(sim.stats().timers > 0)
  const idle = sim.webhooks.idle()
  await sim.close()
  await idle
  t.equal(sim.stats().timers, 0, 'no timer survives close()')
  t.equal(sim.webhooks.stats().pending, 0)
  t.equal(endpoint.received.length, 2, 'nothing is sent after close() (the hung one and the second response\'s)')
})

t.test('off unless a URL and a secret are set; configured over the control API', async (t) => {
  const endpoint = await receiver(t)
  const { sim, openai } = await setup(t)
  const auth = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }
  const control = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${sim.origin}/__sim/${path}`, { method, headers: auth, body: body === undefined ? undefined : JSON.stringify(body) })
    return { status: res.status, body: await res.json() as Record<string, any> }
  }

  await poll(openai, (await openai.responses.create({ model: 'gpt-4.1', input: 'off', background: true })).id)
  t.equal(sim.webhooks.stats().events, 0, 'no event without a target')
  t.equal((await control('GET', 'config')).body.webhooks.url, null)

  const set = await control('POST', 'config', { webhooks: { url: endpoint.url, secret: SECRET, backoffMs: 5 } })
  t.equal(set.status, 200)
  t.match(set.body.webhooks, { url: endpoint.url, backoffMs: 5, maxAttempts: 5 })
  t.equal(set.body.webhooks.secret, `${SECRET.slice(0, 6)}…${SECRET.slice(-4)}`, 'the secret is masked')
  const r = await openai.responses.create({ model: 'gpt-4.1', input: 'on', background: true })
  await until(() => endpoint.received.length === 1, { message: 'a delivery' })
  t.match(JSON.parse(endpoint.received[0].body), { data: { id: r.id } })
  await sim.webhooks.idle()

  const stats = await control('GET', 'stats')
  t.match(stats.body.webhooks, { events: 1, sent: 1, acknowledged: 1, retried: 0, dropped: 0, pending: 0 })
  const hooks = await control('GET', 'webhooks')
  t.match(hooks.body, { settings: { url: endpoint.url }, stats: { events: 1 }, deliveries: [{ event: { type: 'response.completed', data: { id: r.id } }, outcome: 'acknowledged' }] })

  for (const bad of [{ url: 'ftp://x' }, { maxAttempts: 0 }, { dropProbability: 2 }, { secret: '' }]) {
    const refused = await control('POST', 'config', { webhooks: bad })
    t.equal(refused.status, 400, `refused: ${JSON.stringify(bad)}`)
    t.match(refused.body.error, { message: /^webhooks: /, param: 'webhooks' })
  }
  t.equal((await control('POST', 'config', { webhooks: 'x' })).status, 400)

  await control('POST', 'reset')
  t.match(sim.webhooks.stats(), { events: 0, sent: 0 })
  t.equal(sim.webhooks.settings().url, null, 'reset restores the start settings')
})
