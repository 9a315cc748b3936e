import type { Test } from 'tap'
import { range, type Setup, thread } from './fixtures.ts'

const file = (id: string, owner: string, createdAt = 10) =>
  ({ id, owner, filename: `${id}.png`, bytes: 1, purpose: 'vision' as const, mime: 'image/png', created_at: createdAt })

export function ownerCapsContract (tap: Test, setup: Setup): void {
  tap.test('per-owner caps: counts, a create at the cap writes nothing, a delete frees a place', async t => {
    const { store } = await setup(t)
    t.equal(await store.countThreads('alice'), 0)
    t.equal(await store.createThread(thread('th_1', 'alice', 1)), true, 'no cap: created')
    t.equal(await store.createThread(thread('th_2', 'alice', 2), 3), true)
    t.equal(await store.createThread(thread('th_3', 'alice', 3), 3), true)
    t.equal(await store.createThread(thread('th_b', 'bob', 3), 1), true, 'caps are per owner')
    t.equal(await store.createThread(thread('th_4', 'alice', 4), 3), false, 'alice holds 3: refused')
    t.equal(await store.getThread('th_4'), null, 'nothing written')
    t.same((await store.listThreads('alice', { limit: 10, order: 'asc' })).data.map(x => x.id), ['th_1', 'th_2', 'th_3'])
    t.equal(await store.countThreads('alice'), 3)
    t.equal(await store.countThreads('bob'), 1)
    t.equal(await store.createThread(thread('th_5', 'alice', 5), 0), false, 'a cap of 0 admits nothing')
    await store.deleteThread('th_2')
    t.equal(await store.countThreads('alice'), 2)
    t.equal(await store.createThread(thread('th_4', 'alice', 4), 3), true, 'a deleted thread frees its place')
    await t.rejects(store.createThread(thread('th_4', 'alice', 4), 10), 'a duplicate id is still an error')

    t.equal(await store.countFiles('alice'), 0)
    t.equal(await store.createFile(file('file_1', 'alice')), true)
    t.equal(await store.createFile(file('file_2', 'alice'), 2), true)
    t.equal(await store.createFile(file('file_3', 'alice'), 2), false)
    t.equal(await store.getFile('file_3'), null)
    t.equal(await store.countFiles('alice'), 2)
    t.equal(await store.countFiles('bob'), 0)
    await store.deleteFile('file_1')
    t.equal(await store.createFile(file('file_3', 'alice'), 2), true)
    t.equal(await store.countFiles('alice'), 2)
  })

  tap.test('per-owner caps hold under concurrent creates on two handles', async t => {
    const { store, reopen } = await setup(t)
    const other = await reopen()
    const handle = (i: number) => (i % 2 === 0 ? store : other)
    await store.createThread(thread('th_old', 'alice', 1))
    const threads = await Promise.all(range(30).map(i => handle(i).createThread(thread(`th_${i}`, 'alice', 10 + i), 5)))
    t.equal(threads.filter(Boolean).length, 4, 'one held already: exactly four more of thirty')
    t.equal(await other.countThreads('alice'), 5)
    t.equal((await store.listThreads('alice', { limit: 50, order: 'asc' })).data.length, 5)
    const files = await Promise.all(range(30).map(i => handle(i).createFile(file(`file_${i}`, 'bob'), 7)))
    t.equal(files.filter(Boolean).length, 7, 'exactly the cap of thirty racing uploads')
    t.equal(await store.countFiles('bob'), 7)
  })
}
