import type { ThreadLockStore } from '../thread-locks.ts'
import { EXPIRY_SLACK_MS, type RedisContext } from './context.ts'
import { luaScript } from './lua.ts'

/**
 * Thread locks: a hash {holder, expires_at} per thread, deleted on release; fences come from one counter
 * that never goes back. Lua helpers for the scripts that take or drop the lock with a run (redis/runs.ts).
 */
export const THREAD_LOCK_LUA = `
local function takeLock (key, holder, ttl, now, slack)
  local fence = redis.call('INCR', K.fence)
  redis.call('HSET', key, 'holder', holder, 'expires_at', num(now + ttl))
  redis.call('PEXPIRE', key, num(ttl + slack))
  return fence
end
local function lockFree (key, holder, now)
  local h = redis.call('HMGET', key, 'holder', 'expires_at')
  return not h[1] or h[1] == holder or tonumber(h[2]) <= now
end
local function heldBy (key, holder, now)
  local h = redis.call('HMGET', key, 'holder', 'expires_at')
  return h[1] == holder and tonumber(h[2]) > now
end
`

/** KEYS: lock. ARGV: prefix, now, holder, ttl, slack. */
const lockThread = luaScript('lockThread', 1, `
local now = tonumber(ARGV[2])
if not lockFree(KEYS[1], ARGV[3], now) then return false end
return takeLock(KEYS[1], ARGV[3], tonumber(ARGV[4]), now, tonumber(ARGV[5]))`, THREAD_LOCK_LUA)

/** KEYS: lock. ARGV: prefix, now, holder. */
const unlockThread = luaScript('unlockThread', 1, `
if not heldBy(KEYS[1], ARGV[3], tonumber(ARGV[2])) then return 0 end
redis.call('DEL', KEYS[1])
return 1`, THREAD_LOCK_LUA)

export function redisThreadLocks (ctx: RedisContext): ThreadLockStore {
  const { clock, homes } = ctx
  return {
    async lockThread (threadId, holder, ttlMs) {
      const home = await homes.find('thread', threadId) ?? await homes.claim('thread', threadId, homes.threadOnly(threadId))
      return await ctx.script(lockThread, home, [ctx.keysAt(home).threadLock(threadId)], [clock(), holder, ttlMs, EXPIRY_SLACK_MS]) as number | null
    },
    async unlockThread (threadId, holder) {
      const home = await homes.find('thread', threadId)
      if (home === null) return false
      return await ctx.script(unlockThread, home, [ctx.keysAt(home).threadLock(threadId)], [clock(), holder]) === 1
    }
  }
}
