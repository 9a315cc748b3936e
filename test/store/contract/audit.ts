import type { Test } from 'tap'
import { GENESIS_HASH, auditHash, type AuditDraft, type AuditRecord } from '../../../services/store/types.ts'
import { range, type Setup } from './fixtures.ts'

const draft = (i: number, extra: Partial<AuditDraft> = {}): AuditDraft => ({
  created_at: 1000 + i,
  actor: i % 3 === 0 ? 'system' : 'admin-1',
  action: i % 2 === 0 ? 'user.suspend' : 'assistant.put',
  target: i % 5 === 0 ? null : `t${i}`,
  request_id: i % 7 === 0 ? null : `req-${i}`,
  details: { i, nested: { b: [1, 'two', null], a: true }, text: 'naïve "quoted" — ✓' },
  ...extra
})

/** What a verification checks, from the entries alone: contiguous seqs, each hash over the entry, each prev_hash the one before. */
function chainProblems (entries: AuditRecord[]): string[] {
  const problems: string[] = []
  let prev = GENESIS_HASH
  entries.forEach((e, i) => {
    if (e.seq !== i + 1) problems.push(`seq ${e.seq} at ${i + 1}`)
    if (e.prev_hash !== prev) problems.push(`prev_hash of ${e.id}`)
    const { hash, ...rest } = e
    if (auditHash(rest) !== hash) problems.push(`hash of ${e.id}`)
    prev = e.hash
  })
  return problems
}

export function auditContract (tap: Test, setup: Setup): void {
  tap.test('audit: append seals a chain; entries and pages come back as written', async t => {
    const { store } = await setup(t)
    t.equal(await store.auditHead(), null)
    t.same(await store.listAudit({ limit: 10, order: 'desc' }), { data: [], hasMore: false })
    const first = await store.appendAudit(draft(1))
    t.same(first, { id: 'aud_1', seq: 1, ...draft(1), prev_hash: GENESIS_HASH, hash: first.hash })
    t.match(first.hash, /^[0-9a-f]{64}$/)
    const written = [first]
    for (const i of range(11).map(n => n + 2)) written.push(await store.appendAudit(draft(i)))
    t.same(await store.auditHead(), { seq: 12, hash: written[11]!.hash })
    t.same(chainProblems(await store.auditEntries(0, 100)), [], 'one valid chain')
    t.same(await store.auditEntries(0, 100), written, 'every field, with its type')
    t.same((await store.auditEntries(10, 100)).map(e => e.seq), [11, 12])
    t.same((await store.auditEntries(0, 5)).map(e => e.seq), [1, 2, 3, 4, 5])

    const desc = await store.listAudit({ limit: 5, order: 'desc' })
    t.same(desc.data.map(e => e.seq), [12, 11, 10, 9, 8])
    t.equal(desc.hasMore, true)
    const next = await store.listAudit({ limit: 5, order: 'desc', after: 'aud_8' })
    t.same(next.data.map(e => e.seq), [7, 6, 5, 4, 3])
    const last = await store.listAudit({ limit: 5, order: 'desc', after: 'aud_3' })
    t.same(last, { data: [written[1], written[0]], hasMore: false })
    t.same((await store.listAudit({ limit: 3, order: 'asc', after: 'aud_10' })).data.map(e => e.seq), [11, 12])
    t.same(await store.listAudit({ limit: 3, order: 'asc', after: 'aud_99' }), { data: [], hasMore: false }, 'an unknown cursor is an empty page')
    t.same(await store.listAudit({ limit: 3, order: 'asc', after: 'nonsense' }), { data: [], hasMore: false })

    t.same((await store.listAudit({ limit: 100, order: 'asc', actor: 'system' })).data.map(e => e.seq), [3, 6, 9, 12])
    t.same((await store.listAudit({ limit: 100, order: 'asc', action: 'user.suspend', actor: 'admin-1' })).data.map(e => e.seq), [2, 4, 8, 10])
    t.same((await store.listAudit({ limit: 100, order: 'desc', since: 1010 })).data.map(e => e.seq), [12, 11, 10])
    const filtered = await store.listAudit({ limit: 2, order: 'desc', actor: 'admin-1' })
    t.same(filtered.data.map(e => e.seq), [11, 10])
    t.equal(filtered.hasMore, true)
    t.same((await store.listAudit({ limit: 2, order: 'desc', actor: 'admin-1', after: 'aud_10' })).data.map(e => e.seq), [8, 7])
    await t.rejects(store.listAudit({ limit: 0, order: 'asc' }), RangeError)
  })

  tap.test('audit: concurrent writers on two handles extend one valid chain', async t => {
    const { store, reopen } = await setup(t)
    const other = await reopen()
    const appended = await Promise.all(range(30).map(i => (i % 2 ? store : other).appendAudit(draft(i))))
    t.same(appended.map(e => e.seq).sort((a, b) => a - b), range(30).map(i => i + 1), 'every writer got its own seq')
    const entries = await other.auditEntries(0, 100)
    t.equal(entries.length, 30)
    t.same(chainProblems(entries), [], 'and the chain has no fork')
    t.same(await store.auditHead(), { seq: 30, hash: entries[29]!.hash })
  })
}
