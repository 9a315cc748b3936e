import type { Test } from 'tap'
import { count, DAY, limits, makeRun, NEXT_DAY, OPTS, profile, range, reservation, type Setup, thread, usage } from './fixtures.ts'

export function handlesContract (tap: Test, setup: Setup): void {
  tap.test('ping and kind', async t => {
    const { store } = await setup(t)
    await t.resolves(store.ping())
    t.ok(store.kind === 'sqlite' || store.kind === 'redis')
  })

  tap.test('data is shared between handles and survives closing one', async t => {
    const { store, reopen, clock } = await setup(t)
    await store.createThread(thread('th_1', 'alice', 1))
    await store.createRun(makeRun('run_1', 'th_1', 'alice'), OPTS)
    await store.lockThread('k', 'h1', 60_000)
    await store.reserveBudget(reservation('r1', { tokens: 10 }), limits())
    await store.putAssistant(profile('curator'), 0, 1)
    await store.claimIdempotency('alice', 'k1', 'fp', 60_000, 60_000)
    await store.recordUsage('u1', usage({ total_tokens: 5 }))

    const other = await reopen()
    t.same(await other.getThread('th_1'), thread('th_1', 'alice', 1))
    t.equal((await other.getRun('run_1'))?.status, 'queued')
    t.equal(await other.lockThread('k', 'h2', 60_000), null, 'a lock taken on one handle holds on the other')
    t.same(await other.createRun(makeRun('run_2', 'th_1', 'alice'), OPTS), { ok: false, reason: 'thread_busy' })
    t.same(await other.claimIdempotency('alice', 'k1', 'fp', 60_000, 60_000), { state: 'in_progress' })
    t.match(await other.budgetCounters(DAY, 'alice'), { reserved_user_tokens: 10, user_tokens: 5 })
    t.equal((await other.getAssistant('curator'))?.version, 1)
    t.equal(await other.recordUsage('u1', usage({ total_tokens: 5 })), false)

    await store.close()
    await t.resolves(store.close(), 'close is idempotent')
    await t.rejects(store.ping(), 'a closed handle rejects')
    await t.rejects(store.getThread('th_1'))
    await t.rejects(store.lockThread('k2', 'h', 1000))

    const third = await reopen()
    t.ok(await third.getThread('th_1'), 'data outlives a closed handle')
    t.equal(await third.releaseBudget('r1'), true)
    clock.advance(60_000)
    t.ok(await third.lockThread('k', 'h3', 1000), 'handles share the clock-driven expiry')
  })

  tap.test('concurrency: racing handles', async t => {
    const { store, reopen } = await setup(t)
    const other = await reopen()
    const handle = (i: number) => (i % 2 === 0 ? store : other)

    const fences = await Promise.all(range(20).map(i => handle(i).lockThread('race', `h${i}`, 60_000)))
    t.equal(fences.filter(f => f !== null).length, 1, 'exactly one holder wins a lock')
    const winner = fences.findIndex(f => f !== null)
    t.equal(await handle(winner + 1).unlockThread('race', `h${winner}`), true, 'and it is the one recorded')

    const claims = await Promise.all(range(20).map(i => handle(i).claimIdempotency('alice', 'k', 'fp', 60_000, 60_000)))
    t.equal(count(claims.map(c => c.state), 'new'), 1, 'exactly one caller claims an idempotency key')
    t.equal(count(claims.map(c => c.state), 'in_progress'), 19)

    const runs = await Promise.all(range(20).map(i => handle(i).createRun(makeRun(`run_${i}`, 'th_1', 'alice'), OPTS)))
    t.equal(runs.filter(r => r.ok).length, 1, 'exactly one run starts on a thread')
    t.ok(runs.every(r => r.ok || r.reason === 'thread_busy'))
    t.equal((await store.listRuns('th_1', { limit: 50, order: 'asc' })).data.length, 1)

    const capped = await Promise.all(range(20).map(i =>
      handle(i).createRun(makeRun(`run_c${i}`, `th_c${i}`, 'bob'), { ...OPTS, maxActivePerUser: 3 })))
    t.equal(capped.filter(r => r.ok).length, 3, 'exactly maxActivePerUser runs start')

    const started = `run_c${capped.findIndex(r => r.ok)}`
    const claimed = await Promise.all(range(10).map(i => handle(i).claimRun(started, `w${i}`, 60_000)))
    t.equal(claimed.filter(f => f !== null).length, 1, 'exactly one worker claims a run')
  })

  tap.test('concurrency: budgets hold under racing reservations', async t => {
    const { store, reopen } = await setup(t)
    const other = await reopen()
    const handle = (i: number) => (i % 2 === 0 ? store : other)

    const user = await Promise.all(range(20).map(i =>
      handle(i).reserveBudget(reservation(`r${i}`, { tokens: 10 }), limits({ userTokens: 50 }))))
    t.equal(user.filter(r => r.ok).length, 5, 'a user budget that fits 5 admits exactly 5')
    t.equal((await other.budgetCounters(DAY, 'alice')).reserved_user_tokens, 50)

    const global = await Promise.all(range(20).map(i =>
      handle(i).reserveBudget(reservation(`g${i}`, { user: `user${i % 4}`, tokens: 10, day: NEXT_DAY }), limits({ globalTokens: 50 }))))
    t.equal(global.filter(r => r.ok).length, 5, 'a global budget that fits 5 admits exactly 5 across users')

    const winner = user.findIndex(r => r.ok)
    const settles = await Promise.all(range(10).map(i => handle(i).settleBudget(`r${winner}`, usage({ total_tokens: 7 }))))
    t.equal(settles.filter(Boolean).length, 1, 'a reservation settles once')
    const records = await Promise.all(range(10).map(i => handle(i).recordUsage('resp_1', usage({ total_tokens: 3 }))))
    t.equal(records.filter(Boolean).length, 1, 'usage is recorded once')
    t.match(await store.budgetCounters(DAY, 'alice'), { user_tokens: 10, reserved_user_tokens: 40 })
  })
}
