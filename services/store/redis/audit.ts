import { sealAudit, type AuditHead, type AuditRecord, type AuditStore } from '../audit.ts'
import { assertLimit } from '../guards.ts'
import type { RedisContext } from './context.ts'
import { luaScript } from './lua.ts'

/** How many entries a page or a verification reads per round trip. */
const BATCH = 200
/** A writer that keeps losing the race to the head gives up after this many tries (a bug or a storm, never normal). */
const MAX_APPEND_TRIES = 1000

/**
 * KEYS: entries, head. ARGV: prefix, the head's seq the entry was sealed on (0: none), seq, entry JSON, hash.
 * Appends only if the head has not moved since (compare-and-set): the entry's hash is computed in
 * TypeScript (SHA-256), so a writer that lost the race seals again on the new head.
 */
const appendAudit = luaScript('appendAudit', 2, `
local head = tonumber(redis.call('HGET', KEYS[2], 'seq')) or 0
if head ~= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
redis.call('HSET', KEYS[2], 'seq', ARGV[3], 'hash', ARGV[5])
return 1`)

/**
 * The audit trail: one hash seq → the entry as JSON (`audit-entries`), and `audit-head` (seq and hash of
 * the last entry). Seqs are contiguous, so a page is an HMGET of a run of seqs, filtered here.
 */
export function redisAudit (ctx: RedisContext): AuditStore {
  const { client } = ctx
  const home = ctx.homes.fixed('audit')
  const keys = ctx.keysAt(home)
  async function head (): Promise<AuditHead | null> {
    const [seq, hash] = await ctx.call(() => client.hmget(keys.auditHead, 'seq', 'hash'))
    return seq === null || hash === null ? null : { seq: Number(seq), hash }
  }
  async function read (seqs: number[]): Promise<AuditRecord[]> {
    if (seqs.length === 0) return []
    const values = await ctx.call(() => client.hmget(keys.auditEntries, ...seqs.map(String)))
    return values.filter((v): v is string => v !== null).map(v => JSON.parse(v) as AuditRecord)
  }
  const seqOf = (id: string) => /^aud_([1-9]\d*)$/.exec(id)?.[1]
  return {
    async appendAudit (draft) {
      for (let tries = 0; tries < MAX_APPEND_TRIES; tries++) {
        const current = await head()
        const entry = sealAudit(draft, current)
        const appended = await ctx.script(appendAudit, home, [keys.auditEntries, keys.auditHead],
          [current?.seq ?? 0, entry.seq, JSON.stringify(entry), entry.hash])
        if (appended === 1) return entry
      }
      throw new Error('appendAudit: the audit head kept moving; giving up')
    },

    async listAudit (query) {
      assertLimit(query.limit)
      const last = await head()
      if (!last) return { data: [], hasMore: false }
      const desc = query.order === 'desc'
      let cursor = desc ? last.seq + 1 : 0
      if (query.after !== undefined) {
        const seq = seqOf(query.after)
        if (seq === undefined || Number(seq) > last.seq || (await read([Number(seq)])).length === 0) return { data: [], hasMore: false }
        cursor = Number(seq)
      }
      const matches = (e: AuditRecord) => (query.actor === undefined || e.actor === query.actor) &&
        (query.action === undefined || e.action === query.action) && (query.since === undefined || e.created_at >= query.since)
      const found: AuditRecord[] = []
      while (found.length <= query.limit) {
        const seqs: number[] = []
        for (let s = desc ? cursor - 1 : cursor + 1; seqs.length < BATCH && s >= 1 && s <= last.seq; s += desc ? -1 : 1) seqs.push(s)
        if (seqs.length === 0) break
        found.push(...(await read(seqs)).filter(matches))
        cursor = seqs.at(-1)!
      }
      return { data: found.slice(0, query.limit), hasMore: found.length > query.limit }
    },

    async auditEntries (afterSeq, limit) {
      assertLimit(limit)
      const end = (await head())?.seq ?? 0
      const out: AuditRecord[] = []
      for (let from = afterSeq + 1; from <= end && out.length < limit; from += BATCH) {
        out.push(...await read(Array.from({ length: Math.min(BATCH, end - from + 1) }, (_, i) => from + i)))
      }
      return out.slice(0, limit)
    },

    auditHead: head
  }
}
