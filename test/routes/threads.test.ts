import OpenAI, { toFile } from 'openai'
import t from 'tap'
import { build, startSim, SIM_KEY } from '../helpers/build.ts'
import { adminToken, bearer, userToken } from '../helpers/tokens.ts'
import { until } from '../helpers/until.ts'

const alice = bearer(userToken('alice'))
const bob = bearer(userToken('bob'))
const admin = bearer(adminToken('root'))

t.test('create, get, list, update, delete', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim)
  const created = await app.inject({ method: 'POST', url: '/api/openai/threads', headers: alice, payload: { title: 'Algebra', metadata: { course: 'math-1' }, messages: [{ role: 'user', content: 'Hello' }, { role: 'user', content: [{ type: 'text', text: 'Part one' }, { type: 'text', text: 'Part two' }] }] } })
  t.equal(created.statusCode, 201)
  const thread = created.json()
  t.match(thread, { object: 'thread', title: 'Algebra', metadata: { course: 'math-1' } })
  t.match(thread.id, /^conv_/)
  t.type(thread.created_at, 'number')

  // Defence in depth: the upstream conversation knows its owner only as a salted hash.
  const upstream = sim.peek.conversation(thread.id)!
  t.match(upstream.metadata.gateway_owner, /^[0-9a-f]{32}$/)
  t.notMatch(JSON.stringify(upstream.metadata), /alice/)

  const got = await app.inject({ url: `/api/openai/threads/${thread.id}`, headers: alice })
  t.same(got.json(), thread)

  const messages = await app.inject({ url: `/api/openai/threads/${thread.id}/messages?order=asc`, headers: alice })
  t.equal(messages.statusCode, 200)
  const data = messages.json().data
  t.equal(data.length, 2)
  t.same(data[0].content, [{ type: 'text', text: { value: 'Hello', annotations: [] } }])
  t.same(data[1].content.map((c: { text: { value: string } }) => c.text.value), ['Part one', 'Part two'])
  t.equal(data[0].created_at, thread.created_at, 'initial messages carry the time the gateway saw them')
  t.match(data[0], { object: 'thread.message', role: 'user', thread_id: thread.id, run_id: null, attachments: [] })

  const updated = await app.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}`, headers: alice, payload: { title: null, metadata: { level: '2' } } })
  t.equal(updated.statusCode, 200)
  t.match(updated.json(), { title: null, metadata: { level: '2' } })
  t.notOk('course' in updated.json().metadata, 'metadata is replaced as a whole')

  const deleted = await app.inject({ method: 'DELETE', url: `/api/openai/threads/${thread.id}`, headers: alice })
  t.same(deleted.json(), { id: thread.id, object: 'thread.deleted', deleted: true })
  const gone = sim.peek.conversation(thread.id)!
  t.equal(gone.deleted, true, 'upstream conversation deleted')
  t.same(gone.items, [], 'its upstream items were erased first')
  t.equal((await app.inject({ url: `/api/openai/threads/${thread.id}`, headers: alice })).statusCode, 404)
  t.same((await app.inject({ url: '/api/openai/threads', headers: alice })).json().data, [])
  t.same(sim.nonconforming(), [])
})

t.test('IDOR matrix: another user (or an admin) never sees or touches a thread, and gets the same 404', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim)
  const thread = (await app.inject({ method: 'POST', url: '/api/openai/threads', headers: alice, payload: { title: 'private', messages: [{ role: 'user', content: 'secret' }] } })).json()
  const unknown = 'conv_doesnotexist000000000000'
  const routes = (id: string) => [
    { method: 'GET' as const, url: `/api/openai/threads/${id}` },
    { method: 'POST' as const, url: `/api/openai/threads/${id}`, payload: { title: 'mine now' } },
    { method: 'DELETE' as const, url: `/api/openai/threads/${id}` },
    { method: 'GET' as const, url: `/api/openai/threads/${id}/messages` },
    { method: 'POST' as const, url: `/api/openai/threads/${id}/messages`, payload: { content: 'injected' } }
  ]
  const before = sim.counters()
  for (const headers of [bob, admin]) {
    const foreign = routes(thread.id)
    const missing = routes(unknown)
    for (let i = 0; i < foreign.length; i++) {
      const a = await app.inject({ ...foreign[i]!, headers })
      const b = await app.inject({ ...missing[i]!, headers })
      t.equal(a.statusCode, 404, `${foreign[i]!.method} ${foreign[i]!.url} is 404`)
      const { requestId: _a, ...bodyA } = a.json()
      const { requestId: _b, ...bodyB } = b.json()
      t.same(bodyA, bodyB, 'indistinguishable from an unknown id')
    }
    t.same((await app.inject({ url: '/api/openai/threads', headers })).json().data, [], 'not listed')
  }
  t.same(sim.counters(), before, 'ownership is decided before any upstream call')
  const still = await app.inject({ url: `/api/openai/threads/${thread.id}/messages`, headers: alice })
  t.equal(still.json().data.length, 1, 'nothing was added or changed')
  t.equal((await app.inject({ url: `/api/openai/threads/${thread.id}`, headers: alice })).json().title, 'private')
})

t.test('attachments: own files become file parts; unknown or foreign file ids are 404', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim)
  const client = new OpenAI({ apiKey: SIM_KEY, baseURL: sim.url })
  const pdf = await client.files.create({ file: await toFile(Buffer.from('%PDF-1.4\n%%EOF\n'), 'notes.pdf', { type: 'application/pdf' }), purpose: 'user_data' })
  const png = await client.files.create({ file: await toFile(Buffer.from('\x89PNG\r\n\x1a\n'), 'chart.png', { type: 'image/png' }), purpose: 'vision' })
  const now = Math.floor(Date.now() / 1000)
  await app.store.createFile({ id: pdf.id, owner: 'alice', filename: 'notes.pdf', bytes: 15, purpose: 'user_data', mime: 'application/pdf', created_at: now })
  await app.store.createFile({ id: png.id, owner: 'bob', filename: 'chart.png', bytes: 8, purpose: 'vision', mime: 'image/png', created_at: now })
  const thread = (await app.inject({ method: 'POST', url: '/api/openai/threads', headers: alice, payload: {} })).json()
  const post = (attachments: Array<{ file_id: string }>) =>
    app.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}/messages`, headers: alice, payload: { content: 'see attached', attachments } })

  const before = sim.counters()['POST /v1/conversations/{conversation_id}/items'] ?? 0
  const foreign = await post([{ file_id: png.id }])
  t.equal(foreign.statusCode, 404)
  t.equal(foreign.json().message, `File ${png.id} not found`)
  const unknown = await post([{ file_id: 'file-nope' }])
  t.equal(unknown.statusCode, 404)
  t.equal(sim.counters()['POST /v1/conversations/{conversation_id}/items'] ?? 0, before, 'nothing sent upstream')

  const ok = await post([{ file_id: pdf.id }])
  t.equal(ok.statusCode, 201)
  t.same(ok.json().attachments, [{ file_id: pdf.id, tools: [] }])
  const items = sim.peek.conversation(thread.id)!.items
  t.match(items.at(-1), { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'see attached' }, { type: 'input_file', file_id: pdf.id }] })
  const listed = await app.inject({ url: `/api/openai/threads/${thread.id}/messages`, headers: alice })
  t.same(listed.json().data[0].attachments, [{ file_id: pdf.id, tools: [] }])
  t.same(sim.nonconforming(), [])
})

t.test('message pagination follows the upstream cursor in both orders', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim)
  const thread = (await app.inject({ method: 'POST', url: '/api/openai/threads', headers: alice, payload: {} })).json()
  const ids: string[] = []
  for (let i = 1; i <= 5; i++) {
    const res = await app.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}/messages`, headers: alice, payload: { content: `m${i}` } })
    t.equal(res.statusCode, 201)
    ids.push(res.json().id)
  }
  const page = async (query: string) => (await app.inject({ url: `/api/openai/threads/${thread.id}/messages?${query}`, headers: alice })).json()
  const text = (p: { data: Array<{ content: Array<{ text: { value: string } }> }> }) => p.data.map(m => m.content[0]!.text.value)

  const d1 = await page('limit=2')
  t.same(text(d1), ['m5', 'm4'], 'desc by default')
  t.equal(d1.has_more, true)
  t.equal(d1.first_id, ids[4])
  t.equal(d1.last_id, ids[3])
  const d2 = await page(`limit=2&after=${d1.last_id}`)
  t.same(text(d2), ['m3', 'm2'])
  t.equal(d2.has_more, true)
  const d3 = await page(`limit=2&after=${d2.last_id}`)
  t.same(text(d3), ['m1'])
  t.equal(d3.has_more, false)

  const a1 = await page('limit=3&order=asc')
  t.same(text(a1), ['m1', 'm2', 'm3'])
  t.equal(a1.has_more, true)
  const a2 = await page(`limit=3&order=asc&after=${a1.last_id}`)
  t.same(text(a2), ['m4', 'm5'])
  t.equal(a2.has_more, false)

  const exact = await page('limit=5')
  t.equal(exact.data.length, 5)
  t.equal(exact.has_more, false, 'exactly limit messages: no more')
  const empty = await page(`after=${ids[0]}`)
  t.same(empty.data, [])
  t.equal(empty.has_more, false)
  t.equal(empty.first_id, null)
  t.equal(empty.last_id, null)
})

t.test('message pagination never dead-ends on a long run of tool items between messages', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim)
  const thread = (await app.inject({ method: 'POST', url: '/api/openai/threads', headers: alice, payload: {} })).json()
  await app.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}/messages`, headers: alice, payload: { content: 'first' } })
  // 2 000 tool items (1 000 calls and their outputs) put straight into the conversation: two scans' worth.
  const upstream = new OpenAI({ apiKey: SIM_KEY, baseURL: sim.url })
  for (let batch = 0; batch < 100; batch++) {
    const items = Array.from({ length: 10 }, (_, i) => `call_${batch}_${i}`).flatMap(callId => [
      { type: 'function_call' as const, call_id: callId, name: 'get_current_time', arguments: '{}' },
      { type: 'function_call_output' as const, call_id: callId, output: '{}' }
    ])
    await upstream.conversations.items.create(thread.id, { items })
  }
  await app.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}/messages`, headers: alice, payload: { content: 'second' } })
  const page = async (query: string) => (await app.inject({ url: `/api/openai/threads/${thread.id}/messages?${query}`, headers: alice })).json()
  const text = (p: { data: Array<{ content: Array<{ text: { value: string } }> }> }) => p.data.map(m => m.content[0]!.text.value)

  const p1 = await page('limit=1')
  t.same(text(p1), ['second'])
  t.equal(p1.has_more, true)
  t.not(p1.last_id, p1.first_id, 'the cursor skips the tool items already read while looking for more')
  const p2 = await page(`limit=1&after=${p1.last_id}`)
  t.same(text(p2), [], 'a scan of 1 000 tool items finds no message')
  t.equal(p2.has_more, true)
  t.type(p2.last_id, 'string', 'but the cursor goes on from the last item read')
  const p3 = await page(`limit=1&after=${p2.last_id}`)
  t.same(text(p3), ['first'])
  t.equal(p3.has_more, false)
  t.same(sim.nonconforming(), [])
})

t.test('thread pagination: newest first, cursor, both orders', async t => {
  const app = await build(t, await startSim(t))
  const ids: string[] = []
  for (let i = 0; i < 3; i++) ids.push((await app.inject({ method: 'POST', url: '/api/openai/threads', headers: alice, payload: { title: `t${i}` } })).json().id)
  await app.inject({ method: 'POST', url: '/api/openai/threads', headers: bob, payload: { title: 'bob' } })
  const list = async (q: string) => (await app.inject({ url: `/api/openai/threads?${q}`, headers: alice })).json()
  const p1 = await list('limit=2')
  t.same(p1.data.map((x: { id: string }) => x.id), [ids[2], ids[1]])
  t.equal(p1.has_more, true)
  const p2 = await list(`limit=2&after=${p1.last_id}`)
  t.same(p2.data.map((x: { id: string }) => x.id), [ids[0]])
  t.equal(p2.has_more, false)
  const asc = await list('order=asc')
  t.same(asc.data.map((x: { id: string }) => x.id), ids)
})

t.test('a message holds at most 32 000 characters of text, in one string or all its text parts together', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim)
  const thread = (await app.inject({ method: 'POST', url: '/api/openai/threads', headers: alice, payload: {} })).json()
  const parts = (n: number, size: number) => Array.from({ length: n }, (_, i) => ({ type: 'text', text: String(i % 10).repeat(size) }))
  const refused = (res: Awaited<ReturnType<typeof app.inject>>, param: string) => {
    t.equal(res.statusCode, 400, param)
    t.same(res.json().error, { message: `body.${param} must NOT have more than 32000 characters of text, all its parts together`, type: 'invalid_request_error', code: 'VALIDATION_FAILED', param })
  }
  const items = () => sim.counters()['POST /v1/conversations/{conversation_id}/items'] ?? 0
  const before = items()

  refused(await app.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}/messages`, headers: alice, payload: { content: parts(10, 32_000) } }), 'content')
  refused(await app.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}/messages`, headers: alice, payload: { content: parts(2, 16_001) } }), 'content')
  refused(await app.inject({ method: 'POST', url: '/api/openai/threads', headers: alice, payload: { messages: [{ role: 'user', content: 'ok' }, { role: 'user', content: parts(3, 12_000) }] } }), 'messages.1.content')
  refused(await app.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}/runs`, headers: alice, payload: { assistant_type: 'curator', additional_messages: [{ role: 'user', content: parts(5, 7000) }] } }), 'additional_messages.0.content')
  t.equal(items(), before, 'nothing reached the conversation')
  t.equal(sim.counters()['POST /v1/conversations'], 1, 'nor was a conversation created for the refused thread')

  const full = await app.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}/messages`, headers: alice, payload: { content: parts(4, 8000) } })
  t.equal(full.statusCode, 201, '32 000 characters in four parts are accepted')
  // Characters are counted as the schema counts a string's: by code point, so 32 000 emoji are one message.
  t.equal((await app.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}/messages`, headers: alice, payload: { content: [{ type: 'text', text: '😀'.repeat(16_000) }, { type: 'text', text: '😀'.repeat(16_000) }] } })).statusCode, 201)
})

t.test('a new message while the thread is busy is 409 THREAD_BUSY', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim)
  const thread = (await app.inject({ method: 'POST', url: '/api/openai/threads', headers: alice, payload: {} })).json()
  await app.store.lockThread(thread.id, 'run_active', 60_000)
  const res = await app.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}/messages`, headers: alice, payload: { content: 'hi' } })
  t.equal(res.statusCode, 409)
  t.equal(res.json().code, 'THREAD_BUSY')
  t.equal(res.json().message, `Can't add messages to ${thread.id} while another request writes to it; retry in a moment`, 'no run holds it: another write does')
  t.ok(res.headers['retry-after'])
  const del = await app.inject({ method: 'DELETE', url: `/api/openai/threads/${thread.id}`, headers: alice })
  t.equal(del.statusCode, 409, 'nor can it be deleted mid-write')
  await app.store.unlockThread(thread.id, 'run_active')
  t.equal((await app.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}/messages`, headers: alice, payload: { content: 'hi' } })).statusCode, 201)
})

t.test('Idempotency-Key: replay, different body, in flight, per user', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim)
  const create = (headers: Record<string, string>, key: string, title: string) =>
    app.inject({ method: 'POST', url: '/api/openai/threads', headers: { ...headers, 'idempotency-key': key }, payload: { title } })

  const first = await create(alice, 'key-1', 'A')
  t.equal(first.statusCode, 201)
  const creates = () => sim.counters()['POST /v1/conversations'] ?? 0
  const count = creates()
  const replay = await create(alice, 'key-1', 'A')
  t.equal(replay.statusCode, 201)
  t.equal(replay.headers['idempotent-replayed'], 'true')
  t.same(replay.json(), first.json(), 'the first answer, replayed')
  t.equal(creates(), count, 'no second upstream conversation')
  t.equal((await app.inject({ url: '/api/openai/threads', headers: alice })).json().data.length, 1)

  const reused = await create(alice, 'key-1', 'B')
  t.equal(reused.statusCode, 422)
  t.equal(reused.json().code, 'IDEMPOTENCY_KEY_REUSED')

  const other = await create(bob, 'key-1', 'A')
  t.equal(other.statusCode, 201, 'keys are scoped per user')
  t.not(other.json().id, first.json().id)

  sim.faults.add({ route: 'POST /v1/conversations', kind: 'latency', ms: 400 })
  const started = creates()
  // The second request comes once the first is upstream, so while its key is claimed.
  const [x, y] = await Promise.all([create(alice, 'key-2', 'C'), until(() => creates() > started, { message: 'the first creation to reach upstream' }).then(() => create(alice, 'key-2', 'C'))])
  t.same([x.statusCode, y.statusCode].sort(), [201, 409])
  t.equal((x.statusCode === 409 ? x : y).json().code, 'IDEMPOTENCY_IN_PROGRESS')

  const messageKey = { ...alice, 'idempotency-key': 'msg-1' }
  const thread = first.json().id
  const m1 = await app.inject({ method: 'POST', url: `/api/openai/threads/${thread}/messages`, headers: messageKey, payload: { content: 'once' } })
  const m2 = await app.inject({ method: 'POST', url: `/api/openai/threads/${thread}/messages`, headers: messageKey, payload: { content: 'once' } })
  t.equal(m2.headers['idempotent-replayed'], 'true')
  t.equal(m1.json().id, m2.json().id)
  t.equal((await app.inject({ url: `/api/openai/threads/${thread}/messages`, headers: alice })).json().data.length, 1, 'one message, not two')

  for (const key of ['x'.repeat(256), 'has space']) {
    const bad = await app.inject({ method: 'POST', url: '/api/openai/threads', headers: { ...alice, 'idempotency-key': key }, payload: {} })
    t.equal(bad.statusCode, 400)
    t.match(bad.json(), { code: 'VALIDATION_FAILED', message: /^headers\.idempotency-key / }, 'the message names the header')
  }
  const longest = await app.inject({ method: 'POST', url: '/api/openai/threads', headers: { ...alice, 'idempotency-key': 'k'.repeat(255) }, payload: {} })
  t.equal(longest.statusCode, 201, 'a 255-character key is accepted')
})

t.test('a failed create is not stored: the retry with the same key goes through', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim)
  sim.faults.add({ route: 'POST /v1/conversations', kind: 'status', status: 500 })
  const headers = { ...alice, 'idempotency-key': 'retry-me' }
  t.equal((await app.inject({ method: 'POST', url: '/api/openai/threads', headers, payload: {} })).statusCode, 502)
  const retry = await app.inject({ method: 'POST', url: '/api/openai/threads', headers, payload: {} })
  t.equal(retry.statusCode, 201)
  t.equal(retry.headers['idempotent-replayed'], undefined)
})

t.test('message pages are served from cache while the thread is unchanged, and never stale after a write', async t => {
  const sim = await startSim(t)
  const app = await build(t, sim)
  const thread = (await app.inject({ method: 'POST', url: '/api/openai/threads', headers: alice, payload: { messages: [{ role: 'user', content: 'first' }] } })).json()
  const list = async () => (await app.inject({ url: `/api/openai/threads/${thread.id}/messages`, headers: alice })).json()
  const upstreamLists = () => sim.counters()['GET /v1/conversations/{conversation_id}/items'] ?? 0

  const first = await list()
  const calls = upstreamLists()
  t.same(await list(), first, 'the same page')
  t.same(await list(), first)
  t.equal(upstreamLists(), calls, 'no upstream call while nothing changed')

  await app.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}/messages`, headers: alice, payload: { content: 'second' } })
  t.equal((await list()).data[0].content[0].text.value, 'second', 'a new message is seen at once')

  await app.inject({ method: 'POST', url: `/api/openai/threads/${thread.id}/runs`, headers: alice, payload: { assistant_type: 'mentor' } })
  const afterRun = await list()
  t.equal(afterRun.data[0].role, 'assistant', 'the answer of a finished run is seen at once')

  const other = (await app.inject({ url: `/api/openai/threads/${thread.id}/messages?order=asc&limit=1`, headers: alice })).json()
  t.equal(other.data[0].content[0].text.value, 'first', 'pages of other queries are cached separately')
  t.equal((await app.inject({ url: `/api/openai/threads/${thread.id}/messages`, headers: bob })).statusCode, 404, 'ownership is still checked on every read')
  const metrics = (await app.inject({ url: '/metrics' })).body
  t.match(metrics, /^assistant_gateway_message_cache_entries [1-9]/m, 'the cache size is a metric')
  t.match(metrics, /^assistant_gateway_message_cache_bytes [1-9]/m)
})

t.test('cached message pages are read upstream again after 30 s; MESSAGE_CACHE_MB=0 turns the cache off', async t => {
  const sim = await startSim(t)
  let now = Date.now()
  const app = await build(t, sim, { clock: () => now })
  const off = await build(t, sim, { env: { MESSAGE_CACHE_MB: '0' } })
  const upstreamLists = () => sim.counters()['GET /v1/conversations/{conversation_id}/items'] ?? 0
  const threadIn = async (gateway: typeof app) => (await gateway.inject({ method: 'POST', url: '/api/openai/threads', headers: alice, payload: { messages: [{ role: 'user', content: 'hi' }] } })).json().id
  const list = (gateway: typeof app, id: string) => gateway.inject({ url: `/api/openai/threads/${id}/messages`, headers: alice })

  const cached = await threadIn(app)
  await list(app, cached)
  const calls = upstreamLists()
  now += 29_999
  await list(app, cached)
  t.equal(upstreamLists(), calls, 'still served from the cache just before 30 s')
  now += 2
  t.equal((await list(app, cached)).json().data[0].content[0].text.value, 'hi')
  t.equal(upstreamLists(), calls + 1, 'read upstream again after 30 s')

  const uncached = await threadIn(off)
  const before = upstreamLists()
  await list(off, uncached)
  await list(off, uncached)
  t.equal(upstreamLists(), before + 2, 'with the cache off, every read goes upstream')
  t.match((await off.inject({ url: '/metrics' })).body, /^assistant_gateway_message_cache_entries 0/m)
})
