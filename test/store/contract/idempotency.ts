import type { Test } from 'tap'
import { type Setup } from './fixtures.ts'

export function idempotencyContract (tap: Test, setup: Setup): void {
  tap.test('idempotency: claim, complete, replay, mismatch, abandon, per-user keys', async t => {
    const { store } = await setup(t)
    const claim = (user: string, key: string, fp: string) => store.claimIdempotency(user, key, fp, 86_400_000, 60_000)
    const reply = { status: 201, body: { id: 'th_1', nested: [1, { a: null }] }, headers: { location: '/threads/th_1' } }

    t.same(await claim('alice', 'k1', 'fpA'), { state: 'new' })
    t.same(await claim('alice', 'k1', 'fpA'), { state: 'in_progress' })
    t.same(await claim('alice', 'k1', 'fpB'), { state: 'mismatch' }, 'another body while in flight')
    t.same(await claim('bob', 'k1', 'fpA'), { state: 'new' }, 'keys are scoped per user')

    await store.completeIdempotency('alice', 'k1', reply)
    t.same(await claim('alice', 'k1', 'fpA'), { state: 'replay', reply })
    t.same(await claim('alice', 'k1', 'fpA'), { state: 'replay', reply }, 'replays every time')
    t.same(await claim('alice', 'k1', 'fpB'), { state: 'mismatch' })
    t.same(await claim('bob', 'k1', 'fpA'), { state: 'in_progress' }, "alice's answer is not bob's")
    await store.completeIdempotency('alice', 'k1', { status: 200, body: 'other', headers: {} })
    t.same(await claim('alice', 'k1', 'fpA'), { state: 'replay', reply }, 'the first answer stays')
    await store.abandonIdempotency('alice', 'k1')
    t.same(await claim('alice', 'k1', 'fpA'), { state: 'replay', reply }, 'a completed key is not abandoned')

    t.same(await claim('alice', 'k2', 'fpA'), { state: 'new' })
    await store.abandonIdempotency('alice', 'k2')
    t.same(await claim('alice', 'k2', 'fpB'), { state: 'new' }, 'an abandoned key is free, for any body')
    await t.resolves(store.abandonIdempotency('alice', 'k_missing'))

    await store.completeIdempotency('alice', 'k3', reply)
    t.same(await claim('alice', 'k3', 'fpA'), { state: 'new' }, 'completing an unclaimed key stores nothing')
    await store.completeIdempotency('alice', 'k3', { status: 200, body: 'plain text', headers: {} })
    t.same(await claim('alice', 'k3', 'fpA'), { state: 'replay', reply: { status: 200, body: 'plain text', headers: {} } })
  })

  tap.test('idempotency: expiry and abandoned in-flight claims', async t => {
    const { store, clock } = await setup(t)
    const ttl = 60_000
    const inFlight = 10_000
    const claim = (key: string, fp: string) => store.claimIdempotency('alice', key, fp, ttl, inFlight)

    t.same(await claim('k1', 'fpA'), { state: 'new' })
    clock.advance(inFlight - 1)
    t.same(await claim('k1', 'fpA'), { state: 'in_progress' })
    clock.advance(1)
    t.same(await claim('k1', 'fpB'), { state: 'mismatch' }, 'an abandoned claim still belongs to its body')
    t.same(await claim('k1', 'fpA'), { state: 'new' }, 'an in-flight claim past inFlightTtl is reclaimed')
    t.same(await claim('k1', 'fpA'), { state: 'in_progress' }, 'by exactly one caller')

    const reply = { status: 201, body: { ok: true }, headers: {} }
    t.same(await claim('k2', 'fpA'), { state: 'new' })
    await store.completeIdempotency('alice', 'k2', reply)
    clock.advance(ttl - 1)
    t.same(await claim('k2', 'fpA'), { state: 'replay', reply }, 'a completed answer lives ttl')
    clock.advance(1)
    t.same(await claim('k2', 'fpB'), { state: 'new' }, 'after ttl the key is free for any body')
    t.same(await claim('k2', 'fpB'), { state: 'in_progress' })

    t.same(await claim('k3', 'fpA'), { state: 'new' })
    clock.advance(ttl)
    await store.completeIdempotency('alice', 'k3', reply)
    t.same(await claim('k3', 'fpA'), { state: 'new' }, 'completing an expired claim stores nothing')
  })
}
