import type { Test } from 'tap'
import { count, range, type Setup } from './fixtures.ts'

export function webhookEventsContract (tap: Test, setup: Setup): void {
  tap.test('webhook deliveries: claimed once, released, expired', async t => {
    const { store, reopen, clock } = await setup(t)
    const other = await reopen()
    t.equal(await store.claimWebhookEvent('wh_1', 60_000), true)
    t.equal(await other.claimWebhookEvent('wh_1', 60_000), false, 'a repeat from any instance has no effect')
    await store.releaseWebhookEvent('wh_1')
    t.equal(await other.claimWebhookEvent('wh_1', 60_000), true, 'a released claim is taken again (a failed handling is retried)')
    await t.resolves(store.releaseWebhookEvent('wh_missing'))

    const racing = await Promise.all(range(20).map(i => (i % 2 ? store : other).claimWebhookEvent('wh_race', 60_000)))
    t.equal(count(racing, true), 1, 'exactly one of racing deliveries is handled')

    if (store.kind === 'sqlite') {
      // SQLite expires on the store's clock; Redis on its own (a TTL), which a fake clock cannot move.
      clock.advance(60_000)
      t.equal(await store.claimWebhookEvent('wh_1', 60_000), true, 'an expired claim is free again')
    }
  })
}
