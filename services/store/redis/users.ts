import { USER_FIELDS, newUserRecord, type UserRecord, type UserStore } from '../users.ts'
import { decodeHash, encodeHash } from './codec.ts'
import type { RedisContext } from './context.ts'
import { luaScript } from './lua.ts'

/** Creates the record from the defaults (ARGV from index i, field/value pairs) unless it exists. */
const USER_LUA = `
local function ensure (key, i)
  if redis.call('EXISTS', key) == 0 then redis.call('HSET', key, unpack(ARGV, i)) end
end
`

/**
 * KEYS: user. ARGV: prefix, id, reason (JSON), by (JSON), at, then the defaults. Returns { changed, record }.
 * An already suspended user keeps suspended_at; reason and who are replaced.
 */
const suspendUser = luaScript('suspendUser', 1, `
ensure(KEYS[1], 6)
local was = redis.call('HGET', KEYS[1], 'suspended') == 'true'
redis.call('HSET', KEYS[1], 'suspended', 'true', 'suspension_reason', ARGV[3], 'suspended_by', ARGV[4], 'updated_at', ARGV[5])
if not was then redis.call('HSET', KEYS[1], 'suspended_at', ARGV[5]) end
changed('user', ARGV[2])
return { was and 0 or 1, redis.call('HGETALL', KEYS[1]) }`, USER_LUA)

/** KEYS: user. ARGV: prefix, id, at, then the defaults. Returns { changed, record }. */
const unsuspendUser = luaScript('unsuspendUser', 1, `
ensure(KEYS[1], 4)
local was = redis.call('HGET', KEYS[1], 'suspended') == 'true'
if was then
  redis.call('HSET', KEYS[1], 'suspended', 'false', 'suspended_at', 'null', 'suspension_reason', 'null', 'suspended_by', 'null', 'updated_at', ARGV[3])
end
changed('user', ARGV[2])
return { was and 1 or 0, redis.call('HGETALL', KEYS[1]) }`, USER_LUA)

/** KEYS: user. ARGV: prefix, id, counter field, its time field, at, notice (JSON), then the defaults. Returns the record. */
const recordSafetyNotice = luaScript('recordSafetyNotice', 1, `
ensure(KEYS[1], 7)
redis.call('HINCRBY', KEYS[1], ARGV[3], 1)
redis.call('HSET', KEYS[1], ARGV[4], ARGV[5], 'last_notice', ARGV[6], 'updated_at', ARGV[5])
changed('user', ARGV[2])
return redis.call('HGETALL', KEYS[1])`, USER_LUA)

/** A hash per user (`user:<id>`, USER_FIELDS); every write is a script that also publishes ('user', id) (in a cluster, right after it). */
export function redisUsers (ctx: RedisContext): UserStore {
  const { client, keys } = ctx
  const decode = (flat: unknown) => decodeHash<UserRecord>(flat, USER_FIELDS) as UserRecord
  const defaults = (id: string, now: number) => encodeHash(newUserRecord(id, now), USER_FIELDS)
  return {
    async getUser (id) {
      return decodeHash<UserRecord>(await ctx.call(() => client.hgetall(keys.user(id))), USER_FIELDS)
    },

    async suspendUser (id, { reason, by, at }) {
      const [changed, flat] = await ctx.script(suspendUser, ctx.prefix, [keys.user(id)],
        [id, JSON.stringify(reason), JSON.stringify(by), at, ...defaults(id, at)]) as [number, string[]]
      await ctx.changed('user', id)
      return { user: decode(flat), changed: changed === 1 }
    },

    async unsuspendUser (id, at) {
      const [changed, flat] = await ctx.script(unsuspendUser, ctx.prefix, [keys.user(id)], [id, at, ...defaults(id, at)]) as [number, string[]]
      await ctx.changed('user', id)
      return { user: decode(flat), changed: changed === 1 }
    },

    async recordSafetyNotice (id, notice) {
      const [counter, time] = notice.type === 'warning' ? ['safety_warnings', 'last_warning_at'] : ['safety_deactivations', 'last_deactivation_at']
      const flat = await ctx.script(recordSafetyNotice, ctx.prefix, [keys.user(id)],
        [id, counter, time, notice.at, JSON.stringify(notice), ...defaults(id, notice.at)])
      await ctx.changed('user', id)
      return decode(flat)
    }
  }
}
