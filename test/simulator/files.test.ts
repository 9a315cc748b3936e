import t from 'tap'
import OpenAI, { toFile } from 'openai'
import { assertNoNonconforming, conformance, failure, setup } from './helpers.ts'

t.test('files through the SDK', async (t) => {
  const { sim, openai } = await setup(t)

  t.test('create, retrieve, delete', async (t) => {
    const bytes = Buffer.from('%PDF-1.7 simulated report')
    const file = await openai.files.create({ file: await toFile(bytes, 'report.pdf', { type: 'application/pdf' }), purpose: 'user_data' })
    t.match(file.id, /^file-[0-9A-Za-z]{24}$/)
    t.match(file, { object: 'file', bytes: bytes.length, filename: 'report.pdf', purpose: 'user_data', status: 'processed', expires_at: null })
    t.type(file.created_at, 'number')
    t.equal(conformance(sim, 'createFile', file), null, 'conforms to the spec')

    const fetched = await openai.files.retrieve(file.id)
    t.same(JSON.parse(JSON.stringify(fetched)), JSON.parse(JSON.stringify(file)))

    const deleted = await openai.files.delete(file.id)
    t.same(JSON.parse(JSON.stringify(deleted)), { id: file.id, object: 'file', deleted: true })
    t.type(await failure(openai.files.retrieve(file.id)), OpenAI.NotFoundError)
    t.type(await failure(openai.files.delete(file.id)), OpenAI.NotFoundError)
  })

  t.test('expires_after sets expires_at', async (t) => {
    const file = await openai.files.create({
      file: await toFile(Buffer.from('x'), 'x.txt', { type: 'text/plain' }),
      purpose: 'assistants',
      expires_after: { anchor: 'created_at', seconds: 3600 }
    })
    t.equal(file.expires_at, file.created_at + 3600)
  })

  t.test('list: purpose, order, limit, after', async (t) => {
    const made: string[] = []
    for (let i = 0; i < 5; i++) {
      const purpose = i % 2 === 0 ? 'vision' : 'batch'
      made.push((await openai.files.create({ file: await toFile(Buffer.from(`f${i}`), `f${i}.jsonl`), purpose })).id)
    }
    const vision = await openai.files.list({ purpose: 'vision', order: 'asc' })
    t.same(vision.data.map((f) => f.id), [made[0], made[2], made[4]])

    const page = await openai.files.list({ purpose: 'vision', limit: 2 })
    t.same(page.data.map((f) => f.id), [made[4], made[2]], 'newest first by default')
    t.equal(page.has_more, true)
    const next = await openai.files.list({ purpose: 'vision', limit: 2, after: made[2] })
    t.same(next.data.map((f) => f.id), [made[0]])
    t.equal(next.has_more, false)

    const all: string[] = []
    for await (const f of openai.files.list({ purpose: 'batch', limit: 1 })) all.push(f.id)
    t.same(all, [made[3], made[1]], 'auto-pagination follows after')
  })

  t.test('files referenced by responses', async (t) => {
    const file = await openai.files.create({ file: await toFile(Buffer.from('data'), 'notes.txt', { type: 'text/plain' }), purpose: 'user_data' })
    const image = await openai.files.create({ file: await toFile(Buffer.from('png'), 'pic.png', { type: 'image/png' }), purpose: 'vision' })
    const r = await openai.responses.create({
      model: 'gpt-4.1',
      input: [{
        role: 'user',
        content: [
          { type: 'input_text', text: 'Summarize' },
          { type: 'input_file', file_id: file.id },
          { type: 'input_image', file_id: image.id, detail: 'auto' }
        ]
      }]
    })
    t.equal(r.status, 'completed')
    t.match(r.output_text, /^You said: "Summarize"/)
    await openai.files.delete(file.id)
    const refused = await failure(openai.responses.create({ model: 'gpt-4.1', input: [{ role: 'user', content: [{ type: 'input_file', file_id: file.id }] }] }))
    t.type(refused, OpenAI.BadRequestError, 'a deleted file can no longer be used')
  })

  t.test('no nonconforming requests', async (t) => assertNoNonconforming(t, sim))
})

t.test("the gateway's start-up key check: GET /v1/files?limit=1", async (t) => {
  const { sim, openai } = await setup(t)
  const check = (key: string) => fetch(`${sim.url}/files?limit=1`, { headers: { authorization: `Bearer ${key}` } })
  const empty = await (await check('sk-sim-local')).json()
  t.same(empty, { object: 'list', data: [], first_id: null, last_id: null, has_more: false })
  t.ok(sim.checkResponse('listFiles', empty), 'the spec wants strings for the ids of an empty list…')
  t.equal(sim.checkResponse('listFiles', { ...empty, first_id: '', last_id: '' }), null, '…the null ids are the one difference (see the README)')
  await openai.files.create({ file: await toFile(Buffer.from('a'), 'a.txt'), purpose: 'user_data' })
  await openai.files.create({ file: await toFile(Buffer.from('b'), 'b.txt'), purpose: 'user_data' })
  const page = await (await check('sk-sim-local')).json()
  t.match(page, { data: [{ filename: 'b.txt' }], has_more: true })
  t.equal(page.data.length, 1)
  // A file that never expires has expires_at null, as OpenAI sends it (see conformance()).
  t.equal(conformance(sim, 'listFiles', { ...page, data: page.data.map(({ expires_at: _, ...file }: Record<string, unknown>) => file) }), null, 'a page with a file conforms')
  const refused = await check('sk-wrong')
  t.equal(refused.status, 401)
  t.match(await refused.json(), { error: { type: 'invalid_request_error', code: 'invalid_api_key' } })
  assertNoNonconforming(t, sim)
})
