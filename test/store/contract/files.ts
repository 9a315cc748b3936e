import type { Test } from 'tap'
import { ids, type Setup, walk } from './fixtures.ts'

export function filesContract (tap: Test, setup: Setup): void {
  tap.test('files', async t => {
    const { store } = await setup(t)
    const f = (id: string, owner: string, createdAt: number) => ({
      id, owner, filename: `${id}.png`, bytes: 1234, purpose: 'vision' as const, mime: 'image/png', created_at: createdAt
    })
    await store.createFile(f('file_1', 'alice', 10))
    await store.createFile({ ...f('file_2', 'alice', 20), purpose: 'user_data', mime: 'application/pdf', filename: 'a.pdf' })
    await store.createFile(f('file_3', 'bob', 15))
    await store.createFile(f('file_4', 'alice', 20))
    t.same(await store.getFile('file_1'), f('file_1', 'alice', 10))
    t.equal((await store.getFile('file_2'))?.purpose, 'user_data')
    t.equal(await store.getFile('file_missing'), null)
    await t.rejects(store.createFile(f('file_1', 'bob', 1)), 'a duplicate id is rejected')

    t.same(await walk(q => store.listFiles('alice', q), 2, 'desc'), { all: ['file_4', 'file_2', 'file_1'], pages: 2 })
    t.same(await walk(q => store.listFiles('alice', q), 3, 'asc'), { all: ['file_1', 'file_2', 'file_4'], pages: 1 })
    t.same(await store.listFiles('alice', { limit: 3, order: 'asc', after: 'file_3' }), { data: [], hasMore: false })
    t.same(ids(await store.listFiles('bob', { limit: 10, order: 'asc' })), ['file_3'])

    await store.deleteFile('file_2')
    t.equal(await store.getFile('file_2'), null)
    t.same(ids(await store.listFiles('alice', { limit: 10, order: 'asc' })), ['file_1', 'file_4'])
    await t.resolves(store.deleteFile('file_missing'))
  })
}
