import t from 'tap'
import { API_KEY, failure, poll, setup } from './helpers.ts'

t.test('the request log: identity and context fields of every response request', async (t) => {
  const { sim, openai } = await setup(t, { requestLogSize: 5 })
  const auth = { authorization: `Bearer ${API_KEY}` }
  const requests = async (query = '') => {
    const res = await fetch(`${sim.origin}/__sim/requests${query}`, { headers: auth })
    return { status: res.status, body: await res.json() as { object: string, data: Array<Record<string, unknown>>, total: number } }
  }

  t.test('what is recorded, in process and over HTTP', async (t) => {
    const conv = await openai.conversations.create()
    const created = await openai.responses.create({
      model: 'gpt-5.5',
      conversation: conv.id,
      input: 'A private question that must not be logged',
      background: true,
      safety_identifier: 'sid_4f9a',
      prompt_cache_key: 'profile:tutor',
      truncation: 'auto',
      context_management: [{ type: 'compaction', compact_threshold: 5000 }],
      user: 'legacy-user-field'
    })
    await poll(openai, created.id)
    const plain = await openai.responses.create({ model: 'gpt-4.1', input: 'no identity', stream: false })

    const log = sim.requestLog()
    t.equal(log.length, 2)
    t.match(log[0], {
      seq: 1,
      at: Number,
      operation: 'createResponse',
      status: 200,
      error: null,
      response_id: created.id,
      model: 'gpt-5.5',
      conversation: conv.id,
      previous_response_id: null,
      background: true,
      stream: false,
      store: true,
      safety_identifier: 'sid_4f9a',
      prompt_cache_key: 'profile:tutor',
      truncation: 'auto',
      context_management: [{ type: 'compaction', compact_threshold: 5000 }],
      user: 'legacy-user-field'
    })
    t.match(log[1], { seq: 2, response_id: plain.id, safety_identifier: null, prompt_cache_key: null, truncation: null, context_management: null, user: null, background: false })
    t.notMatch(JSON.stringify(log), /private question/, 'message bodies are not logged')
    t.same(sim.peek.response(created.id)?.request, log[0], 'peek.response(id).request is the same entry')

    const http = await requests()
    t.equal(http.status, 200)
    t.same(http.body, { object: 'list', data: log, total: 2 })
    t.same((await requests('?after=1')).body.data, [log[1]], 'after: entries with a larger seq')
    t.same((await requests('?limit=1')).body.data, [log[1]], 'limit: the latest N')
    t.same((await requests('?operation=createTranscription')).body.data, [])
    t.equal((await requests('?limit=-1')).status, 400)

    // How a gateway suite uses it: every upstream request carried an identifier, never the raw id.
    const raw = 'user-42'
    t.notOk(sim.requestLog().some((e) => e.safety_identifier === raw || e.user === raw))
  })

  t.test('a refused request is logged with its status and code', async (t) => {
    const error = await failure(openai.responses.create({ model: 'gpt-4.1', input: 'x', conversation: 'conv_x', previous_response_id: 'resp_y', safety_identifier: 'sid_1' }))
    t.match(error, { status: 400 })
    t.match(sim.requestLog().at(-1), { status: 400, error: 'mutually_exclusive_parameters', response_id: null, safety_identifier: 'sid_1' })
    const missing = await failure(openai.responses.create({ model: 'gpt-4.1', input: 'x', conversation: 'conv_missing' }))
    t.match(missing, { status: 404 })
    t.match(sim.requestLog().at(-1), { status: 404, error: "Conversation with id 'conv_missing' not found." }, 'without a code, the message')
  })

  t.test('bounded: the latest requestLogSize entries; total counts them all', async (t) => {
    for (let i = 0; i < 6; i++) await openai.responses.create({ model: 'gpt-4.1', input: `n${i}`, safety_identifier: `sid_${i}` })
    const log = sim.requestLog()
    t.equal(log.length, 5)
    t.same(log.map((e) => e.safety_identifier), ['sid_1', 'sid_2', 'sid_3', 'sid_4', 'sid_5'])
    t.equal(sim.stats().requests, 10)
    t.equal((await requests()).body.total, 10)
  })

  t.test('reset forgets the log', async (t) => {
    sim.reset()
    t.same(sim.requestLog(), [])
    t.equal(sim.stats().requests, 0)
    await openai.responses.create({ model: 'gpt-4.1', input: 'again' })
    t.equal(sim.requestLog()[0].seq, 1)
  })
})
