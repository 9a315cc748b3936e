import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { DatabaseSync } from 'node:sqlite'
import { createSqliteStore } from '../../services/store/sqlite-store.ts'
import { MIGRATIONS, migrate } from '../../services/store/sqlite/migrations.ts'
import { storeContract } from './contract.ts'

function tempDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'gateway-store-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A raw connection for looking under the store, closed at teardown. */
function raw (t: Test, path: string): DatabaseSync {
  const db = new DatabaseSync(path)
  t.teardown(() => { if (db.isOpen) db.close() })
  return db
}

const userVersion = (db: DatabaseSync) => Number(db.prepare('PRAGMA user_version').get()?.user_version)
const tableExists = (db: DatabaseSync, name: string) =>
  db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined

const thread = (id: string) => ({ id, owner: 'alice', title: null, metadata: { a: 'b' }, created_at: 1, updated_at: 1, token_estimate: 0, turn_tokens: 0, revision: 0 })

storeContract(t, 'sqlite', async ({ clock, log }) => {
  const dir = mkdtempSync(join(tmpdir(), 'gateway-store-'))
  const path = join(dir, 'store.db')
  return {
    store: createSqliteStore({ path, clock, log }),
    reopen: async () => createSqliteStore({ path, clock, log }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true })
  }
})

t.test('migrations are applied once, recorded, and a newer schema is refused', async t => {
  const path = join(tempDir(t), 'store.db')
  const store = createSqliteStore({ path })
  await store.createThread(thread('th_1'))
  await store.close()

  const db = raw(t, path)
  t.equal(userVersion(db), MIGRATIONS.length, 'user_version records the last migration')
  t.ok(tableExists(db, 'threads'))
  t.same(migrate(db), [], 'nothing left to apply')

  const reopened = createSqliteStore({ path })
  t.ok(await reopened.getThread('th_1'), 'reopening keeps the data (migration 1 did not run again)')
  await reopened.close()

  const next = [...MIGRATIONS, { version: MIGRATIONS.length + 1, name: 'test addition', sql: 'CREATE TABLE added (x TEXT)' }]
  t.same(migrate(db, next), [MIGRATIONS.length + 1], 'only the new migration runs')
  t.same(migrate(db, next), [])
  t.ok(tableExists(db, 'added'))
  t.throws(() => createSqliteStore({ path }), /newer than this gateway knows/, 'an older gateway refuses a newer schema')
})

t.test('a failing migration rolls back entirely', async t => {
  const db = raw(t, join(tempDir(t), 'store.db'))
  const version = MIGRATIONS.length + 1
  const broken = [...MIGRATIONS, { version, name: 'broken', sql: 'CREATE TABLE half (x TEXT); INSERT INTO nope VALUES (1)' }]
  t.throws(() => migrate(db, broken), new RegExp(`migration ${version} \\(broken\\) failed`))
  t.equal(userVersion(db), MIGRATIONS.length, 'the earlier migrations stay applied')
  t.notOk(tableExists(db, 'half'), 'the failed migration left nothing behind')
  t.equal(db.isTransaction, false)
  t.throws(() => migrate(db, [{ version: 2, name: 'gap', sql: '' }]), /expected 1/, 'versions must be contiguous from 1')
})

t.test('WAL mode, JSON columns, directories and :memory:', async t => {
  const path = join(tempDir(t), 'nested', 'deeper', 'store.db')
  const store = createSqliteStore({ path })
  t.ok(existsSync(path), 'the parent directories are created')
  await store.createThread(thread('th_1'))
  await store.putMessages([{ thread_id: 'th_1', item_id: 'msg_1', created_at: 1, run_id: null, attachments: ['file_1'], metadata: null, assistant_id: null }])

  const db = raw(t, path)
  t.equal(db.prepare('PRAGMA journal_mode').get()?.journal_mode, 'wal')
  t.equal(db.prepare('SELECT metadata FROM threads').get()?.metadata, '{"a":"b"}', 'metadata is JSON text')
  t.equal(db.prepare('SELECT attachments FROM messages').get()?.attachments, '["file_1"]')
  await store.close()

  const memory = createSqliteStore({ path: ':memory:' })
  await memory.createThread(thread('th_1'))
  t.same(await memory.getThread('th_1'), thread('th_1'))
  await t.rejects(memory.listThreads('alice', { limit: 0, order: 'asc' }), RangeError, 'a page holds at least one row')
  await t.rejects(memory.listFiles('alice', { limit: 1.5, order: 'asc' }), RangeError)
  await memory.close()
})

t.test('data survives close and reopen', async t => {
  const path = join(tempDir(t), 'store.db')
  const first = createSqliteStore({ path })
  await first.createThread(thread('th_1'))
  t.ok(await first.lockThread('k', 'h1', 60_000))
  await first.close()
  const second = createSqliteStore({ path })
  t.teardown(() => second.close())
  t.same(await second.getThread('th_1'), thread('th_1'))
  t.equal(await second.lockThread('k', 'h2', 60_000), null, 'the lock is still held')
})

t.test('a writer in another connection: reads go on, writes wait busyTimeoutMs then fail cleanly', async t => {
  const path = join(tempDir(t), 'store.db')
  const store = createSqliteStore({ path, busyTimeoutMs: 20 })
  t.teardown(() => store.close())
  await store.createThread(thread('th_1'))

  const db = raw(t, path)
  db.exec('BEGIN IMMEDIATE')
  t.ok(await store.getThread('th_1'), 'WAL: readers are not blocked by a writer')
  await t.rejects(store.lockThread('k', 'h1', 1000), /locked|busy/i)
  db.exec('ROLLBACK')
  t.ok(await store.lockThread('k', 'h1', 1000), 'the failed operation left no transaction open')
})

// Two OS processes hammer the same file. Before each phase both print "ready" and wait for "go", so they
// start it together.
// Paced phase: every round races for a lock, an idempotency key, a thread's run and a unit of budget; the
// second process walks the rounds backwards so the two meet in the middle, and each pauses between rounds
// because SQLite's busy handler sleeps before retrying (a process that never pauses starves the other).
// Burst phase: back-to-back lock acquisitions on one key and reservations on one budget, where a
// read-then-write without the transaction's write lock would interleave.
const CHILD = `
const { createSqliteStore } = await import(process.env.STORE_MODULE)
const store = createSqliteStore({ path: process.env.STORE_PATH })
const me = process.env.WORKER
const rounds = Number(process.env.ROUNDS)
const limit = Number(process.env.BUDGET)
const limits = { userTokens: limit, globalTokens: 0, userAudioSeconds: 0, assistantTokens: 0 }
const reservation = (id, day) => ({ id, day, user: 'u', assistant: 'a', tokens: 1, audio_seconds: 0, expires_at: Date.now() + 600000 })
const run = (id, threadId) => ({
  id, thread_id: threadId, owner: 'u' + id, assistant_type: 'curator', assistant_version: 1, model: 'm', status: 'queued',
  created_at: 1, started_at: null, completed_at: null, cancelled_at: null, failed_at: null, last_error: null,
  incomplete_details: null, usage: null, temperature: null, top_p: null, max_output_tokens: null, stream: false,
  response_ids: [], settled_response_ids: [], tool_rounds: 0, cancel_requested: false, reservation_id: null,
  deadline_at: Date.now() + 600000, lease_owner: null, lease_expires_at: 0, fence: 0
})
const lines = (await import('node:readline')).createInterface({ input: process.stdin })[Symbol.asyncIterator]()
const barrier = async () => {
  process.stdout.write('ready\\n')
  while ((await lines.next()).value !== 'go');
}
await barrier()
const won = { locks: [], claims: [], runs: [], budget: 0, burstBudget: 0, fences: [] }
for (let n = 0; n < rounds; n++) {
  const i = process.env.REVERSE ? rounds - 1 - n : n
  if (await store.lockThread('race:' + i, me, 600000) !== null) won.locks.push(i)
  if ((await store.claimIdempotency('u', 'k' + i, 'fp', 600000, 600000)).state === 'new') won.claims.push(i)
  if ((await store.createRun(run(me + i, 't' + i), { maxActivePerUser: 1, threadLockTtlMs: 600000 })).ok) won.runs.push(i)
  if ((await store.reserveBudget(reservation(me + i, 'paced'), limits)).ok) won.budget++
  await new Promise(resolve => setTimeout(resolve, 1))
}
await barrier()
for (let n = 0; n < rounds; n++) {
  // ttl 0: free again at once, so every call acquires; the fences must all differ.
  won.fences.push(await store.lockThread('shared', me, 0))
  if ((await store.reserveBudget(reservation(me + 'burst' + n, 'burst'), limits)).ok) won.burstBudget++
}
await store.close()
process.stdout.write(JSON.stringify(won) + '\\n')
process.exit(0)
`

interface ChildResult { locks: number[], claims: number[], runs: number[], budget: number, burstBudget: number, fences: number[] }

t.test('two processes racing on one file never both win', async t => {
  const path = join(tempDir(t), 'store.db')
  const setupStore = createSqliteStore({ path })
  await setupStore.close()
  const rounds = 150
  const budget = 100

  const children = ['p1-', 'p2-'].map((worker, index) => {
    const child = spawn(process.execPath, ['--no-warnings', '--input-type=module', '-e', CHILD], {
      env: {
        ...process.env,
        STORE_MODULE: new URL('../../services/store/sqlite-store.ts', import.meta.url).href,
        STORE_PATH: path,
        WORKER: worker,
        ROUNDS: String(rounds),
        BUDGET: String(budget),
        ...(index === 1 ? { REVERSE: '1' } : {})
      },
      stdio: ['pipe', 'pipe', 'pipe']
    })
    let stderr = ''
    child.stderr.on('data', chunk => { stderr += chunk })
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
    const done = new Promise<void>((resolve, reject) => {
      child.on('close', code => code === 0 ? resolve() : reject(new Error(`child ${worker} exited with ${code}: ${stderr}`)))
    })
    const nextLine = async () => {
      const line = await Promise.race([lines.next(), done.then(() => ({ value: undefined }))])
      if (typeof line.value !== 'string') throw new Error(`child ${worker} ended early: ${stderr}`)
      return line.value
    }
    return { child, done, nextLine }
  })
  t.teardown(() => { for (const c of children) if (c.child.exitCode === null) c.child.kill() })
  for (let phase = 0; phase < 2; phase++) {
    t.same(await Promise.all(children.map(c => c.nextLine())), ['ready', 'ready'])
    for (const c of children) c.child.stdin.write('go\n')
  }
  const [a, b] = await Promise.all(children.map(async c => JSON.parse(await c.nextLine()) as ChildResult))
  await Promise.all(children.map(c => c.done))
  t.comment(`wins p1/p2: locks ${a.locks.length}/${b.locks.length}, runs ${a.runs.length}/${b.runs.length}, ` +
    `budget ${a.budget}/${b.budget}, burst ${a.burstBudget}/${b.burstBudget}`)

  const all = Array.from({ length: rounds }, (_, i) => i)
  for (const field of ['locks', 'claims', 'runs'] as const) {
    t.same([...a[field], ...b[field]].sort((x, y) => x - y), all, `${field}: every round won by exactly one process`)
  }
  t.equal(a.budget + b.budget, budget, 'exactly the budget was reserved')
  t.equal(a.burstBudget + b.burstBudget, budget, 'exactly the budget was reserved in a burst')
  const fences = [...a.fences, ...b.fences]
  t.equal(new Set(fences).size, rounds * 2, 'every acquisition got its own fence')
  t.ok(a.fences.every((f, i) => i === 0 || f > a.fences[i - 1]), 'fences increase within a process')

  const store = createSqliteStore({ path })
  t.teardown(() => store.close())
  t.equal((await store.budgetCounters('paced', 'u')).reserved_user_tokens, budget, 'the stored counters agree')
  t.equal((await store.budgetCounters('burst', 'u')).reserved_user_tokens, budget)
  const db = raw(t, path)
  t.equal(db.prepare('SELECT count(*) AS n FROM runs').get()?.n, rounds, 'one run per thread was written')
})
