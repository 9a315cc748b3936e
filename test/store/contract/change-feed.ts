import { randomUUID } from 'node:crypto'
import type { Test } from 'tap'
import type { ChangeKind, Store } from '../../../services/store/types.ts'
import { until } from '../../helpers/until.ts'
import { makeRun, OPTS, type Setup } from './fixtures.ts'

interface Ear { heard: string[], probes: Set<string>, off: () => void }

/** What a handle hears of one kind; probes only tell that the subscription is live. */
export function listen (store: Store, kind: ChangeKind): Ear {
  const heard: string[] = []
  const probes = new Set<string>()
  const off = store.changes.subscribe(kind, id => { if (id.startsWith('probe:')) probes.add(id); else heard.push(id) })
  return { heard, probes, off }
}

/**
 * Waits until `ear` hears what `from` publishes (a Redis handle subscribes on a connection of its own,
 * asynchronously): from then on nothing published is missed.
 */
export async function live (from: Store, ear: Ear, kind: ChangeKind) {
  const probe = `probe:${randomUUID()}`
  await until(async () => {
    await from.changes.publish(kind, probe)
    return ear.probes.has(probe)
  }, { message: `the ${kind} subscription to be live`, intervalMs: 20 })
}

/** Publishes an end mark and waits for every ear to hear it; what each heard before is then complete. */
export async function settled (from: Store, kind: ChangeKind, ...ears: Ear[]) {
  const mark = `end:${randomUUID()}`
  await from.changes.publish(kind, mark)
  await until(() => ears.every(ear => ear.heard.includes(mark)), { message: 'every listener to hear the end mark' })
  for (const ear of ears) ear.heard.splice(ear.heard.indexOf(mark), 1)
}

export function changeFeedContract (tap: Test, setup: Setup): void {
  tap.test('change feed: a publish reaches every handle, this one included, by kind', async t => {
    const { store, reopen } = await setup(t)
    const other = await reopen()
    const mine = listen(store, 'run')
    const theirs = listen(other, 'run')
    const users = listen(other, 'user')
    await live(store, mine, 'run')
    await live(store, theirs, 'run')
    await live(store, users, 'user')

    await store.changes.publish('run', 'run_1')
    await other.changes.publish('user', 'user_1')
    await other.changes.publish('response', 'resp_1')
    await store.changes.publish('run', 'run_2')
    await settled(store, 'run', mine, theirs)
    await settled(other, 'user', users)
    t.same(mine.heard, ['run_1', 'run_2'], 'the publishing handle hears itself')
    t.same(theirs.heard, ['run_1', 'run_2'], 'another handle (instance) hears it, in order')
    t.same(users.heard, ['user_1'], 'a kind hears only its own')
  })

  tap.test('change feed: createRun and every updateRun that writes publish the run id; refusals do not', async t => {
    const { store, reopen } = await setup(t)
    const other = await reopen()
    const ear = listen(other, 'run')
    await live(store, ear, 'run')

    t.same(await store.createRun(makeRun('run_1', 'th_1', 'alice'), OPTS), { ok: true })
    t.same(await store.createRun(makeRun('run_2', 'th_1', 'alice'), OPTS), { ok: false, reason: 'thread_busy' })
    t.equal(await store.updateRun('run_1', { tool_rounds: 1 }, 999), null, 'a stale fence writes nothing')
    t.ok(await store.updateRun('run_1', { tool_rounds: 1 }, null))
    t.equal(await store.updateRun('run_missing', { tool_rounds: 1 }, null), null)
    t.ok(await store.updateRun('run_1', { status: 'completed' }, null))
    t.equal(await store.updateRun('run_1', { status: 'cancelling' }, null), null, 'a finished run is not reopened')
    await settled(store, 'run', ear)
    t.same(ear.heard, ['run_1', 'run_1', 'run_1'], 'the create, the patch and the terminal update')
  })

  tap.test('change feed: unsubscribe stops delivery to that listener only', async t => {
    const { store, reopen } = await setup(t)
    const other = await reopen()
    const stays = listen(other, 'run')
    const leaves = listen(other, 'run')
    await live(store, stays, 'run')
    await live(store, leaves, 'run')
    leaves.off()
    leaves.off()
    await store.changes.publish('run', 'run_1')
    await settled(store, 'run', stays)
    t.same(stays.heard, ['run_1'])
    t.same(leaves.heard, [], 'nothing after unsubscribe')

    await other.close()
    t.throws(() => other.changes.subscribe('run', () => {}), 'a closed handle takes no listener')
    await t.rejects(other.changes.publish('run', 'run_2'), 'nor publishes')
  })

  tap.test('change feed: a failing listener is logged and harms nothing else', async t => {
    const { store, reopen, warnings } = await setup(t)
    const other = await reopen()
    other.changes.subscribe('run', () => { throw new Error('listener bug') })
    other.changes.subscribe('run', async () => { throw new Error('async listener bug') })
    const ear = listen(other, 'run')
    await live(store, ear, 'run')
    t.ok(await store.createRun(makeRun('run_1', 'th_1', 'alice'), OPTS), 'the write that published is unaffected')
    await settled(store, 'run', ear)
    t.same(ear.heard, ['run_1'], 'the other listeners still hear')
    await until(() => warnings.length >= 2, { message: 'both failures to be logged' })
    t.ok(warnings.every(w => /listener failed/.test(w)), 'logged as listener failures')
  })
}
