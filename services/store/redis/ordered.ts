import type { Fields } from '../fields.ts'
import { assertLimit } from '../guards.ts'
import type { Page, PageQuery } from '../page.ts'
import { decodeHash, encodeHash } from './codec.ts'
import type { RedisContext } from './context.ts'
import type { KEY_TYPES } from './keys.ts'
import { luaScript } from './lua.ts'

type KeyType = keyof typeof KEY_TYPES & ('thread' | 'threads' | 'file' | 'files' | 'run' | 'runs')

/**
 * KEYS: record, owner index. ARGV: prefix, kind, score, id, most records the index may hold before (-1: no
 * cap), field/value pairs. Returns 0, writing nothing, when the index already holds that many.
 */
const createRecord = luaScript('createRecord', 2, `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('AGW_DUPLICATE ' .. ARGV[2] .. ' ' .. ARGV[4]) end
local max = tonumber(ARGV[5])
if max >= 0 and redis.call('ZCARD', KEYS[2]) >= max then return 0 end
local seq = redis.call('INCR', K.seq)
redis.call('HSET', KEYS[1], '_seq', seq, unpack(ARGV, 6))
redis.call('ZADD', KEYS[2], ARGV[3], member(seq, ARGV[4]))
return 1`)

/**
 * KEYS: index. ARGV: prefix, record key prefix, scope field, scope value, limit, order, after ('' = first page).
 * Returns { hasMore, record... }; a cursor outside the scope gives an empty page. One snapshot.
 */
const page = luaScript('page', 1, `
local recordPrefix, scopeField, scope, limit, desc, after = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6] == 'desc', ARGV[7]
local start = 0
if after ~= '' then
  local cursor = redis.call('HMGET', recordPrefix .. after, scopeField, '_seq')
  if cursor[1] ~= scope or not cursor[2] then return { 0 } end
  local rank
  if desc then rank = redis.call('ZREVRANK', KEYS[1], member(cursor[2], after)) else rank = redis.call('ZRANK', KEYS[1], member(cursor[2], after)) end
  if not rank then return { 0 } end
  start = rank + 1
end
local members
if desc then members = redis.call('ZREVRANGE', KEYS[1], start, start + limit) else members = redis.call('ZRANGE', KEYS[1], start, start + limit) end
local out = { #members > limit and 1 or 0 }
for i = 1, math.min(#members, limit) do out[#out + 1] = redis.call('HGETALL', recordPrefix .. string.sub(members[i], 17)) end
return out`)

/** Where the records of one kind live (homes.ts); null: no such record or scope, nothing to read. */
export interface RecordHomes<T> {
  ofRecord: (id: string) => Promise<string | null>
  ofScope: (scope: string) => Promise<string | null>
  /** The home a new record is written in; throws when its id is taken elsewhere. */
  forCreate?: (record: T) => Promise<string>
}

/**
 * Records listed in insertion order per owner or thread (threads, files, runs): a hash per record (plus
 * `_seq`, its place in the order) and a sorted set per scope, in the same home.
 */
export function orderedRecords<T extends { id: string, created_at: number }> (ctx: RedisContext, kind: string, fields: Fields<T>,
  recordType: KeyType, scopeField: keyof T & string, indexType: KeyType, homes: RecordHomes<T>) {
  const recordKey = (home: string) => ctx.keysAt(home)[recordType] as (id: string) => string
  const indexKey = (home: string) => ctx.keysAt(home)[indexType] as (scope: string) => string
  return {
    /** Inserts the record; a duplicate id is an error. With `maxPerScope`, only while the scope holds fewer (one script). */
    async create (record: T, maxPerScope?: number): Promise<boolean> {
      if (!homes.forCreate) throw new Error(`${kind}s are not created here`)
      const home = await homes.forCreate(record)
      const created = await ctx.script(createRecord, home, [recordKey(home)(record.id), indexKey(home)(String(record[scopeField]))],
        [kind, record.created_at, record.id, maxPerScope ?? -1, ...encodeHash(record, fields)])
      return created === 1
    },
    async count (scope: string): Promise<number> {
      const home = await homes.ofScope(scope)
      return home === null ? 0 : ctx.call(() => ctx.client.zcard(indexKey(home)(scope)))
    },
    async get (id: string): Promise<T | null> {
      const home = await homes.ofRecord(id)
      return home === null ? null : decodeHash(await ctx.call(() => ctx.client.hgetall(recordKey(home)(id))), fields)
    },
    async page (scope: string, query: PageQuery): Promise<Page<T>> {
      assertLimit(query.limit)
      const home = await homes.ofScope(scope)
      if (home === null) return { data: [], hasMore: false }
      const [hasMore, ...rows] = await ctx.script(page, home, [indexKey(home)(scope)],
        [recordKey(home)(''), scopeField, scope, query.limit, query.order, query.after ?? '']) as unknown[]
      return { data: rows.map(row => decodeHash(row, fields) as T), hasMore: hasMore === 1 }
    }
  }
}
