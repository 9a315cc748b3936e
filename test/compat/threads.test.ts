import t from 'tap'
import { forEachSdk, setup, refusal, all, THREADS, checkMessage, MESSAGES } from './helpers.ts'
import { THREAD_KEYS, hasEveryField, textOf } from './shapes.ts'
import { pdf } from '../fixtures/samples.ts'

// beta.threads (create with a user and an assistant message, metadata; retrieve, update, del) and beta.threads.messages (create, retrieve, update, del, list with auto-pagination in both orders).
forEachSdk(t, (test, factory) => {
  test('threads: create with user and assistant messages and metadata, retrieve, update, delete', async t => {
    const ctx = await setup(t, factory)
    const { sdk } = ctx
    const thread = await sdk.threads.create({
      messages: [{ role: 'user', content: 'Hello there' }, { role: 'assistant', content: 'Hi, how can I help?' }],
      metadata: { course: 'ts-101' }
    })
    hasEveryField(t, thread, THREAD_KEYS, 'thread')
    t.match(thread, { object: 'thread', metadata: { course: 'ts-101' }, tool_resources: null })
    t.type(thread.created_at, 'number')
    t.same(await sdk.threads.retrieve(thread.id), thread, 'retrieve gives the same thread')

    const updated = await sdk.threads.update(thread.id, { metadata: { course: 'ts-102' } })
    t.same(updated.metadata, { course: 'ts-102' })
    t.same((await sdk.threads.retrieve(thread.id)).metadata, { course: 'ts-102' }, 'the update is stored')

    const messages = await all(sdk.messages.list(thread.id, { order: 'asc' }))
    t.same(messages.map(m => [m.role, textOf(m)]), [['user', 'Hello there'], ['assistant', 'Hi, how can I help?']], 'both messages, the assistant one too')

    const deleted = await sdk.threads.del(thread.id)
    t.same(deleted, { id: thread.id, object: 'thread.deleted', deleted: true })
    const del = ctx.wire.entries.find(e => e.method === 'DELETE' && THREADS.test(e.path))
    t.equal(del?.status, 200, 'the SDK\'s DELETE (content-type json, no body) is answered 200')
    const gone = await refusal(t, sdk.threads.retrieve(thread.id), sdk.errors.NotFoundError, 'retrieve after delete')
    t.equal(gone.code, 'NOT_FOUND')
    t.same(ctx.sim.nonconforming(), [])
  })

  test('messages: create with metadata and attachments with tools, retrieve, update, delete, list auto-paginated in both orders', async t => {
    const ctx = await setup(t, factory)
    const { sdk, wire } = ctx
    const file = await sdk.files.create(pdf(), 'notes.pdf', 'assistants')
    const thread = await sdk.threads.create()
    const first = await sdk.messages.create(thread.id, {
      role: 'user',
      content: 'Read my notes',
      metadata: { source: 'upload' },
      attachments: [{ file_id: file.id, tools: [{ type: 'file_search' }] }]
    })
    checkMessage(t, first, 'message')
    t.match(first, {
      thread_id: thread.id,
      role: 'user',
      status: 'completed',
      assistant_id: null,
      run_id: null,
      metadata: { source: 'upload' },
      attachments: [{ file_id: file.id, tools: [{ type: 'file_search' }] }]
    })
    t.equal(textOf(first), 'Read my notes')
    t.same(await sdk.messages.retrieve(thread.id, first.id), first, 'retrieve gives the same message')

    const updated = await sdk.messages.update(thread.id, first.id, { metadata: { source: 'edited' } })
    t.same(updated.metadata, { source: 'edited' })
    t.same((await sdk.messages.retrieve(thread.id, first.id)).metadata, { source: 'edited' }, 'the update is stored')

    const reply = await sdk.messages.create(thread.id, { role: 'assistant', content: 'Noted.' })
    t.equal(reply.role, 'assistant', 'an assistant message shapes the caller\'s own thread')
    for (const n of [3, 4, 5]) await sdk.messages.create(thread.id, { role: 'user', content: `message ${n}` })
    const expected = ['Read my notes', 'Noted.', 'message 3', 'message 4', 'message 5']

    const mark = wire.mark()
    const asc = await all(sdk.messages.list(thread.id, { order: 'asc', limit: 2 }))
    t.same(asc.map(textOf), expected, 'for await walks every page, oldest first')
    t.equal(wire.since(mark).filter(e => e.method === 'GET' && MESSAGES.test(e.path)).length, 3, 'three pages of two')
    const desc = await all(sdk.messages.list(thread.id, { order: 'desc', limit: 2 }))
    t.same(desc.map(textOf), [...expected].reverse(), 'newest first')
    const page = await sdk.messages.page(thread.id, { limit: 2 })
    t.equal(page.data.length, 2)
    t.ok(page.hasNextPage(), 'the first page says there is more')

    const deleted = await sdk.messages.del(thread.id, reply.id)
    t.same(deleted, { id: reply.id, object: 'thread.message.deleted', deleted: true })
    await refusal(t, sdk.messages.retrieve(thread.id, reply.id), sdk.errors.NotFoundError, 'retrieve a deleted message')
    t.same((await all(sdk.messages.list(thread.id, { order: 'asc' }))).map(textOf), expected.filter(x => x !== 'Noted.'), 'gone from the list')
    t.same(ctx.sim.nonconforming(), [])
  })

  test('the list parameters the SDK declares besides after: messages.list run_id and before, runs.list before', async t => {
    const { sdk, sim } = await setup(t, factory)
    const thread = await sdk.threads.create({ messages: [{ role: 'user', content: 'first question' }] })
    const first = await sdk.runs.createAndPoll(thread.id, { assistant_id: 'mentor' })
    await sdk.messages.create(thread.id, { role: 'user', content: 'second question' })
    const second = await sdk.runs.createAndPoll(thread.id, { assistant_id: 'mentor' })

    const ofFirst = await all(sdk.messages.list(thread.id, { run_id: first.id }))
    t.same(ofFirst.map(m => [m.role, m.run_id]), [['assistant', first.id]], 'run_id: only the messages that run created')
    t.match(ofFirst[0] && textOf(ofFirst[0]), /first question/)

    const asc = await all(sdk.messages.list(thread.id, { order: 'asc' }))
    t.equal(asc.length, 4)
    const before = await sdk.messages.page(thread.id, { order: 'asc', before: asc[2]!.id })
    t.same(before.data.map(m => m.id), [asc[0]!.id, asc[1]!.id], 'before: the messages ahead of the cursor')

    const runsBefore = await all(sdk.runs.list(thread.id, { order: 'desc', before: first.id }))
    t.same(runsBefore.map(r => r.id), [second.id], 'runs.list before: the newer run')
    t.same(sim.nonconforming(), [])
  })
})
