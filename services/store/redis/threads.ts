import { THREAD_FIELDS, threadPatch, type ThreadStore } from '../threads.ts'
import { decodeHash, encodeHash } from './codec.ts'
import type { RedisContext } from './context.ts'
import { luaScript } from './lua.ts'
import { orderedRecords } from './ordered.ts'
import { forgetCandidates } from './runs.ts'

/** KEYS: record. ARGV: prefix, field/value pairs. */
const updateThread = luaScript('updateThread', 1, `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if #ARGV > 1 then redis.call('HSET', KEYS[1], unpack(ARGV, 2)) end
redis.call('HINCRBY', KEYS[1], 'revision', 1)
return redis.call('HGETALL', KEYS[1])`)

/**
 * KEYS: thread, its messages, its runs index. ARGV: prefix, thread id. Removes the runs with their indexes;
 * returns their entries in the cluster's index of active runs (redis/runs.ts), for the caller to remove.
 */
const deleteThread = luaScript('deleteThread', 3, `
local gone = {}
local thread = redis.call('HMGET', KEYS[1], 'owner', '_seq')
if thread[1] then
  redis.call('ZREM', K.threads .. thread[1], member(thread[2], ARGV[2]))
  redis.call('DEL', KEYS[1])
end
redis.call('DEL', KEYS[2])
for _, m in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  local id = string.sub(m, 17)
  local run = redis.call('HMGET', K.run .. id, 'owner', '_candidate')
  if run[1] then redis.call('SREM', K.active .. run[1], id) end
  if run[2] then gone[#gone + 1] = run[2] end
  redis.call('ZREM', K.activeRuns, m)
  redis.call('DEL', K.run .. id)
end
redis.call('DEL', KEYS[3])
return gone`)

export function redisThreads (ctx: RedisContext): ThreadStore {
  const { homes } = ctx
  const threads = orderedRecords(ctx, 'thread', THREAD_FIELDS, 'thread', 'owner', 'threads', {
    ofRecord: id => homes.find('thread', id),
    ofScope: async owner => homes.owner(owner),
    forCreate: record => homes.claimAs('thread', record.id, homes.owner(record.owner))
  })
  return {
    createThread: threads.create,
    countThreads: threads.count,
    getThread: threads.get,
    listThreads: threads.page,

    async updateThread (id, patch) {
      const home = await homes.find('thread', id)
      if (home === null) return null
      return decodeHash(await ctx.script(updateThread, home, [ctx.keysAt(home).thread(id)], encodeHash(threadPatch(patch), THREAD_FIELDS)), THREAD_FIELDS)
    },

    async deleteThread (id) {
      const home = await homes.find('thread', id)
      if (home === null) return
      const keys = ctx.keysAt(home)
      const candidates = await ctx.script(deleteThread, home, [keys.thread(id), keys.messages(id), keys.runs(id)], [id]) as string[]
      await forgetCandidates(ctx, candidates)
    }
  }
}
