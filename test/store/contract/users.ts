import type { Test } from 'tap'
import { newUserRecord } from '../../../services/store/types.ts'
import { listen, live, settled } from './change-feed.ts'
import { range, type Setup } from './fixtures.ts'

export function usersContract (tap: Test, setup: Setup): void {
  tap.test('users: suspend, unsuspend, safety notices; every field comes back as written', async t => {
    const { store } = await setup(t)
    t.equal(await store.getUser('alice'), null, 'a user the gateway never wrote about has no record')

    const suspended = await store.suspendUser('alice', { reason: 'Abuse: "spam" — 3×', by: 'admin-1', at: 100 })
    t.same(suspended, {
      changed: true,
      user: { ...newUserRecord('alice', 100), suspended: true, suspended_at: 100, suspension_reason: 'Abuse: "spam" — 3×', suspended_by: 'admin-1' }
    })
    t.same(await store.getUser('alice'), suspended.user, 'read back with every field and its type')

    const again = await store.suspendUser('alice', { reason: 'second reason', by: 'system', at: 200 })
    t.equal(again.changed, false, 'suspending a suspended user changes nothing but the reason')
    t.match(again.user, { suspended: true, suspended_at: 100, suspension_reason: 'second reason', suspended_by: 'system', updated_at: 200 })

    const lifted = await store.unsuspendUser('alice', 300)
    t.same(lifted, { changed: true, user: { ...newUserRecord('alice', 300), updated_at: 300 } })
    t.same((await store.unsuspendUser('alice', 400)).changed, false, 'lifting twice changes nothing')
    t.equal((await store.unsuspendUser('nobody', 400)).changed, false)
    t.equal((await store.getUser('nobody'))?.suspended, false)

    const warned = await store.recordSafetyNotice('bob', { type: 'warning', case_id: 'case_1', at: 500 })
    t.same(warned, { ...newUserRecord('bob', 500), safety_warnings: 1, last_warning_at: 500, last_notice: { type: 'warning', case_id: 'case_1', at: 500 } })
    await store.recordSafetyNotice('bob', { type: 'warning', case_id: 'case_2', at: 600 })
    const deactivated = await store.recordSafetyNotice('bob', { type: 'deactivation', case_id: 'case_3', at: 700 })
    t.match(deactivated, { safety_warnings: 2, safety_deactivations: 1, last_warning_at: 600, last_deactivation_at: 700, last_notice: { type: 'deactivation', case_id: 'case_3' } })
    t.equal(deactivated.suspended, false, 'a notice alone suspends nobody (the policy decides, above the store)')
    const both = await store.suspendUser('bob', { reason: 'deactivated', by: 'system', at: 800 })
    t.match(both.user, { suspended: true, safety_warnings: 2, safety_deactivations: 1 }, 'suspension keeps the notices')
    t.same(await store.getUser('bob'), both.user)
  })

  tap.test('users: concurrent writes from two handles lose nothing', async t => {
    const { store, reopen } = await setup(t)
    const other = await reopen()
    const handle = (i: number) => (i % 2 === 0 ? store : other)
    await Promise.all(range(20).map(i => handle(i).recordSafetyNotice('carol', { type: i % 4 === 0 ? 'deactivation' : 'warning', case_id: `case_${i}`, at: i })))
    t.match(await other.getUser('carol'), { safety_warnings: 15, safety_deactivations: 5 })
    const suspensions = await Promise.all(range(10).map(i => handle(i).suspendUser('dave', { reason: `r${i}`, by: 'admin', at: i })))
    t.equal(suspensions.filter(s => s.changed).length, 1, 'exactly one of racing suspensions suspends')
  })

  tap.test('users: every write publishes (user, id) to every handle', async t => {
    const { store, reopen } = await setup(t)
    const other = await reopen()
    const ear = listen(other, 'user')
    await live(store, ear, 'user')
    await store.suspendUser('erin', { reason: 'x', by: 'admin', at: 1 })
    await store.unsuspendUser('erin', 2)
    await store.recordSafetyNotice('frank', { type: 'warning', case_id: 'c', at: 3 })
    await settled(store, 'user', ear)
    t.same(ear.heard, ['erin', 'erin', 'frank'])
    ear.off()
  })
}
