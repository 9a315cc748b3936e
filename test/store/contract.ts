import { newRunRecord } from '../../services/store/records.ts'
import type { Test } from 'tap'
import type {
  AssistantProfile,
  BudgetLimits,
  LedgerRow,
  Page,
  PageQuery,
  Reservation,
  RunRecord,
  RunStatus,
  Store,
  ThreadRecord
} from '../../services/store/types.ts'

/**
 * The behaviour every store backend must have. A backend's test file calls `storeContract` with a
 * function that opens a fresh, empty store on the given clock. `reopen` must give a second, independent
 * handle on the same data (another connection / client): the races below run across both handles.
 * Expiry is driven by the fake clock, never by sleeping: a deadline T is passed at the instant now = T.
 */
export interface StoreUnderTest {
  store: Store
  reopen: () => Promise<Store>
  /** Removes what the backend created (files, keys); runs after every handle is closed. */
  cleanup: () => Promise<void>
}
export type OpenStore = (ctx: { clock: () => number }) => Promise<StoreUnderTest>

const T0 = Date.UTC(2030, 0, 15, 12, 0, 0)
const DAY = '2030-01-15'
const NEXT_DAY = '2030-01-16'
const OPTS = { maxActivePerUser: 100, threadLockTtlMs: 60_000 }
const TERMINAL: RunStatus[] = ['completed', 'incomplete', 'failed', 'cancelled']

class FakeClock {
  now = T0
  advance (ms: number) { this.now += ms }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

const thread = (id: string, owner: string, createdAt: number, extra: Partial<ThreadRecord> = {}): ThreadRecord => ({
  id, owner, title: null, metadata: {}, created_at: createdAt, updated_at: createdAt, token_estimate: 0, revision: 0, ...extra
})

const makeRun = (id: string, threadId: string, owner: string, extra: Partial<RunRecord> = {}): RunRecord => newRunRecord({
  id,
  thread_id: threadId,
  owner,
  assistant_type: 'curator',
  assistant_version: 1,
  model: 'gpt-test',
  created_at: 1000,
  deadline_at: T0 + 3_600_000,
  ...extra
})

const profile = (id: string, extra: Partial<AssistantProfile> = {}): AssistantProfile => ({
  id,
  name: id,
  description: `The ${id}`,
  model: 'gpt-test',
  instructions: 'Be helpful.',
  tools: ['get_time'],
  temperature: 0.7,
  top_p: null,
  accepts_sampling: true,
  max_output_tokens: 1000,
  daily_token_cap: 0,
  ...extra
})

const limits = (extra: Partial<BudgetLimits> = {}): BudgetLimits => ({
  userTokens: 0, globalTokens: 0, userAudioSeconds: 0, assistantTokens: 0, ...extra
})

const reservation = (id: string, extra: Partial<Reservation> = {}): Reservation => ({
  id, day: DAY, user: 'alice', assistant: 'curator', tokens: 0, audio_seconds: 0, expires_at: T0 + 600_000, ...extra
})

const usage = (extra: Partial<LedgerRow> = {}): LedgerRow => ({
  day: DAY,
  user: 'alice',
  assistant: 'curator',
  model: 'gpt-test',
  input_tokens: 0,
  cached_tokens: 0,
  output_tokens: 0,
  reasoning_tokens: 0,
  total_tokens: 0,
  audio_seconds: 0,
  runs: 0,
  cost_usd: 0,
  ...extra
})

const ids = <T extends { id: string }>(page: Page<T>) => page.data.map(r => r.id)
const count = <T>(values: T[], wanted: T) => values.filter(v => v === wanted).length

/** Every id across all pages, and the number of pages it took. */
async function walk<T extends { id: string }> (list: (q: PageQuery) => Promise<Page<T>>, limit: number, order: 'asc' | 'desc') {
  const all: string[] = []
  let after: string | undefined
  let pages = 0
  for (;;) {
    const page = await list({ limit, order, after })
    pages++
    all.push(...ids(page))
    if (!page.hasMore) return { all, pages }
    after = page.data[page.data.length - 1].id
    if (pages > 50) throw new Error('pagination does not end')
  }
}

export async function storeContract (tap: Test, name: string, open: OpenStore): Promise<void> {
  async function setup (t: Test) {
    const clock = new FakeClock()
    const sut = await open({ clock: () => clock.now })
    const handles = [sut.store]
    t.teardown(async () => {
      for (const handle of handles) await handle.close()
      await sut.cleanup()
    })
    const reopen = async () => {
      const handle = await sut.reopen()
      handles.push(handle)
      return handle
    }
    return { store: sut.store, clock, reopen }
  }

  await tap.test(`${name} store contract`, async tap => {
    tap.test('ping and kind', async t => {
      const { store } = await setup(t)
      await t.resolves(store.ping())
      t.ok(store.kind === 'sqlite' || store.kind === 'redis')
    })

    tap.test('threads: create, get, update, duplicate id', async t => {
      const { store } = await setup(t)
      const a = thread('th_a', 'alice', 100, { title: 'Hello', metadata: { topic: 'x', lang: 'en' } })
      await store.createThread(a)
      t.same(await store.getThread('th_a'), a)
      t.equal(await store.getThread('th_missing'), null)

      await t.rejects(store.createThread(thread('th_a', 'mallory', 1)), 'a duplicate id is rejected')
      t.same(await store.getThread('th_a'), a, 'the original is untouched')

      const renamed = await store.updateThread('th_a', { title: 'Renamed', updated_at: 150 })
      t.same(renamed, { ...a, title: 'Renamed', updated_at: 150, revision: 1 }, 'metadata kept when not in the patch; the revision bumped')
      t.same(await store.getThread('th_a'), renamed)
      const remeta = await store.updateThread('th_a', { metadata: { only: 'this' } })
      t.same(remeta, { ...a, title: 'Renamed', updated_at: 150, metadata: { only: 'this' }, revision: 2 }, 'metadata is replaced, not merged')
      const untitled = await store.updateThread('th_a', { title: null })
      t.equal(untitled?.title, null, 'title can be cleared')
      const estimated = await store.updateThread('th_a', { token_estimate: 1234 })
      t.equal(estimated?.token_estimate, 1234, 'the token estimate is set')
      t.equal((await store.getThread('th_a'))?.token_estimate, 1234)
      t.equal((await store.updateThread('th_a', { title: 'again' }))?.token_estimate, 1234, 'and kept by other patches')
      const before = (await store.getThread('th_a'))!.revision
      t.equal((await store.updateThread('th_a', {}))?.revision, before + 1, 'every update bumps the revision, even an empty one')
      const racers = await Promise.all(Array.from({ length: 10 }, () => store.updateThread('th_a', { token_estimate: 1 })))
      t.same(racers.map(r => r!.revision).sort((x, y) => x - y), Array.from({ length: 10 }, (_, i) => before + 2 + i), 'concurrent updates each get their own revision')
      t.equal(await store.updateThread('th_missing', { title: 'x' }), null)
      t.equal(await store.getThread('th_missing'), null, 'update does not create')
    })

    tap.test('threads: listing by owner, cursor pagination in both orders', async t => {
      const { store } = await setup(t)
      // Inserted out of created_at order, with a tie (a2/a3) that insertion order breaks.
      await store.createThread(thread('a1', 'alice', 100))
      await store.createThread(thread('a2', 'alice', 200))
      await store.createThread(thread('b1', 'bob', 150))
      await store.createThread(thread('a3', 'alice', 200))
      await store.createThread(thread('a4', 'alice', 300))
      await store.createThread(thread('a5', 'alice', 50))
      const asc = ['a5', 'a1', 'a2', 'a3', 'a4']
      const desc = [...asc].reverse()

      let page = await store.listThreads('alice', { limit: 2, order: 'asc' })
      t.same(ids(page), ['a5', 'a1'])
      t.equal(page.hasMore, true)
      page = await store.listThreads('alice', { limit: 2, order: 'asc', after: 'a1' })
      t.same(ids(page), ['a2', 'a3'])
      t.equal(page.hasMore, true)
      page = await store.listThreads('alice', { limit: 2, order: 'asc', after: 'a3' })
      t.same(ids(page), ['a4'])
      t.equal(page.hasMore, false)

      page = await store.listThreads('alice', { limit: 2, order: 'desc' })
      t.same(ids(page), ['a4', 'a3'])
      page = await store.listThreads('alice', { limit: 2, order: 'desc', after: 'a3' })
      t.same(ids(page), ['a2', 'a1'])
      t.equal(page.hasMore, true)

      t.same(await walk(q => store.listThreads('alice', q), 1, 'asc'), { all: asc, pages: 5 })
      t.same(await walk(q => store.listThreads('alice', q), 3, 'desc'), { all: desc, pages: 2 })
      t.same(page.data[0], thread('a2', 'alice', 200), 'pages carry whole records')

      page = await store.listThreads('alice', { limit: 5, order: 'desc' })
      t.same(ids(page), desc)
      t.equal(page.hasMore, false, 'exactly limit rows: no more')
      page = await store.listThreads('alice', { limit: 4, order: 'desc' })
      t.equal(page.hasMore, true, 'one row beyond the limit: more')
      page = await store.listThreads('alice', { limit: 2, order: 'desc', after: 'a1' })
      t.same(ids(page), ['a5'])
      t.equal(page.hasMore, false, 'last row exactly fills the page')
      page = await store.listThreads('alice', { limit: 2, order: 'asc', after: 'a4' })
      t.same(page, { data: [], hasMore: false }, 'after the last row')

      t.same(await store.listThreads('alice', { limit: 10, order: 'asc', after: 'nope' }), { data: [], hasMore: false },
        'unknown cursor: empty page')
      t.same(await store.listThreads('alice', { limit: 10, order: 'asc', after: 'b1' }), { data: [], hasMore: false },
        "another owner's id is no cursor")
      t.same(ids(await store.listThreads('bob', { limit: 10, order: 'desc' })), ['b1'])
      t.same(await store.listThreads('carol', { limit: 10, order: 'desc' }), { data: [], hasMore: false })
    })

    tap.test('threads: delete removes the thread, its messages and its runs, nothing else', async t => {
      const { store } = await setup(t)
      await store.createThread(thread('th_1', 'alice', 1))
      await store.createThread(thread('th_2', 'alice', 2))
      await store.putMessages([
        { thread_id: 'th_1', item_id: 'msg_1', created_at: 1, run_id: null, attachments: [] },
        { thread_id: 'th_2', item_id: 'msg_2', created_at: 1, run_id: null, attachments: [] }
      ])
      t.same((await store.createRun(makeRun('run_1', 'th_1', 'alice'), OPTS)), { ok: true })
      t.same((await store.createRun(makeRun('run_2', 'th_2', 'alice'), OPTS)), { ok: true })
      t.ok(await store.acquireLock('unrelated', 'me', 60_000))

      await store.deleteThread('th_1')
      t.equal(await store.getThread('th_1'), null)
      t.equal((await store.getMessages('th_1', ['msg_1'])).size, 0)
      t.equal(await store.getRun('run_1'), null)
      t.same(await store.listRuns('th_1', { limit: 10, order: 'asc' }), { data: [], hasMore: false })
      t.same(ids(await store.listThreads('alice', { limit: 10, order: 'asc' })), ['th_2'])

      t.ok(await store.getThread('th_2'), 'other threads stay')
      t.equal((await store.getMessages('th_2', ['msg_2'])).size, 1)
      t.ok(await store.getRun('run_2'))
      t.equal(await store.acquireLock('unrelated', 'other', 60_000), null, 'unrelated locks stay')
      await t.resolves(store.deleteThread('th_missing'), 'deleting an unknown thread is a no-op')
    })

    tap.test('message index', async t => {
      const { store } = await setup(t)
      const m1 = { thread_id: 'th_1', item_id: 'msg_1', created_at: 10, run_id: null, attachments: [] }
      const m2 = { thread_id: 'th_1', item_id: 'msg_2', created_at: 11, run_id: 'run_1', attachments: ['file_a', 'file_b'] }
      const other = { thread_id: 'th_2', item_id: 'msg_3', created_at: 12, run_id: null, attachments: [] }
      await store.putMessages([m1, m2, other])
      await store.putMessages([])

      const found = await store.getMessages('th_1', ['msg_1', 'msg_2', 'msg_missing', 'msg_3'])
      t.same([...found.keys()].sort(), ['msg_1', 'msg_2'], 'missing ids and other threads are absent')
      t.same(found.get('msg_1'), m1)
      t.same(found.get('msg_2'), m2)
      t.equal((await store.getMessages('th_1', [])).size, 0)
      t.equal((await store.getMessages('th_2', ['msg_1'])).size, 0)

      await store.putMessages([{ ...m1, run_id: 'run_9', attachments: ['file_c'] }])
      t.same((await store.getMessages('th_1', ['msg_1'])).get('msg_1'), { ...m1, run_id: 'run_9', attachments: ['file_c'] },
        'put overwrites')
    })

    tap.test('files', async t => {
      const { store } = await setup(t)
      const f = (id: string, owner: string, createdAt: number) => ({
        id, owner, filename: `${id}.png`, bytes: 1234, purpose: 'vision' as const, mime: 'image/png', created_at: createdAt
      })
      await store.createFile(f('file_1', 'alice', 10))
      await store.createFile({ ...f('file_2', 'alice', 20), purpose: 'user_data', mime: 'application/pdf', filename: 'a.pdf' })
      await store.createFile(f('file_3', 'bob', 15))
      await store.createFile(f('file_4', 'alice', 20))
      t.same(await store.getFile('file_1'), f('file_1', 'alice', 10))
      t.equal((await store.getFile('file_2'))?.purpose, 'user_data')
      t.equal(await store.getFile('file_missing'), null)
      await t.rejects(store.createFile(f('file_1', 'bob', 1)), 'a duplicate id is rejected')

      t.same(await walk(q => store.listFiles('alice', q), 2, 'desc'), { all: ['file_4', 'file_2', 'file_1'], pages: 2 })
      t.same(await walk(q => store.listFiles('alice', q), 3, 'asc'), { all: ['file_1', 'file_2', 'file_4'], pages: 1 })
      t.same(await store.listFiles('alice', { limit: 3, order: 'asc', after: 'file_3' }), { data: [], hasMore: false })
      t.same(ids(await store.listFiles('bob', { limit: 10, order: 'asc' })), ['file_3'])

      await store.deleteFile('file_2')
      t.equal(await store.getFile('file_2'), null)
      t.same(ids(await store.listFiles('alice', { limit: 10, order: 'asc' })), ['file_1', 'file_4'])
      await t.resolves(store.deleteFile('file_missing'))
    })

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
        usage: { input_tokens: 10, cached_tokens: 2, output_tokens: 5, reasoning_tokens: 1, total_tokens: 15 },
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
      t.equal(await store.acquireLock('thread:th_1', 'request', 1000), null, 'the run holds the thread lock')
      t.same(await store.createRun(makeRun('run_2', 'th_1', 'alice'), OPTS), { ok: false, reason: 'thread_busy' })
      t.equal(await store.getRun('run_2'), null, 'nothing written')
      t.same(ids(await store.listRuns('th_1', { limit: 10, order: 'asc' })), ['run_1'])
      t.same(await store.createRun(makeRun('run_3', 'th_1', 'bob'), OPTS), { ok: false, reason: 'thread_busy' }, 'whoever asks')

      // A short write lock (e.g. a message being added) also makes the thread busy.
      t.ok(await store.acquireLock('thread:th_2', 'request', 5000))
      t.same(await store.createRun(makeRun('run_4', 'th_2', 'alice'), OPTS), { ok: false, reason: 'thread_busy' })
      t.equal(await store.getRun('run_4'), null)
      t.equal(await store.releaseLock('thread:th_2', 'request'), true, 'a failed createRun left the write lock alone')
      t.same(await store.createRun(makeRun('run_4', 'th_2', 'alice'), OPTS), { ok: true })

      // thread_busy is reported before too_many_active.
      t.same(await store.createRun(makeRun('run_5', 'th_1', 'alice'), { ...OPTS, maxActivePerUser: 1 }),
        { ok: false, reason: 'thread_busy' })

      // The lock decides: once it expires (the driver stopped renewing it), the thread takes a new run.
      clock.advance(OPTS.threadLockTtlMs - 1)
      t.same(await store.createRun(makeRun('run_6', 'th_1', 'alice'), OPTS), { ok: false, reason: 'thread_busy' })
      clock.advance(1)
      t.same(await store.createRun(makeRun('run_6', 'th_1', 'alice'), OPTS), { ok: true })
      t.equal(await store.acquireLock('thread:th_1', 'request', 1000), null, 'now held for the new run')
      await t.rejects(store.createRun(makeRun('run_6', 'th_9', 'alice'), OPTS), 'a duplicate run id is rejected')
      t.ok(await store.acquireLock('thread:th_9', 'request', 1000), 'and takes no lock')
    })

    tap.test('runs: too_many_active per owner', async t => {
      const { store } = await setup(t)
      const opts = { ...OPTS, maxActivePerUser: 2 }
      t.same(await store.createRun(makeRun('run_1', 'th_1', 'alice'), opts), { ok: true })
      t.same(await store.createRun(makeRun('run_2', 'th_2', 'alice', { status: 'in_progress' }), opts), { ok: true })
      t.same(await store.createRun(makeRun('run_3', 'th_3', 'alice'), opts), { ok: false, reason: 'too_many_active' })
      t.equal(await store.getRun('run_3'), null, 'nothing written')
      t.ok(await store.acquireLock('thread:th_3', 'probe', 1000), 'the thread lock was not taken')
      t.equal(await store.releaseLock('thread:th_3', 'probe'), true)
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
        t.equal(await store.acquireLock(`thread:${threadId}`, 'probe', 1000), null, `${status}: held while running`)

        const done = await store.updateRun(`run_${i}`, { status, completed_at: 9 }, fence)
        t.match(done, { id: `run_${i}`, status, completed_at: 9, started_at: 5, lease_owner: null, lease_expires_at: 0, fence })
        t.same(await store.getRun(`run_${i}`), done, 'the returned record is the stored one')
        t.same(await store.createRun(makeRun(`run_${i}_next`, threadId, 'alice'), OPTS), { ok: true },
          `${status}: the thread takes a new run`)
      }

      // The run only releases the lock if it still holds it.
      t.same(await store.createRun(makeRun('run_x', 'th_x', 'alice'), OPTS), { ok: true })
      clock.advance(OPTS.threadLockTtlMs)
      t.ok(await store.acquireLock('thread:th_x', 'writer', 60_000))
      t.ok(await store.updateRun('run_x', { status: 'failed' }, null))
      t.equal(await store.acquireLock('thread:th_x', 'probe', 1000), null, "another holder's lock stays")
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

    tap.test('assistants: versions and tombstones', async t => {
      const { store } = await setup(t)
      t.equal(await store.getAssistant('curator'), null)
      t.same(await store.listAssistants(), [])

      const v1 = await store.putAssistant(profile('curator'), 0, 1000)
      t.same(v1, { profile: profile('curator'), deleted: false, version: 1, updated_at: 1000 })
      t.same(await store.getAssistant('curator'), v1)
      const edited = profile('curator', { instructions: 'Be brief.', temperature: null, tools: [] })
      t.same(await store.putAssistant(edited, 0, 1001), { profile: edited, deleted: false, version: 2, updated_at: 1001 })
      t.equal((await store.putAssistant(edited, 5, 1002)).version, 6, 'a higher base version wins')
      t.equal((await store.putAssistant(edited, 1, 1003)).version, 7, 'a higher stored version wins')

      const tomb = await store.deleteAssistant('curator', 0, 1004)
      t.same(tomb, { profile: null, deleted: true, version: 8, updated_at: 1004 })
      t.same(await store.getAssistant('curator'), tomb)
      t.same(await store.putAssistant(profile('mentor'), 1, 1005), { profile: profile('mentor'), deleted: false, version: 2, updated_at: 1005 },
        'the bundled file counts as version 1')
      t.same(await store.deleteAssistant('analyst', 1, 1006), { profile: null, deleted: true, version: 2, updated_at: 1006 },
        'a profile only in the file is hidden by a tombstone')

      const listed = (await store.listAssistants()).sort((a, b) => a.id.localeCompare(b.id))
      t.same(listed, [
        { id: 'analyst', profile: null, deleted: true, version: 2, updated_at: 1006 },
        { id: 'curator', ...tomb },
        { id: 'mentor', profile: profile('mentor'), deleted: false, version: 2, updated_at: 1005 }
      ], 'tombstones are listed')
      t.same(await store.putAssistant(profile('curator'), 0, 1007), { profile: profile('curator'), deleted: false, version: 9, updated_at: 1007 },
        'saving over a tombstone revives the profile')
    })

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

    tap.test('budgets: reservations against each limit', async t => {
      const { store } = await setup(t)
      const user = limits({ userTokens: 100 })
      t.same(await store.reserveBudget(reservation('r1', { tokens: 60 }), user), { ok: true })
      t.same(await store.reserveBudget(reservation('r2', { tokens: 50 }), user), { ok: false, scope: 'user_tokens' })
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
      t.same(await store.reserveBudget(reservation('c1', { user: 'carol', tokens: 51 }), global), { ok: false, scope: 'global_tokens' },
        'the global budget counts every user')
      t.same(await store.reserveBudget(reservation('c2', { user: 'carol', tokens: 50 }), global), { ok: true })

      const assistant = limits({ assistantTokens: 300 })
      t.same(await store.reserveBudget(reservation('d1', { user: 'dave', tokens: 51 }), assistant), { ok: false, scope: 'assistant_tokens' },
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
      t.same(await store.reserveBudget(reservation('a2', { audio_seconds: 10 }), audio), { ok: false, scope: 'user_audio' })
      t.same(await store.reserveBudget(reservation('a3', { audio_seconds: 9.5 }), audio), { ok: true })
      t.equal((await store.budgetCounters(DAY, 'alice')).reserved_user_audio_seconds, 30)
      t.equal(await store.recordUsage('f_usage', usage({ user: 'frank', total_tokens: 150 })), true)
      t.same(await store.reserveBudget(reservation('f1', { user: 'frank', audio_seconds: 5 }), audio), { ok: true },
        'a user past the token budget (actual usage overshot) can still use audio')
      t.same(await store.reserveBudget(reservation('f2', { user: 'frank', tokens: 1 }), audio), { ok: false, scope: 'user_tokens' })

      const tight = limits({ userTokens: 1, userAudioSeconds: 1, assistantTokens: 1, globalTokens: 1 })
      const big = reservation('e1', { user: 'erin', assistant: 'analyst', tokens: 5, audio_seconds: 5 })
      t.same(await store.reserveBudget(big, tight), { ok: false, scope: 'user_tokens' }, 'first failing scope, in order')
      t.same(await store.reserveBudget(big, { ...tight, userTokens: 0 }), { ok: false, scope: 'user_audio' })
      t.same(await store.reserveBudget(big, { ...tight, userTokens: 0, userAudioSeconds: 0 }), { ok: false, scope: 'assistant_tokens' })
      t.same(await store.reserveBudget(big, { ...tight, userTokens: 0, userAudioSeconds: 0, assistantTokens: 0 }),
        { ok: false, scope: 'global_tokens' })
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
      t.same(await store.reserveBudget(reservation('s3', { tokens: 1 }), user), { ok: false, scope: 'user_tokens' },
        'settled usage counts against the budget')
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
      const one = usage({ input_tokens: 10, cached_tokens: 4, output_tokens: 5, reasoning_tokens: 2, total_tokens: 15, runs: 1, cost_usd: 0.5 })
      t.equal(await store.recordUsage('resp_1', one), true)
      t.equal(await store.recordUsage('resp_1', one), false, 'idempotent per usage id')
      t.equal(await store.recordUsage('resp_2', one), true)
      t.equal(await store.recordUsage('resp_3', { ...one, model: 'gpt-other' }), true)
      t.equal(await store.recordUsage('resp_4', { ...one, user: 'bob' }), true)
      t.equal(await store.recordUsage('resp_5', { ...one, day: NEXT_DAY }), true)
      const audio = usage({ assistant: 'transcription', model: 'whisper-test', audio_seconds: 12.5, runs: 0, cost_usd: 0.01 })
      t.equal(await store.recordUsage('tr_1', audio), true)

      const doubled = { ...one, input_tokens: 20, cached_tokens: 8, output_tokens: 10, reasoning_tokens: 4, total_tokens: 30, runs: 2, cost_usd: 1 }
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
      t.same(await store.reserveBudget(reservation('r1', { tokens: 56 }), limits({ userTokens: 100 })), { ok: false, scope: 'user_tokens' },
        'recorded usage counts against the budget')
    })

    tap.test('data is shared between handles and survives closing one', async t => {
      const { store, reopen, clock } = await setup(t)
      await store.createThread(thread('th_1', 'alice', 1))
      await store.createRun(makeRun('run_1', 'th_1', 'alice'), OPTS)
      await store.acquireLock('k', 'h1', 60_000)
      await store.reserveBudget(reservation('r1', { tokens: 10 }), limits())
      await store.putAssistant(profile('curator'), 0, 1)
      await store.claimIdempotency('alice', 'k1', 'fp', 60_000, 60_000)
      await store.recordUsage('u1', usage({ total_tokens: 5 }))

      const other = await reopen()
      t.same(await other.getThread('th_1'), thread('th_1', 'alice', 1))
      t.equal((await other.getRun('run_1'))?.status, 'queued')
      t.equal(await other.acquireLock('k', 'h2', 60_000), null, 'a lock taken on one handle holds on the other')
      t.same(await other.createRun(makeRun('run_2', 'th_1', 'alice'), OPTS), { ok: false, reason: 'thread_busy' })
      t.same(await other.claimIdempotency('alice', 'k1', 'fp', 60_000, 60_000), { state: 'in_progress' })
      t.match(await other.budgetCounters(DAY, 'alice'), { reserved_user_tokens: 10, user_tokens: 5 })
      t.equal((await other.getAssistant('curator'))?.version, 1)
      t.equal(await other.recordUsage('u1', usage({ total_tokens: 5 })), false)

      await store.close()
      await t.resolves(store.close(), 'close is idempotent')
      await t.rejects(store.ping(), 'a closed handle rejects')
      await t.rejects(store.getThread('th_1'))
      await t.rejects(store.acquireLock('k2', 'h', 1000))

      const third = await reopen()
      t.ok(await third.getThread('th_1'), 'data outlives a closed handle')
      t.equal(await third.releaseBudget('r1'), true)
      clock.advance(60_000)
      t.ok(await third.acquireLock('k', 'h3', 1000), 'handles share the clock-driven expiry')
    })

    tap.test('concurrency: racing handles', async t => {
      const { store, reopen } = await setup(t)
      const other = await reopen()
      const handle = (i: number) => (i % 2 === 0 ? store : other)

      const fences = await Promise.all(range(20).map(i => handle(i).acquireLock('race', `h${i}`, 60_000)))
      t.equal(fences.filter(f => f !== null).length, 1, 'exactly one holder wins a lock')
      const winner = fences.findIndex(f => f !== null)
      t.equal(await handle(winner + 1).renewLock('race', `h${winner}`, 60_000), true, 'and it is the one recorded')

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
  })
}
