import type { Test } from 'tap'
import type { MessageRecord } from '../../../services/store/types.ts'
import type { Setup } from './fixtures.ts'

export function messagesContract (tap: Test, setup: Setup): void {
  tap.test('message index', async t => {
    const { store } = await setup(t)
    const none = { metadata: null, assistant_id: null }
    const m1: MessageRecord = { thread_id: 'th_1', item_id: 'msg_1', created_at: 10, run_id: null, attachments: [], ...none }
    const m2: MessageRecord = { thread_id: 'th_1', item_id: 'msg_2', created_at: 11, run_id: 'run_1', attachments: ['file_a', 'file_b'], metadata: { k: 'v' }, assistant_id: 'mentor' }
    const other: MessageRecord = { thread_id: 'th_2', item_id: 'msg_3', created_at: 12, run_id: null, attachments: [], ...none }
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

    t.equal(await store.deleteMessage('th_1', 'msg_2'), true)
    t.equal(await store.deleteMessage('th_1', 'msg_2'), false, 'a message already forgotten')
    t.equal(await store.deleteMessage('th_1', 'msg_3'), false, 'another thread\'s message is not this thread\'s')
    t.same([...(await store.getMessages('th_1', ['msg_1', 'msg_2'])).keys()], ['msg_1'])
    t.equal((await store.getMessages('th_2', ['msg_3'])).size, 1)
  })
}
