import t from 'tap'
import OpenAI from 'openai'
import { assertNoNonconforming, failure, setup, wire } from './helpers.ts'

t.test('conversations and items through the SDK', async (t) => {
  const { sim, openai } = await setup(t)

  t.test('create, retrieve, update, delete', async (t) => {
    const created = await openai.conversations.create({
      metadata: { tenant: 't_1', user: 'u_42' },
      items: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Hi' }] }]
    })
    t.match(created.id, /^conv_[0-9a-f]{48}$/)
    t.equal(created.object, 'conversation')
    t.type(created.created_at, 'number')
    t.same(created.metadata, { tenant: 't_1', user: 'u_42' })
    t.equal(sim.checkResponse('createConversation', wire(created)), null, 'conforms to the spec')

    const fetched = await openai.conversations.retrieve(created.id)
    t.same(wire(fetched), wire(created))

    const updated = await openai.conversations.update(created.id, { metadata: { title: 'Hello' } })
    t.same(updated.metadata, { title: 'Hello' }, 'update replaces the metadata')

    const deleted = await openai.conversations.delete(created.id)
    t.same(wire(deleted), { id: created.id, object: 'conversation.deleted', deleted: true })
    t.type(await failure(openai.conversations.retrieve(created.id)), OpenAI.NotFoundError)
    t.type(await failure(openai.conversations.items.list(created.id)), OpenAI.NotFoundError)

    const kept = sim.peek.conversation(created.id)
    t.equal(kept?.deleted, true)
    t.equal(kept?.items.length, 1, 'deleting a conversation does not delete its items (like OpenAI)')
  })

  t.test('a conversation created without a body', async (t) => {
    const created = await openai.conversations.create()
    t.same(created.metadata, {})
    const page = await openai.conversations.items.list(created.id)
    t.same(page.data, [])
    t.equal(page.has_more, false)
  })

  t.test('metadata limits are OpenAI\'s', async (t) => {
    const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']))
    const tooMany = await failure(openai.conversations.create({ metadata: many }))
    t.ok(tooMany instanceof OpenAI.BadRequestError)
    t.equal(tooMany.code, 'object_above_max_properties')
    const longKey = await failure(openai.conversations.create({ metadata: { ['k'.repeat(65)]: 'v' } }))
    t.equal(longKey.code, 'string_above_max_length')
    const longValue = await failure(openai.conversations.create({ metadata: { k: 'v'.repeat(513) } }))
    t.equal(longValue.param, 'metadata.k')
    const ok = await openai.conversations.create({ metadata: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`${i}`.padStart(64, 'k'), 'v'.repeat(512)])) })
    t.equal(Object.keys(ok.metadata as object).length, 16, 'exactly at the limits is accepted')
  })

  t.test('items: create, list, retrieve, delete', async (t) => {
    const conv = await openai.conversations.create()
    const created = await openai.conversations.items.create(conv.id, {
      items: [
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'What is 2+2?' }] },
        { role: 'assistant', content: 'It is 4.' },
        { role: 'user', content: 'Thanks' }
      ]
    })
    t.equal(created.object, 'list')
    t.equal(created.has_more, false)
    t.equal(created.data.length, 3)
    t.equal(created.first_id, created.data[0].id)
    t.equal(created.last_id, created.data[2].id)
    t.equal(sim.checkResponse('createConversationItems', wire(created)), null, 'conforms to the spec')

    const [user, assistant, easy] = created.data
    t.match(user, { type: 'message', role: 'user', status: 'completed', content: [{ type: 'input_text', text: 'What is 2+2?' }] })
    t.match(user.id, /^msg_/)
    t.same(assistant.type === 'message' && assistant.content, [{ type: 'output_text', annotations: [], logprobs: [], text: 'It is 4.' }], 'assistant text is stored as output_text')
    t.same(easy.type === 'message' && easy.content, [{ type: 'input_text', text: 'Thanks' }])

    const item = await openai.conversations.items.retrieve(user.id as string, { conversation_id: conv.id })
    t.same(wire(item), wire(user))

    const parent = await openai.conversations.items.delete(assistant.id as string, { conversation_id: conv.id })
    t.same(wire(parent), wire(conv), 'deleting an item returns its conversation')
    t.type(await failure(openai.conversations.items.retrieve(assistant.id as string, { conversation_id: conv.id })), OpenAI.NotFoundError)
    const rest = await openai.conversations.items.list(conv.id, { order: 'asc' })
    t.same(rest.data.map((i) => i.id), [user.id, easy.id])
  })

  t.test('items.create takes at most 20 items', async (t) => {
    const conv = await openai.conversations.create()
    const items = Array.from({ length: 20 }, (_, i) => ({ role: 'user' as const, content: `m${i}` }))
    const ok = await openai.conversations.items.create(conv.id, { items })
    t.equal(ok.data.length, 20)
  })

  t.test('pagination: both orders, after, limit and boundaries', async (t) => {
    const conv = await openai.conversations.create()
    const ids: string[] = []
    for (let batch = 0; batch < 3; batch++) {
      const created = await openai.conversations.items.create(conv.id, {
        items: Array.from({ length: 5 }, (_, i) => ({ role: 'user' as const, content: `message ${batch * 5 + i}` }))
      })
      ids.push(...created.data.map((i) => i.id as string))
    }
    const path = `/conversations/${conv.id}/items`
    type Page = { data: Array<{ id: string }>, first_id: string | null, last_id: string | null, has_more: boolean }

    const firstDesc = await openai.get<Page>(path, { query: { limit: 4 } })
    t.same(firstDesc.data.map((i) => i.id), ids.slice(-4).reverse(), 'default order is desc, newest first')
    t.equal(firstDesc.first_id, ids[14])
    t.equal(firstDesc.last_id, ids[11])
    t.equal(firstDesc.has_more, true)

    const nextDesc = await openai.get<Page>(path, { query: { limit: 4, after: firstDesc.last_id } })
    t.same(nextDesc.data.map((i) => i.id), [ids[10], ids[9], ids[8], ids[7]])

    const lastDesc = await openai.get<Page>(path, { query: { limit: 3, after: ids[3] } })
    t.same(lastDesc.data.map((i) => i.id), [ids[2], ids[1], ids[0]])
    t.equal(lastDesc.has_more, false, 'a page that ends exactly at the last item has no more')

    const asc = await openai.get<Page>(path, { query: { order: 'asc', limit: 5, after: ids[4] } })
    t.same(asc.data.map((i) => i.id), ids.slice(5, 10))
    t.equal(asc.first_id, ids[5])
    t.equal(asc.last_id, ids[9])
    t.equal(asc.has_more, true)

    const past = await openai.get<Page>(path, { query: { order: 'asc', after: ids[14] } })
    t.same(past, { object: 'list', data: [], first_id: null, last_id: null, has_more: false }, 'after the last item: an empty page')

    const all: string[] = []
    for await (const item of openai.conversations.items.list(conv.id, { order: 'asc', limit: 4 })) all.push(item.id as string)
    t.same(all, ids, 'SDK auto-pagination walks every page in order')

    const limit100 = await openai.conversations.items.list(conv.id, { limit: 100 })
    t.equal(limit100.data.length, 15)
    const tooBig = await failure(openai.conversations.items.list(conv.id, { limit: 101 }))
    t.equal(tooBig.code, 'integer_above_max_value')
    const tooSmall = await failure(openai.conversations.items.list(conv.id, { limit: 0 }))
    t.equal(tooSmall.code, 'integer_below_min_value')
    t.equal(sim.checkResponse('listConversationItems', firstDesc), null, 'conforms to the spec')
  })

  t.test('item references and duplicate ids', async (t) => {
    const r = await openai.responses.create({ model: 'gpt-4.1', input: 'Remember this' })
    const conv = await openai.conversations.create()
    const added = await openai.conversations.items.create(conv.id, { items: [{ type: 'item_reference', id: r.output[0].id as string }] })
    t.match(added.data[0], { id: r.output[0].id, type: 'message', role: 'assistant' }, 'a reference copies the item')
    t.match(await failure(openai.conversations.items.create(conv.id, { items: [{ type: 'item_reference', id: 'msg_nowhere' }] })), { status: 404 })
    const again = await failure(openai.conversations.items.create(conv.id, {
      items: [{ type: 'message', role: 'assistant', id: r.output[0].id as string, status: 'completed', content: [{ type: 'output_text', text: 'x', annotations: [], logprobs: [] }] }]
    }))
    t.match(again, { status: 400, message: /Duplicate item found with id/ })
  })

  t.test('unknown ids are 404s', async (t) => {
    t.type(await failure(openai.conversations.retrieve('conv_missing')), OpenAI.NotFoundError)
    t.type(await failure(openai.conversations.update('conv_missing', { metadata: {} })), OpenAI.NotFoundError)
    const conv = await openai.conversations.create()
    t.type(await failure(openai.conversations.items.retrieve('msg_missing', { conversation_id: conv.id })), OpenAI.NotFoundError)
    t.type(await failure(openai.conversations.items.delete('msg_missing', { conversation_id: conv.id })), OpenAI.NotFoundError)
  })

  t.test('includes are accepted', async (t) => {
    const conv = await openai.conversations.create({ items: [{ role: 'user', content: 'x' }] })
    const page = await openai.conversations.items.list(conv.id, { include: ['message.input_image.image_url', 'message.output_text.logprobs'] })
    t.equal(page.data.length, 1)
  })

  t.test('no nonconforming requests', async (t) => assertNoNonconforming(t, sim))
})
