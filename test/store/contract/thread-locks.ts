import type { Test } from 'tap'
import { type Setup } from './fixtures.ts'

export function threadLocksContract (tap: Test, setup: Setup): void {
  tap.test('thread locks: holders, re-entry, release and fences', async t => {
    const { store } = await setup(t)
    const f1 = await store.lockThread('k', 'h1', 10_000)
    t.type(f1, 'number')
    t.ok((f1 as number) > 0)
    t.equal(await store.lockThread('k', 'h2', 10_000), null, 'held by another holder')
    const f2 = await store.lockThread('k', 'h1', 10_000)
    t.ok((f2 as number) > (f1 as number), 're-entry by the holder succeeds with a larger fence')

    t.equal(await store.unlockThread('k', 'h2'), false, 'only the holder releases')
    t.equal(await store.lockThread('k', 'h2', 10_000), null, 'a refused release changed nothing')
    t.equal(await store.unlockThread('k', 'h1'), true)
    t.equal(await store.unlockThread('k', 'h1'), false, 'released once')

    const f3 = await store.lockThread('k', 'h2', 10_000)
    t.ok((f3 as number) > (f2 as number), 'the fence keeps increasing after release')
    t.ok(await store.lockThread('other', 'h1', 10_000), 'threads are independent')
    t.equal(await store.unlockThread('missing', 'h1'), false)
  })

  tap.test('thread locks: expiry', async t => {
    const { store, clock } = await setup(t)
    const f1 = await store.lockThread('k', 'h1', 1000) as number
    clock.advance(999)
    t.equal(await store.lockThread('k', 'h2', 1000), null, 'still held just before expiry')
    t.ok(await store.lockThread('k', 'h1', 1000), 're-taken by its holder: now expires at +1999')
    clock.advance(999)
    t.equal(await store.lockThread('k', 'h2', 1000), null, 're-taking extended the lease')
    clock.advance(1)
    t.equal(await store.unlockThread('k', 'h1'), false, 'an expired lock is not released by its former holder')
    const f2 = await store.lockThread('k', 'h2', 1000) as number
    t.ok(f2 > f1, 'taken over at the expiry instant with a larger fence')
    t.equal(await store.lockThread('k', 'h1', 1000), null, 'the former holder lost it')
    clock.advance(1000)
    const f3 = await store.lockThread('k', 'h1', 1000) as number
    t.ok(f3 > f2, 'the fence never goes back, even after expiry')
  })
}
