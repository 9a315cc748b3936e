import type { IdempotencyClaim, IdempotencyStore, StoredReply } from '../idempotency.ts'
import { EXPIRY_SLACK_MS, type RedisContext } from './context.ts'
import { luaScript } from './lua.ts'

/** KEYS: claim. ARGV: prefix, now, fingerprint, ttl, in-flight ttl, slack. */
const claimIdempotency = luaScript('claimIdempotency', 1, `
local now, ttl = tonumber(ARGV[2]), tonumber(ARGV[4])
local row = redis.call('HMGET', KEYS[1], 'fingerprint', 'completed', 'reply', 'started_at', 'expires_at')
if row[1] and tonumber(row[5]) > now then
  if row[1] ~= ARGV[3] then return { 'mismatch' } end
  if row[2] == '1' then return { 'replay', row[3] } end
  if tonumber(row[4]) + tonumber(ARGV[5]) > now then return { 'in_progress' } end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'fingerprint', ARGV[3], 'completed', '0', 'started_at', num(now), 'expires_at', num(now + ttl))
redis.call('PEXPIRE', KEYS[1], num(ttl + tonumber(ARGV[6])))
return { 'new' }`)

/** KEYS: claim. ARGV: prefix, now, reply JSON. The first answer stays. */
const completeIdempotency = luaScript('completeIdempotency', 1, `
local row = redis.call('HMGET', KEYS[1], 'completed', 'expires_at')
if row[1] ~= '0' or tonumber(row[2]) <= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'completed', '1', 'reply', ARGV[3])
return 1`)

/** KEYS: claim. ARGV: prefix. */
const abandonIdempotency = luaScript('abandonIdempotency', 1, `
if redis.call('HGET', KEYS[1], 'completed') ~= '0' then return 0 end
redis.call('DEL', KEYS[1])
return 1`)

/** A hash per (user, key) with a TTL of ttlMs plus slack. */
export function redisIdempotency (ctx: RedisContext): IdempotencyStore {
  const { keys, clock } = ctx
  return {
    async claimIdempotency (user, key, fingerprint, ttlMs, inFlightTtlMs): Promise<IdempotencyClaim> {
      const [state, reply] = await ctx.script(claimIdempotency, ctx.prefix, [keys.idempotency(user, key)],
        [clock(), fingerprint, ttlMs, inFlightTtlMs, EXPIRY_SLACK_MS]) as [string, string | undefined]
      if (state === 'replay') return { state, reply: JSON.parse(reply as string) as StoredReply }
      return { state } as IdempotencyClaim
    },

    async completeIdempotency (user, key, reply) {
      await ctx.script(completeIdempotency, ctx.prefix, [keys.idempotency(user, key)], [clock(), JSON.stringify(reply)])
    },

    async abandonIdempotency (user, key) {
      await ctx.script(abandonIdempotency, ctx.prefix, [keys.idempotency(user, key)], [])
    }
  }
}
