import type { Test } from 'tap'
import type { LedgerRow } from '../../../services/store/types.ts'
import { DAY, limits, NEXT_DAY, reservation, type Setup, T0, usage } from './fixtures.ts'

export function budgetsContract (tap: Test, setup: Setup): void {
  tap.test('budgets: reservations against each limit', async t => {
    const { store } = await setup(t)
    const user = limits({ userTokens: 100 })
    t.same(await store.reserveBudget(reservation('r1', { tokens: 60 }), user), { ok: true })
    t.same(await store.reserveBudget(reservation('r2', { tokens: 50 }), user), { ok: false, scope: 'user_tokens', blockedBy: 'reservations' })
    t.same(await store.reserveBudget(reservation('r3', { tokens: 40 }), user), { ok: true }, 'exactly the limit fits')
    t.same(await store.budgetCounters(DAY, 'alice', 'curator'), {
      user_tokens: 0,
      global_tokens: 0,
      user_audio_seconds: 0,
      reserved_user_tokens: 100,
      reserved_global_tokens: 100,
      reserved_user_audio_seconds: 0,
      assistant_tokens: 0,
      reserved_assistant_tokens: 100
    })
    t.equal(await store.releaseBudget('r2'), false, 'a refused reservation was not recorded')
    t.same(await store.reserveBudget(reservation('r1', { tokens: 60 }), user), { ok: true }, 'the same id again is a no-op')
    t.equal((await store.budgetCounters(DAY, 'alice')).reserved_user_tokens, 100, 'and counted once')
    t.same(await store.reserveBudget(reservation('r4', { tokens: 1, day: NEXT_DAY }), user), { ok: true }, 'budgets are per day')

    t.same(await store.reserveBudget(reservation('b1', { user: 'bob', tokens: 100 }), user), { ok: true }, 'and per user')
    const global = limits({ userTokens: 100, globalTokens: 250 })
    t.same(await store.reserveBudget(reservation('c1', { user: 'carol', tokens: 51 }), global), { ok: false, scope: 'global_tokens', blockedBy: 'reservations' },
      'the global budget counts every user')
    t.same(await store.reserveBudget(reservation('c2', { user: 'carol', tokens: 50 }), global), { ok: true })

    const assistant = limits({ assistantTokens: 300 })
    t.same(await store.reserveBudget(reservation('d1', { user: 'dave', tokens: 51 }), assistant), { ok: false, scope: 'assistant_tokens', blockedBy: 'reservations' },
      "the assistant's budget counts every user of it")
    t.same(await store.reserveBudget(reservation('d2', { user: 'dave', assistant: 'mentor', tokens: 51 }), assistant), { ok: true })
    t.same(await store.budgetCounters(DAY, 'dave', 'mentor'), {
      user_tokens: 0,
      global_tokens: 0,
      user_audio_seconds: 0,
      reserved_user_tokens: 51,
      reserved_global_tokens: 301,
      reserved_user_audio_seconds: 0,
      assistant_tokens: 0,
      reserved_assistant_tokens: 51
    })

    const audio = limits({ userTokens: 100, userAudioSeconds: 30 })
    t.same(await store.reserveBudget(reservation('a1', { audio_seconds: 20.5 }), audio), { ok: true },
      'audio is not refused because the token budget is full')
    t.same(await store.reserveBudget(reservation('a2', { audio_seconds: 10 }), audio), { ok: false, scope: 'user_audio', blockedBy: 'reservations' })
    t.same(await store.reserveBudget(reservation('a3', { audio_seconds: 9.5 }), audio), { ok: true })
    t.equal((await store.budgetCounters(DAY, 'alice')).reserved_user_audio_seconds, 30)
    t.equal(await store.recordUsage('f_usage', usage({ user: 'frank', total_tokens: 150 })), true)
    t.same(await store.reserveBudget(reservation('f1', { user: 'frank', audio_seconds: 5 }), audio), { ok: true },
      'a user past the token budget (actual usage overshot) can still use audio')
    t.same(await store.reserveBudget(reservation('f2', { user: 'frank', tokens: 1 }), audio), { ok: false, scope: 'user_tokens', blockedBy: 'usage' })

    const tight = limits({ userTokens: 1, userAudioSeconds: 1, assistantTokens: 1, globalTokens: 1 })
    const big = reservation('e1', { user: 'erin', assistant: 'analyst', tokens: 5, audio_seconds: 5 })
    t.same(await store.reserveBudget(big, tight), { ok: false, scope: 'user_tokens', blockedBy: 'usage' }, 'first failing scope, in order')
    t.same(await store.reserveBudget(big, { ...tight, userTokens: 0 }), { ok: false, scope: 'user_audio', blockedBy: 'usage' })
    t.same(await store.reserveBudget(big, { ...tight, userTokens: 0, userAudioSeconds: 0 }), { ok: false, scope: 'assistant_tokens', blockedBy: 'usage' })
    t.same(await store.reserveBudget(big, { ...tight, userTokens: 0, userAudioSeconds: 0, assistantTokens: 0 }),
      { ok: false, scope: 'global_tokens', blockedBy: 'usage' })
    t.same(await store.budgetCounters(DAY, 'erin', 'analyst'), {
      user_tokens: 0,
      global_tokens: 150,
      user_audio_seconds: 0,
      reserved_user_tokens: 0,
      reserved_global_tokens: 301,
      reserved_user_audio_seconds: 0,
      assistant_tokens: 0,
      reserved_assistant_tokens: 0
    }, 'refusals write nothing')

    t.same(await store.reserveBudget(reservation('u1', { user: 'erin', tokens: 1e9 }), limits()), { ok: true }, '0 = unlimited')
    t.equal((await store.budgetCounters(DAY, 'erin')).reserved_user_tokens, 1e9, 'but still recorded')
    t.equal(await store.settleBudget('u1', usage({ user: 'erin', total_tokens: 10 })), true, 'and settled like any other')

    await t.rejects(store.reserveBudget(reservation('bad1', { tokens: -1 }), limits()), RangeError)
    await t.rejects(store.reserveBudget(reservation('bad2', { audio_seconds: Number.NaN }), limits()), RangeError)
    t.equal(await store.releaseBudget('bad1'), false)
  })

  tap.test('budgets: settle, release, expiry', async t => {
    const { store, clock } = await setup(t)
    const user = limits({ userTokens: 150 })
    t.same(await store.reserveBudget(reservation('s1', { tokens: 100 }), user), { ok: true })
    const actual = usage({ input_tokens: 50, output_tokens: 20, total_tokens: 70, runs: 1, cost_usd: 0.25 })
    t.equal(await store.settleBudget('s1', actual), true)
    const settled = {
      user_tokens: 70,
      global_tokens: 70,
      user_audio_seconds: 0,
      reserved_user_tokens: 0,
      reserved_global_tokens: 0,
      reserved_user_audio_seconds: 0,
      assistant_tokens: 70,
      reserved_assistant_tokens: 0
    }
    t.same(await store.budgetCounters(DAY, 'alice', 'curator'), settled, 'reservation freed, actual usage counted')
    t.same(await store.usageLedger(DAY), [actual])
    t.equal(await store.settleBudget('s1', actual), false, 'a second settle is ignored')
    t.same(await store.budgetCounters(DAY, 'alice', 'curator'), settled, 'and counts nothing')
    t.same(await store.usageLedger(DAY), [actual])
    t.equal(await store.recordUsage('s1', actual), false, 'a settled reservation id counts as recorded usage')
    t.equal(await store.settleBudget('s_missing', actual), false)

    t.same(await store.reserveBudget(reservation('s2', { tokens: 80 }), user), { ok: true }, 'used + reserved fits')
    t.same(await store.reserveBudget(reservation('s3', { tokens: 1 }), user), { ok: false, scope: 'user_tokens', blockedBy: 'reservations' },
      'settled usage and reservations count against the budget together')
    t.equal(await store.releaseBudget('s2'), true)
    t.equal(await store.releaseBudget('s2'), false, 'released once')
    t.equal(await store.settleBudget('s2', actual), false, 'a released reservation cannot be settled')
    t.same(await store.budgetCounters(DAY, 'alice', 'curator'), settled, 'release gave everything back')
    t.equal(await store.recordUsage('s2', actual), true, 'usage of a released reservation can still be recorded once')
    t.equal((await store.budgetCounters(DAY, 'alice')).user_tokens, 140)

    t.same(await store.reserveBudget(reservation('e1', { tokens: 10, expires_at: T0 + 1000 }), limits()), { ok: true })
    t.same(await store.reserveBudget(reservation('e2', { tokens: 20, audio_seconds: 7, expires_at: T0 + 5000 }), limits()), { ok: true })
    t.equal(await store.releaseExpiredReservations(), 0)
    clock.advance(999)
    t.equal(await store.releaseExpiredReservations(), 0)
    clock.advance(1)
    t.equal(await store.releaseExpiredReservations(), 1, 'released at its expiry instant')
    t.match(await store.budgetCounters(DAY, 'alice', 'curator'), { reserved_user_tokens: 20, reserved_global_tokens: 20, reserved_user_audio_seconds: 7, reserved_assistant_tokens: 20 })
    t.equal(await store.settleBudget('e1', actual), false, 'an expired reservation is gone')
    clock.advance(4000)
    t.equal(await store.releaseExpiredReservations(), 1)
    t.equal(await store.releaseExpiredReservations(), 0)
    t.match(await store.budgetCounters(DAY, 'alice', 'curator'), { reserved_user_tokens: 0, reserved_user_audio_seconds: 0, user_tokens: 140 })
  })

  tap.test("budgets: a settle counts on the reservation's day, recordUsage on the usage's day", async t => {
    const { store, clock } = await setup(t)
    const user = limits({ userTokens: 100, userAudioSeconds: 10 })
    t.same(await store.reserveBudget(reservation('late', { tokens: 60, audio_seconds: 3 }), user), { ok: true }, 'reserved before midnight')
    t.same(await store.reserveBudget(reservation('next', { tokens: 60, day: NEXT_DAY }), user), { ok: true }, 'the new day has its own reservation')
    // Settled after midnight: the caller's row carries the new day.
    const late = usage({ day: NEXT_DAY, input_tokens: 40, output_tokens: 10, total_tokens: 50, audio_seconds: 2.5, runs: 1, cost_usd: 0.125 })
    t.equal(await store.settleBudget('late', late), true)
    t.same(await store.budgetCounters(DAY, 'alice', 'curator'), {
      user_tokens: 50,
      global_tokens: 50,
      user_audio_seconds: 2.5,
      reserved_user_tokens: 0,
      reserved_global_tokens: 0,
      reserved_user_audio_seconds: 0,
      assistant_tokens: 50,
      reserved_assistant_tokens: 0
    }, 'the reservation freed and the usage counted on the day it was reserved')
    t.same(await store.usageLedger(DAY), [{ ...late, day: DAY }], 'ledger row on that day')
    t.same(await store.budgetCounters(NEXT_DAY, 'alice', 'curator'), {
      user_tokens: 0,
      global_tokens: 0,
      user_audio_seconds: 0,
      reserved_user_tokens: 60,
      reserved_global_tokens: 60,
      reserved_user_audio_seconds: 0,
      assistant_tokens: 0,
      reserved_assistant_tokens: 60
    }, "the new day's counters untouched")
    t.same(await store.usageLedger(NEXT_DAY), [], 'and no ledger row on it')
    t.same(await store.reserveBudget(reservation('next2', { tokens: 40, day: NEXT_DAY }), user), { ok: true },
      'the new day still has its whole budget')

    t.same(await store.reserveBudget(reservation('gone', { tokens: 10, expires_at: T0 + 1000 }), user), { ok: true })
    clock.advance(1000)
    t.equal(await store.releaseExpiredReservations(), 1)
    const recovered = usage({ day: NEXT_DAY, total_tokens: 7, runs: 1 })
    t.equal(await store.settleBudget('gone', recovered) || await store.recordUsage('gone', recovered), true)
    t.match(await store.budgetCounters(NEXT_DAY, 'alice'), { user_tokens: 7 }, 'usage without a reservation counts on its own day')
    t.match(await store.budgetCounters(DAY, 'alice'), { user_tokens: 50, reserved_user_tokens: 0 })
    t.same(await store.usageLedger(NEXT_DAY), [recovered])
  })

  tap.test('budgets: recordUsage and the ledger', async t => {
    const { store } = await setup(t)
    const one = usage({ input_tokens: 10, cached_tokens: 4, cache_write_tokens: 3, output_tokens: 5, reasoning_tokens: 2, total_tokens: 15, runs: 1, cost_usd: 0.5 })
    t.equal(await store.recordUsage('resp_1', one), true)
    t.equal(await store.recordUsage('resp_1', one), false, 'idempotent per usage id')
    t.equal(await store.recordUsage('resp_2', one), true)
    t.equal(await store.recordUsage('resp_3', { ...one, model: 'gpt-other' }), true)
    t.equal(await store.recordUsage('resp_4', { ...one, user: 'bob' }), true)
    t.equal(await store.recordUsage('resp_5', { ...one, day: NEXT_DAY }), true)
    const audio = usage({ assistant: 'transcription', model: 'whisper-test', audio_seconds: 12.5, runs: 0, cost_usd: 0.01 })
    t.equal(await store.recordUsage('tr_1', audio), true)

    const doubled = { ...one, input_tokens: 20, cached_tokens: 8, cache_write_tokens: 6, output_tokens: 10, reasoning_tokens: 4, total_tokens: 30, runs: 2, cost_usd: 1 }
    const key = (r: LedgerRow) => `${r.user}/${r.assistant}/${r.model}`
    const sorted = (rows: LedgerRow[]) => [...rows].sort((a, b) => key(a).localeCompare(key(b)))
    t.same(sorted(await store.usageLedger(DAY)), sorted([doubled, { ...one, model: 'gpt-other' }, audio, { ...one, user: 'bob' }]),
      'rows per (user, assistant, model), summed')
    t.same(sorted(await store.usageLedger(DAY, 'alice')), sorted([doubled, { ...one, model: 'gpt-other' }, audio]), 'filtered by user')
    t.same(await store.usageLedger(DAY, 'carol'), [])
    t.same(await store.usageLedger(NEXT_DAY), [{ ...one, day: NEXT_DAY }])
    t.same(await store.usageLedger('2030-01-01'), [])

    t.same(await store.budgetCounters(DAY, 'alice'), {
      user_tokens: 45,
      global_tokens: 60,
      user_audio_seconds: 12.5,
      reserved_user_tokens: 0,
      reserved_global_tokens: 0,
      reserved_user_audio_seconds: 0,
      assistant_tokens: 0,
      reserved_assistant_tokens: 0
    }, 'assistant figures are 0 without an assistant')
    t.equal((await store.budgetCounters(DAY, 'alice', 'curator')).assistant_tokens, 60)
    t.equal((await store.budgetCounters(DAY, 'alice', 'nobody')).assistant_tokens, 0)
    t.same(await store.reserveBudget(reservation('r1', { tokens: 56 }), limits({ userTokens: 100 })), { ok: false, scope: 'user_tokens', blockedBy: 'usage' },
      'recorded usage counts against the budget')
  })

  tap.test('budgets: a refusal says whether settled usage or reservations in flight stand in the way', async t => {
    const { store } = await setup(t)
    const user = limits({ userTokens: 100 })
    t.same(await store.reserveBudget(reservation('r1', { tokens: 70 }), user), { ok: true })
    t.same(await store.reserveBudget(reservation('r2', { tokens: 40 }), user), { ok: false, scope: 'user_tokens', blockedBy: 'reservations' },
      'usage 0 leaves room: only the reservation in flight is in the way')
    t.equal(await store.settleBudget('r1', usage({ total_tokens: 30 })), true)
    t.same(await store.reserveBudget(reservation('r2', { tokens: 40 }), user), { ok: true }, 'once it settled below its estimate, it fits')
    t.same(await store.reserveBudget(reservation('r3', { tokens: 71 }), user), { ok: false, scope: 'user_tokens', blockedBy: 'usage' },
      'settled usage 30 leaves no room for 71: only the reset helps')
    t.same(await store.reserveBudget(reservation('r4', { tokens: 70 }), user), { ok: false, scope: 'user_tokens', blockedBy: 'reservations' },
      'exactly the room settled usage leaves, held by r2')

    const both = limits({ userTokens: 100, globalTokens: 150 })
    t.same(await store.reserveBudget(reservation('b1', { user: 'bob', tokens: 80 }), both), { ok: true })
    t.same(await store.reserveBudget(reservation('b2', { user: 'carol', tokens: 30 }), both), { ok: false, scope: 'global_tokens', blockedBy: 'reservations' })
    t.same(await store.reserveBudget(reservation('b3', { tokens: 71 }), both), { ok: false, scope: 'user_tokens', blockedBy: 'usage' },
      'a scope refused by usage is named before one refused by reservations')
    t.same(await store.reserveBudget(reservation('a1', { audio_seconds: 5 }), limits({ userAudioSeconds: 4 })), { ok: false, scope: 'user_audio', blockedBy: 'usage' },
      'audio too')
  })
}
