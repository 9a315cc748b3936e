import type { Test } from 'tap'
import { ids, makeRun, OPTS, type Setup, thread, walk } from './fixtures.ts'

export function threadsContract (tap: Test, setup: Setup): void {
  tap.test('threads: create, get, update, duplicate id', async t => {
    const { store } = await setup(t)
    const a = thread('th_a', 'alice', 100, { title: 'Hello', metadata: { topic: 'x', lang: 'en' } })
    await store.createThread(a)
    t.same(await store.getThread('th_a'), a)
    t.equal(await store.getThread('th_missing'), null)

    await t.rejects(store.createThread(thread('th_a', 'mallory', 1)), 'a duplicate id is rejected')
    t.same(await store.getThread('th_a'), a, 'the original is untouched')

    const renamed = await store.updateThread('th_a', { title: 'Renamed', updated_at: 150 })
    t.same(renamed, { ...a, title: 'Renamed', updated_at: 150, revision: 1 }, 'metadata kept when not in the patch; the revision bumped')
    t.same(await store.getThread('th_a'), renamed)
    const remeta = await store.updateThread('th_a', { metadata: { only: 'this' } })
    t.same(remeta, { ...a, title: 'Renamed', updated_at: 150, metadata: { only: 'this' }, revision: 2 }, 'metadata is replaced, not merged')
    const untitled = await store.updateThread('th_a', { title: null })
    t.equal(untitled?.title, null, 'title can be cleared')
    const estimated = await store.updateThread('th_a', { token_estimate: 1234 })
    t.equal(estimated?.token_estimate, 1234, 'the token estimate is set')
    t.equal((await store.getThread('th_a'))?.token_estimate, 1234)
    t.equal((await store.updateThread('th_a', { title: 'again' }))?.token_estimate, 1234, 'and kept by other patches')
    const before = (await store.getThread('th_a'))!.revision
    t.equal((await store.updateThread('th_a', {}))?.revision, before + 1, 'every update bumps the revision, even an empty one')
    const racers = await Promise.all(Array.from({ length: 10 }, () => store.updateThread('th_a', { token_estimate: 1 })))
    t.same(racers.map(r => r!.revision).sort((x, y) => x - y), Array.from({ length: 10 }, (_, i) => before + 2 + i), 'concurrent updates each get their own revision')
    t.equal(await store.updateThread('th_missing', { title: 'x' }), null)
    t.equal(await store.getThread('th_missing'), null, 'update does not create')
  })

  tap.test('threads: listing by owner, cursor pagination in both orders', async t => {
    const { store } = await setup(t)
    // Inserted out of created_at order, with a tie (a2/a3) that insertion order breaks.
    await store.createThread(thread('a1', 'alice', 100))
    await store.createThread(thread('a2', 'alice', 200))
    await store.createThread(thread('b1', 'bob', 150))
    await store.createThread(thread('a3', 'alice', 200))
    await store.createThread(thread('a4', 'alice', 300))
    await store.createThread(thread('a5', 'alice', 50))
    const asc = ['a5', 'a1', 'a2', 'a3', 'a4']
    const desc = [...asc].reverse()

    let page = await store.listThreads('alice', { limit: 2, order: 'asc' })
    t.same(ids(page), ['a5', 'a1'])
    t.equal(page.hasMore, true)
    page = await store.listThreads('alice', { limit: 2, order: 'asc', after: 'a1' })
    t.same(ids(page), ['a2', 'a3'])
    t.equal(page.hasMore, true)
    page = await store.listThreads('alice', { limit: 2, order: 'asc', after: 'a3' })
    t.same(ids(page), ['a4'])
    t.equal(page.hasMore, false)

    page = await store.listThreads('alice', { limit: 2, order: 'desc' })
    t.same(ids(page), ['a4', 'a3'])
    page = await store.listThreads('alice', { limit: 2, order: 'desc', after: 'a3' })
    t.same(ids(page), ['a2', 'a1'])
    t.equal(page.hasMore, true)

    t.same(await walk(q => store.listThreads('alice', q), 1, 'asc'), { all: asc, pages: 5 })
    t.same(await walk(q => store.listThreads('alice', q), 3, 'desc'), { all: desc, pages: 2 })
    t.same(page.data[0], thread('a2', 'alice', 200), 'pages carry whole records')

    page = await store.listThreads('alice', { limit: 5, order: 'desc' })
    t.same(ids(page), desc)
    t.equal(page.hasMore, false, 'exactly limit rows: no more')
    page = await store.listThreads('alice', { limit: 4, order: 'desc' })
    t.equal(page.hasMore, true, 'one row beyond the limit: more')
    page = await store.listThreads('alice', { limit: 2, order: 'desc', after: 'a1' })
    t.same(ids(page), ['a5'])
    t.equal(page.hasMore, false, 'last row exactly fills the page')
    page = await store.listThreads('alice', { limit: 2, order: 'asc', after: 'a4' })
    t.same(page, { data: [], hasMore: false }, 'after the last row')

    t.same(await store.listThreads('alice', { limit: 10, order: 'asc', after: 'nope' }), { data: [], hasMore: false },
      'unknown cursor: empty page')
    t.same(await store.listThreads('alice', { limit: 10, order: 'asc', after: 'b1' }), { data: [], hasMore: false },
      "another owner's id is no cursor")
    t.same(ids(await store.listThreads('bob', { limit: 10, order: 'desc' })), ['b1'])
    t.same(await store.listThreads('carol', { limit: 10, order: 'desc' }), { data: [], hasMore: false })
  })

  tap.test('threads: delete removes the thread, its messages and its runs, nothing else', async t => {
    const { store } = await setup(t)
    await store.createThread(thread('th_1', 'alice', 1))
    await store.createThread(thread('th_2', 'alice', 2))
    await store.putMessages([
      { thread_id: 'th_1', item_id: 'msg_1', created_at: 1, run_id: null, attachments: [], metadata: null, assistant_id: null },
      { thread_id: 'th_2', item_id: 'msg_2', created_at: 1, run_id: null, attachments: [], metadata: null, assistant_id: null }
    ])
    t.same((await store.createRun(makeRun('run_1', 'th_1', 'alice'), OPTS)), { ok: true })
    t.same((await store.createRun(makeRun('run_2', 'th_2', 'alice'), OPTS)), { ok: true })
    t.ok(await store.lockThread('unrelated', 'me', 60_000))

    await store.deleteThread('th_1')
    t.equal(await store.getThread('th_1'), null)
    t.equal((await store.getMessages('th_1', ['msg_1'])).size, 0)
    t.equal(await store.getRun('run_1'), null)
    t.same(await store.listRuns('th_1', { limit: 10, order: 'asc' }), { data: [], hasMore: false })
    t.same(ids(await store.listThreads('alice', { limit: 10, order: 'asc' })), ['th_2'])

    t.ok(await store.getThread('th_2'), 'other threads stay')
    t.equal((await store.getMessages('th_2', ['msg_2'])).size, 1)
    t.ok(await store.getRun('run_2'))
    t.equal(await store.lockThread('unrelated', 'other', 60_000), null, 'unrelated locks stay')
    await t.resolves(store.deleteThread('th_missing'), 'deleting an unknown thread is a no-op')
  })
}
