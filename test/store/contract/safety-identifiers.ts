import type { Test } from 'tap'
import { range, type Setup } from './fixtures.ts'

export function safetyIdentifiersContract (tap: Test, setup: Setup): void {
  tap.test('safety identifiers: the reverse index, first writer stays, shared by handles', async t => {
    const { store, reopen } = await setup(t)
    const other = await reopen()
    t.equal(await store.userOfSafetyIdentifier('sid_1'), null)
    await store.indexSafetyIdentifier('sid_1', 'alice')
    await store.indexSafetyIdentifier('sid_1', 'alice')
    t.equal(await other.userOfSafetyIdentifier('sid_1'), 'alice')
    await other.indexSafetyIdentifier('sid_1', 'mallory')
    t.equal(await store.userOfSafetyIdentifier('sid_1'), 'alice', 'an identifier is never re-pointed')
    await Promise.all(range(10).map(i => (i % 2 ? store : other).indexSafetyIdentifier(`sid_${i + 10}`, `user:${i}`)))
    t.same(await Promise.all(range(10).map(i => store.userOfSafetyIdentifier(`sid_${i + 10}`))), range(10).map(i => `user:${i}`))
  })
}
