import type { Test } from 'tap'
import type { RunRecord } from '../../../services/store/types.ts'
import { ids, makeRun, OPTS, type Setup, T0, TERMINAL, walk } from './fixtures.ts'

export function runsContract (tap: Test, setup: Setup): void {
  tap.test('runs: create, get, list by thread', async t => {
    const { store } = await setup(t)
    const rich = makeRun('run_1', 'th_1', 'alice', {
      status: 'in_progress',
      created_at: 10,
      started_at: 11,
      temperature: 0.4,
      top_p: 0.8,
      max_output_tokens: 500,
      stream: true,
      response_ids: ['resp_1', 'resp_2'],
      settled_response_ids: ['resp_1'],
      usage: { input_tokens: 10, cached_tokens: 2, cache_write_tokens: 0, output_tokens: 5, reasoning_tokens: 1, total_tokens: 15 },
      last_error: { code: 'x', message: 'y' },
      incomplete_details: { reason: 'max_output_tokens' },
      tool_rounds: 2,
      cancel_requested: true,
      reservation_id: 'res_1'
    })
    t.same(await store.createRun(rich, OPTS), { ok: true })
    t.strictSame(await store.getRun('run_1'), rich, 'every field round-trips with its type')
    t.equal(await store.getRun('run_missing'), null)

    for (const [i, id] of ['run_2', 'run_3'].entries()) {
      t.ok(await store.updateRun(i === 0 ? 'run_1' : 'run_2', { status: 'completed' }, null))
      t.same(await store.createRun(makeRun(id, 'th_1', 'alice', { created_at: 20 + i }), OPTS), { ok: true })
    }
    t.same(await store.createRun(makeRun('run_4', 'th_2', 'alice', { created_at: 15 }), OPTS), { ok: true })
    t.same(await walk(q => store.listRuns('th_1', q), 2, 'asc'), { all: ['run_1', 'run_2', 'run_3'], pages: 2 })
    t.same(await walk(q => store.listRuns('th_1', q), 2, 'desc'), { all: ['run_3', 'run_2', 'run_1'], pages: 2 })
    t.same(await store.listRuns('th_1', { limit: 5, order: 'asc', after: 'run_4' }), { data: [], hasMore: false },
      "another thread's run is no cursor")
    t.same(ids(await store.listRuns('th_2', { limit: 5, order: 'asc' })), ['run_4'])
    t.same(await store.listRuns('th_none', { limit: 5, order: 'asc' }), { data: [], hasMore: false })
  })

  tap.test('runs: one active run per thread (thread_busy)', async t => {
    const { store, clock } = await setup(t)
    t.same(await store.createRun(makeRun('run_1', 'th_1', 'alice'), OPTS), { ok: true })
    t.equal(await store.lockThread('th_1', 'request', 1000), null, 'the run holds the thread lock')
    t.same(await store.createRun(makeRun('run_2', 'th_1', 'alice'), OPTS), { ok: false, reason: 'thread_busy' })
    t.equal(await store.getRun('run_2'), null, 'nothing written')
    t.same(ids(await store.listRuns('th_1', { limit: 10, order: 'asc' })), ['run_1'])
    t.same(await store.createRun(makeRun('run_3', 'th_1', 'bob'), OPTS), { ok: false, reason: 'thread_busy' }, 'whoever asks')

    // A short write lock (e.g. a message being added) also makes the thread busy.
    t.ok(await store.lockThread('th_2', 'request', 5000))
    t.same(await store.createRun(makeRun('run_4', 'th_2', 'alice'), OPTS), { ok: false, reason: 'thread_busy' })
    t.equal(await store.getRun('run_4'), null)
    t.equal(await store.unlockThread('th_2', 'request'), true, 'a failed createRun left the write lock alone')
    t.same(await store.createRun(makeRun('run_4', 'th_2', 'alice'), OPTS), { ok: true })

    // thread_busy is reported before too_many_active.
    t.same(await store.createRun(makeRun('run_5', 'th_1', 'alice'), { ...OPTS, maxActivePerUser: 1 }),
      { ok: false, reason: 'thread_busy' })

    // The lock decides: once it expires (the driver stopped renewing it), the thread takes a new run.
    clock.advance(OPTS.threadLockTtlMs - 1)
    t.same(await store.createRun(makeRun('run_6', 'th_1', 'alice'), OPTS), { ok: false, reason: 'thread_busy' })
    clock.advance(1)
    t.same(await store.createRun(makeRun('run_6', 'th_1', 'alice'), OPTS), { ok: true })
    t.equal(await store.lockThread('th_1', 'request', 1000), null, 'now held for the new run')
    await t.rejects(store.createRun(makeRun('run_6', 'th_9', 'alice'), OPTS), 'a duplicate run id is rejected')
    t.ok(await store.lockThread('th_9', 'request', 1000), 'and takes no lock')
  })

  tap.test('runs: too_many_active per owner', async t => {
    const { store } = await setup(t)
    const opts = { ...OPTS, maxActivePerUser: 2 }
    t.same(await store.createRun(makeRun('run_1', 'th_1', 'alice'), opts), { ok: true })
    t.same(await store.createRun(makeRun('run_2', 'th_2', 'alice', { status: 'in_progress' }), opts), { ok: true })
    t.same(await store.createRun(makeRun('run_3', 'th_3', 'alice'), opts), { ok: false, reason: 'too_many_active' })
    t.equal(await store.getRun('run_3'), null, 'nothing written')
    t.ok(await store.lockThread('th_3', 'probe', 1000), 'the thread lock was not taken')
    t.equal(await store.unlockThread('th_3', 'probe'), true)
    t.same(await store.createRun(makeRun('run_b', 'th_b', 'bob'), opts), { ok: true }, 'other owners are not affected')

    t.ok(await store.updateRun('run_1', { status: 'completed' }, null))
    t.same(await store.createRun(makeRun('run_3', 'th_3', 'alice'), opts), { ok: true }, 'a finished run frees a slot')
    t.ok(await store.updateRun('run_2', { status: 'cancelling', cancel_requested: true }, null))
    t.same(await store.createRun(makeRun('run_4', 'th_4', 'alice'), opts), { ok: false, reason: 'too_many_active' },
      'cancelling still counts as active')
    t.same(await store.createRun(makeRun('run_5', 'th_5', 'carol'), { ...opts, maxActivePerUser: 0 }),
      { ok: false, reason: 'too_many_active' }, 'a limit of 0 admits nothing')
  })

  tap.test('runs: a terminal update frees the thread and clears the lease', async t => {
    const { store, clock } = await setup(t)
    for (const [i, status] of TERMINAL.entries()) {
      const threadId = `th_${status}`
      t.same(await store.createRun(makeRun(`run_${i}`, threadId, 'alice'), OPTS), { ok: true })
      const fence = await store.claimRun(`run_${i}`, 'w1', 10_000) as number
      const progressed = await store.updateRun(`run_${i}`, { status: 'in_progress', started_at: 5 }, fence)
      t.equal(progressed?.status, 'in_progress')
      t.equal(await store.lockThread(threadId, 'probe', 1000), null, `${status}: held while running`)

      const done = await store.updateRun(`run_${i}`, { status, completed_at: 9 }, fence)
      t.match(done, { id: `run_${i}`, status, completed_at: 9, started_at: 5, lease_owner: null, lease_expires_at: 0, fence })
      t.same(await store.getRun(`run_${i}`), done, 'the returned record is the stored one')
      t.same(await store.createRun(makeRun(`run_${i}_next`, threadId, 'alice'), OPTS), { ok: true },
        `${status}: the thread takes a new run`)
    }

    // The run only releases the lock if it still holds it.
    t.same(await store.createRun(makeRun('run_x', 'th_x', 'alice'), OPTS), { ok: true })
    clock.advance(OPTS.threadLockTtlMs)
    t.ok(await store.lockThread('th_x', 'writer', 60_000))
    t.ok(await store.updateRun('run_x', { status: 'failed' }, null))
    t.equal(await store.lockThread('th_x', 'probe', 1000), null, "another holder's lock stays")
  })

  tap.test('runs: updateRun patches, terminal is final, identity and lease are not patchable', async t => {
    const { store } = await setup(t)
    const original = makeRun('run_1', 'th_1', 'alice')
    t.same(await store.createRun(original, OPTS), { ok: true })
    const fence = await store.claimRun('run_1', 'w1', 10_000) as number
    const claimed = await store.getRun('run_1') as RunRecord

    const patched = await store.updateRun('run_1', {
      ...claimed, id: 'run_other', thread_id: 'th_other', owner: 'mallory', lease_owner: 'w9', lease_expires_at: 1, fence: 99, tool_rounds: 3
    }, null)
    t.same(patched, { ...claimed, tool_rounds: 3 }, 'only the mutable fields changed')
    t.same(await store.getRun('run_1'), patched)
    t.equal(await store.getRun('run_other'), null)
    t.same(await store.updateRun('run_1', { response_ids: ['resp_1'], reservation_id: null }, fence),
      { ...claimed, tool_rounds: 3, response_ids: ['resp_1'] })
    t.equal(await store.updateRun('run_missing', { tool_rounds: 1 }, null), null)

    t.ok(await store.updateRun('run_1', { status: 'completed' }, fence))
    t.equal(await store.updateRun('run_1', { status: 'cancelling', cancel_requested: true }, null), null,
      'a late cancel does not reopen a finished run')
    t.match(await store.getRun('run_1'), { status: 'completed', cancel_requested: false })
    t.match(await store.updateRun('run_1', { cancel_requested: true }, null), { status: 'completed', cancel_requested: true },
      'flags can still be set')
    t.same(await store.createRun(makeRun('run_2', 'th_2', 'alice'), { ...OPTS, maxActivePerUser: 1 }), { ok: true },
      'the finished run is not active')
  })

  tap.test('runs: leases and fencing', async t => {
    const { store, clock } = await setup(t)
    t.same(await store.createRun(makeRun('run_1', 'th_1', 'alice'), OPTS), { ok: true })
    const f1 = await store.claimRun('run_1', 'w1', 10_000) as number
    t.ok(f1 > 0, 'claim returns a fence above the initial one')
    t.match(await store.getRun('run_1'), { lease_owner: 'w1', lease_expires_at: T0 + 10_000, fence: f1 })
    t.equal(await store.claimRun('run_1', 'w2', 10_000), null, 'another worker cannot claim a live lease')
    const f2 = await store.claimRun('run_1', 'w1', 10_000) as number
    t.ok(f2 > f1, "the lease's own worker re-claims with a new fence")

    t.equal(await store.updateRun('run_1', { tool_rounds: 1 }, f1), null, 'stale fence rejected')
    t.equal((await store.getRun('run_1'))?.tool_rounds, 0, 'nothing written')
    t.equal((await store.updateRun('run_1', { tool_rounds: 1 }, f2))?.tool_rounds, 1)

    clock.advance(5000)
    t.equal(await store.renewRun('run_1', 'w1', f2, 10_000), true)
    t.equal((await store.getRun('run_1'))?.lease_expires_at, T0 + 15_000)
    t.equal(await store.renewRun('run_1', 'w1', f1, 10_000), false, 'renew with a stale fence')
    t.equal(await store.renewRun('run_1', 'w2', f2, 10_000), false, 'renew by another worker')
    clock.advance(9999)
    t.equal(await store.claimRun('run_1', 'w2', 10_000), null, 'the renewal held the lease')
    clock.advance(1)
    const f3 = await store.claimRun('run_1', 'w2', 10_000) as number
    t.ok(f3 > f2, 'taken over at expiry with a larger fence')
    t.equal(await store.renewRun('run_1', 'w1', f2, 10_000), false, 'the old worker cannot renew after the takeover')
    t.equal(await store.updateRun('run_1', { tool_rounds: 2 }, f2), null, 'nor write')
    t.equal((await store.updateRun('run_1', { tool_rounds: 2 }, f3))?.tool_rounds, 2)
    t.equal((await store.updateRun('run_1', { cancel_requested: true }, null))?.cancel_requested, true,
      'a null fence writes regardless of the lease')
    t.equal((await store.getRun('run_1'))?.fence, f3, 'updates do not move the fence')

    const pending = [{ type: 'function_call_output', call_id: 'call_1', output: '{"ok":true}' }]
    t.same((await store.updateRun('run_1', { pending_input: pending, creating_since: T0 + 1 }, f3))?.pending_input, pending)
    t.match(await store.getRun('run_1'), { pending_input: pending, creating_since: T0 + 1 }, 'round state round-trips')
    t.match(await store.updateRun('run_1', { pending_input: null, creating_since: null }, f3), { pending_input: null, creating_since: null },
      'and clears (null is a value, not "unchanged")')

    t.equal(await store.releaseRun('run_1', 'w1', f3), false, 'only the lease holder can release it')
    t.equal(await store.releaseRun('run_1', 'w2', f3), true, 'graceful hand-off')
    const f4 = await store.claimRun('run_1', 'w3', 10_000) as number
    t.ok(f4 > f3, 'another worker claims it at once, before the lease would have expired')
    t.equal(await store.updateRun('run_1', { tool_rounds: 3 }, f3), null, 'the old fence is stale')
    t.equal(await store.releaseRun('run_1', 'w2', f3), false)
    const f3b = f4

    t.ok(await store.updateRun('run_1', { status: 'cancelled' }, f3b))
    t.equal(await store.claimRun('run_1', 'w4', 10_000), null, 'a finished run cannot be claimed')
    t.equal(await store.renewRun('run_1', 'w3', f3b, 10_000), false, 'nor renewed')
    t.equal(await store.releaseRun('run_1', 'w3', f3b), false, 'nor released')
    t.equal(await store.claimRun('run_missing', 'w1', 10_000), null)
    t.equal(await store.renewRun('run_missing', 'w1', 1, 10_000), false)

    // Renewals asked for together (one tick of the lease keeper) each answer for their own lease.
    await store.createRun(makeRun('run_2', 'th_2', 'alice'), OPTS)
    await store.createRun(makeRun('run_3', 'th_3', 'alice'), OPTS)
    const g2 = await store.claimRun('run_2', 'w1', 10_000) as number
    const g3 = await store.claimRun('run_3', 'w1', 10_000) as number
    clock.advance(1000)
    t.same(await Promise.all([
      store.renewRun('run_2', 'w1', g2, 20_000),
      store.renewRun('run_3', 'w1', g3 - 1, 20_000),
      store.renewRun('run_3', 'w2', g3, 20_000),
      store.renewRun('run_missing', 'w1', 1, 20_000),
      ...Array.from({ length: 600 }, () => store.renewRun('run_3', 'w1', g3, 30_000))
    ]), [true, false, false, false, ...Array(600).fill(true)], 'renewed, stale fence, other worker, missing; then many at once')
    const now = T0 + 5000 + 9999 + 1 + 1000
    t.equal((await store.getRun('run_2'))?.lease_expires_at, now + 20_000)
    t.equal((await store.getRun('run_3'))?.lease_expires_at, now + 30_000)
  })

  tap.test('runs: orphaned runs', async t => {
    const { store, clock } = await setup(t)
    await store.createRun(makeRun('run_old', 'th_1', 'alice', { created_at: 10 }), OPTS)
    await store.createRun(makeRun('run_leased', 'th_2', 'alice', { created_at: 20 }), OPTS)
    await store.createRun(makeRun('run_done', 'th_3', 'alice', { created_at: 5 }), OPTS)
    await store.createRun(makeRun('run_new', 'th_4', 'bob', { created_at: 30, status: 'cancelling' }), OPTS)
    await store.claimRun('run_leased', 'w1', 10_000)
    await store.updateRun('run_done', { status: 'completed' }, null)

    const orphans = await store.listOrphanedRuns(10)
    t.same(orphans.map(r => r.id), ['run_old', 'run_new'], 'never-claimed active runs, oldest first')
    t.equal(orphans[0].thread_id, 'th_1', 'whole records')
    clock.advance(9999)
    t.same((await store.listOrphanedRuns(10)).map(r => r.id), ['run_old', 'run_new'])
    clock.advance(1)
    t.same((await store.listOrphanedRuns(10)).map(r => r.id), ['run_old', 'run_leased', 'run_new'], 'expired lease')
    t.same((await store.listOrphanedRuns(2)).map(r => r.id), ['run_old', 'run_leased'], 'limit')
    await store.claimRun('run_old', 'w2', 10_000)
    t.same((await store.listOrphanedRuns(10)).map(r => r.id), ['run_leased', 'run_new'])
  })

  tap.test('runs: an owner\'s active runs (what a suspension cancels)', async t => {
    const { store } = await setup(t)
    t.same(await store.listActiveRuns('alice'), [])
    await store.createRun(makeRun('run_b', 'th_1', 'alice', { created_at: 20 }), OPTS)
    await store.createRun(makeRun('run_a', 'th_2', 'alice', { created_at: 10 }), OPTS)
    await store.createRun(makeRun('run_done', 'th_3', 'alice', { created_at: 5 }), OPTS)
    await store.createRun(makeRun('run_paused', 'th_4', 'alice', { created_at: 30, status: 'requires_action' }), OPTS)
    await store.createRun(makeRun('run_other', 'th_5', 'bob', { created_at: 1 }), OPTS)
    await store.updateRun('run_done', { status: 'completed' }, null)
    const active = await store.listActiveRuns('alice')
    t.same(active.map(r => r.id), ['run_a', 'run_b', 'run_paused'], 'active and paused runs of the owner, oldest first')
    t.equal(active[0]!.thread_id, 'th_2', 'whole records')
    await store.updateRun('run_b', { status: 'cancelled' }, null)
    t.same((await store.listActiveRuns('alice')).map(r => r.id), ['run_a', 'run_paused'])
  })

  tap.test('runs: a paused run is parked until its resume time, claimable meanwhile, and holds its thread', async t => {
    const { store, clock } = await setup(t)
    await store.createRun(makeRun('run_paused', 'th_1', 'alice'), OPTS)
    const fence = (await store.claimRun('run_paused', 'w1', 10_000))!
    t.ok(await store.updateRun('run_paused', { status: 'requires_action', expires_at: Math.floor((T0 + 60_000) / 1000) }, fence))
    t.equal(await store.releaseRun('run_paused', 'w1', fence, T0 + 60_000), true)
    const parked = (await store.getRun('run_paused'))!
    t.same([parked.lease_owner, parked.lease_expires_at], [null, T0 + 60_000], 'no owner, parked until the resume time')
    t.same(await store.listOrphanedRuns(10), [], 'not an orphan while parked (no driver is needed)')
    t.equal(await store.lockThread('th_1', 'someone', 1000), null, 'the paused run still holds its thread')
    t.same(await store.createRun(makeRun('run_more', 'th_1', 'alice'), OPTS), { ok: false, reason: 'thread_busy' })
    const claimed = await store.claimRun('run_paused', 'w2', 10_000)
    t.ok(claimed, 'a parked run can be claimed at once (a cancel, a submitted output)')
    t.equal(await store.releaseRun('run_paused', 'w2', claimed!, T0 + 60_000), true)
    clock.advance(60_000)
    t.same((await store.listOrphanedRuns(10)).map(r => r.id), ['run_paused'], 'an orphan once its time has come (it expires)')
    t.ok(await store.updateRun('run_paused', { status: 'expired' }, null), 'expired is terminal')
    t.ok(await store.lockThread('th_1', 'someone', 1000), 'and frees the thread')
  })
}
