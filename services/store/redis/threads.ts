import { THREAD_FIELDS, threadPatch, type ThreadStore } from '../threads.ts'
import { decodeHash, encodeHash } from './codec.ts'
import type { RedisContext } from './context.ts'
import { luaScript } from './lua.ts'
import { orderedRecords } from './ordered.ts'

/** KEYS: record. ARGV: prefix, field/value pairs. */
const updateThread = luaScript('updateThread', 1, `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if #ARGV > 1 then redis.call('HSET', KEYS[1], unpack(ARGV, 2)) end
redis.call('HINCRBY', KEYS[1], 'revision', 1)
return redis.call('HGETALL', KEYS[1])`)

/** KEYS: thread, its messages, its runs index. ARGV: prefix, thread id. Removes the runs with their indexes. */
const deleteThread = luaScript('deleteThread', 3, `
local thread = redis.call('HMGET', KEYS[1], 'owner', '_seq')
if thread[1] then
  redis.call('ZREM', K.threads .. thread[1], member(thread[2], ARGV[2]))
  redis.call('DEL', KEYS[1])
end
redis.call('DEL', KEYS[2])
for _, m in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  local id = string.sub(m, 17)
  local owner = redis.call('HGET', K.run .. id, 'owner')
  if owner then redis.call('SREM', K.active .. owner, id) end
  redis.call('ZREM', K.activeRuns, m)
  redis.call('DEL', K.run .. id)
end
redis.call('DEL', KEYS[3])
return 1`)

export function redisThreads (ctx: RedisContext): ThreadStore {
  const { keys } = ctx
  const threads = orderedRecords(ctx, 'thread', THREAD_FIELDS, keys.thread, 'owner', keys.threads)
  return {
    createThread: threads.create,
    countThreads: threads.count,
    getThread: threads.get,
    listThreads: threads.page,

    async updateThread (id, patch) {
      return decodeHash(await ctx.script(updateThread, [keys.thread(id)], encodeHash(threadPatch(patch), THREAD_FIELDS)), THREAD_FIELDS)
    },

    async deleteThread (id) {
      await ctx.script(deleteThread, [keys.thread(id), keys.messages(id), keys.runs(id)], [id])
    }
  }
}
