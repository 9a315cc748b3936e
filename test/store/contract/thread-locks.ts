import type { Test } from 'tap'
import { type Setup } from './fixtures.ts'

export function threadLocksContract (tap: Test, setup: Setup): void {
  tap.test('locks: holders, re-entry, release and fences', async t => {
    const { store } = await setup(t)
    const f1 = await store.acquireLock('k', 'h1', 10_000)
    t.type(f1, 'number')
    t.ok((f1 as number) > 0)
    t.equal(await store.acquireLock('k', 'h2', 10_000), null, 'held by another holder')
    const f2 = await store.acquireLock('k', 'h1', 10_000)
    t.ok((f2 as number) > (f1 as number), 're-entry by the holder succeeds with a larger fence')

    t.equal(await store.renewLock('k', 'h1', 10_000), true)
    t.equal(await store.renewLock('k', 'h2', 10_000), false, 'only the holder renews')
    t.equal(await store.releaseLock('k', 'h2'), false, 'only the holder releases')
    t.equal(await store.acquireLock('k', 'h2', 10_000), null, 'a refused release changed nothing')
    t.equal(await store.releaseLock('k', 'h1'), true)
    t.equal(await store.releaseLock('k', 'h1'), false, 'released once')
    t.equal(await store.renewLock('k', 'h1', 10_000), false, 'a released lock cannot be renewed')

    const f3 = await store.acquireLock('k', 'h2', 10_000)
    t.ok((f3 as number) > (f2 as number), 'the fence keeps increasing after release')
    t.ok(await store.acquireLock('other', 'h1', 10_000), 'keys are independent')
    t.equal(await store.releaseLock('missing', 'h1'), false)
    t.equal(await store.renewLock('missing', 'h1', 1000), false)
  })

  tap.test('locks: expiry', async t => {
    const { store, clock } = await setup(t)
    const f1 = await store.acquireLock('k', 'h1', 1000) as number
    clock.advance(999)
    t.equal(await store.acquireLock('k', 'h2', 1000), null, 'still held just before expiry')
    t.equal(await store.renewLock('k', 'h1', 1000), true, 'renewed: now expires at +1999')
    clock.advance(999)
    t.equal(await store.acquireLock('k', 'h2', 1000), null, 'renewal extended the lease')
    clock.advance(1)
    t.equal(await store.renewLock('k', 'h1', 1000), false, 'an expired lock cannot be renewed')
    t.equal(await store.releaseLock('k', 'h1'), false, 'an expired lock is not released by its former holder')
    const f2 = await store.acquireLock('k', 'h2', 1000) as number
    t.ok(f2 > f1, 'taken over at the expiry instant with a larger fence')
    t.equal(await store.acquireLock('k', 'h1', 1000), null, 'the former holder lost it')
    clock.advance(1000)
    const f3 = await store.acquireLock('k', 'h1', 1000) as number
    t.ok(f3 > f2, 'the fence never goes back, even after expiry')
  })
}
