import type { Test } from 'tap'
import type { Setup } from './fixtures.ts'

export function messagesContract (tap: Test, setup: Setup): void {
  tap.test('message index', async t => {
    const { store } = await setup(t)
    const m1 = { thread_id: 'th_1', item_id: 'msg_1', created_at: 10, run_id: null, attachments: [] }
    const m2 = { thread_id: 'th_1', item_id: 'msg_2', created_at: 11, run_id: 'run_1', attachments: ['file_a', 'file_b'] }
    const other = { thread_id: 'th_2', item_id: 'msg_3', created_at: 12, run_id: null, attachments: [] }
    await store.putMessages([m1, m2, other])
    await store.putMessages([])

    const found = await store.getMessages('th_1', ['msg_1', 'msg_2', 'msg_missing', 'msg_3'])
    t.same([...found.keys()].sort(), ['msg_1', 'msg_2'], 'missing ids and other threads are absent')
    t.same(found.get('msg_1'), m1)
    t.same(found.get('msg_2'), m2)
    t.equal((await store.getMessages('th_1', [])).size, 0)
    t.equal((await store.getMessages('th_2', ['msg_1'])).size, 0)

    await store.putMessages([{ ...m1, run_id: 'run_9', attachments: ['file_c'] }])
    t.same((await store.getMessages('th_1', ['msg_1'])).get('msg_1'), { ...m1, run_id: 'run_9', attachments: ['file_c'] },
      'put overwrites')
  })
}
