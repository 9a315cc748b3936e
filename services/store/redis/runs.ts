import { RUN_FIELDS, isActiveRunStatus, runPatch, type RunRecord, type RunStore } from '../runs.ts'
import { decodeHash, encodeHash } from './codec.ts'
import { EXPIRY_SLACK_MS, type RedisContext } from './context.ts'
import { luaScript } from './lua.ts'
import { orderedRecords } from './ordered.ts'
import { THREAD_LOCK_LUA } from './thread-locks.ts'

/**
 * KEYS: run, thread lock, owner's active set, thread's runs index.
 * ARGV: prefix, now, run id, max active, lock ttl, slack, score, active ('1'/'0'), field/value pairs.
 */
const createRun = luaScript('createRun', 4, `
local now, id = tonumber(ARGV[2]), ARGV[3]
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('AGW_DUPLICATE run ' .. id) end
if not lockFree(KEYS[2], id, now) then return 'thread_busy' end
if redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[4]) then return 'too_many_active' end
local seq = redis.call('INCR', K.seq)
redis.call('HSET', KEYS[1], '_seq', seq, unpack(ARGV, 9))
redis.call('ZADD', KEYS[4], ARGV[7], member(seq, id))
if ARGV[8] == '1' then
  redis.call('SADD', KEYS[3], id)
  redis.call('ZADD', K.activeRuns, ARGV[7], member(seq, id))
end
takeLock(KEYS[2], id, tonumber(ARGV[5]), now, tonumber(ARGV[6]))
changed('run', id)
return 'ok'`, THREAD_LOCK_LUA)

/** KEYS: run. ARGV: prefix, now, worker (JSON), lease ms. Returns the new fence or nil. */
const claimRun = luaScript('claimRun', 1, `
local now = tonumber(ARGV[2])
local run = redis.call('HMGET', KEYS[1], 'status', 'lease_owner', 'lease_expires_at', 'fence')
if not run[1] or not ACTIVE[run[1]] then return false end
if run[2] ~= 'null' and run[2] ~= ARGV[3] and tonumber(run[3]) > now then return false end
local fence = tonumber(run[4]) + 1
redis.call('HSET', KEYS[1], 'lease_owner', ARGV[3], 'lease_expires_at', num(now + tonumber(ARGV[4])), 'fence', num(fence))
return fence`)

/** KEYS: run. ARGV: prefix, now, worker (JSON), fence, lease ms ('' = release the lease, parked until ARGV[6] ms). */
const leaseRun = luaScript('leaseRun', 1, `
local run = redis.call('HMGET', KEYS[1], 'status', 'lease_owner', 'fence')
if not run[1] or not ACTIVE[run[1]] or run[2] ~= ARGV[3] or tonumber(run[3]) ~= tonumber(ARGV[4]) then return 0 end
if ARGV[5] == '' then
  redis.call('HSET', KEYS[1], 'lease_owner', 'null', 'lease_expires_at', num(tonumber(ARGV[6])))
else
  redis.call('HSET', KEYS[1], 'lease_expires_at', num(tonumber(ARGV[2]) + tonumber(ARGV[5])))
end
return 1`)

/**
 * KEYS: run. ARGV: prefix, now, fence ('' = unconditional), new status ('' = unchanged), field/value pairs.
 * The terminal transition releases the thread lock if the run still holds it and clears the lease.
 */
const updateRun = luaScript('updateRun', 1, `
local run = redis.call('HMGET', KEYS[1], 'status', 'fence', 'thread_id', 'owner', '_seq', 'id')
if not run[1] then return false end
if ARGV[3] ~= '' and tonumber(run[2]) ~= tonumber(ARGV[3]) then return false end
local status = run[1]
local nextStatus = status
if ARGV[4] ~= '' then nextStatus = ARGV[4] end
if not ACTIVE[status] and nextStatus ~= status then return false end
if #ARGV > 4 then redis.call('HSET', KEYS[1], unpack(ARGV, 5)) end
if ACTIVE[status] and not ACTIVE[nextStatus] then
  local lock = K.threadLock .. run[3]
  if heldBy(lock, run[6], tonumber(ARGV[2])) then redis.call('DEL', lock) end
  redis.call('HSET', KEYS[1], 'lease_owner', 'null', 'lease_expires_at', '0')
  redis.call('SREM', K.active .. run[4], run[6])
  redis.call('ZREM', K.activeRuns, member(run[5], run[6]))
end
changed('run', run[6])
return redis.call('HGETALL', KEYS[1])`, THREAD_LOCK_LUA)

/** ARGV: prefix, now, limit. Active runs whose lease has expired, oldest first. */
const orphanedRuns = luaScript('orphanedRuns', 0, `
local now, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
if limit < 1 then return out end
for _, m in ipairs(redis.call('ZRANGE', K.activeRuns, 0, -1)) do
  local key = K.run .. string.sub(m, 17)
  local expires = redis.call('HGET', key, 'lease_expires_at')
  if expires and tonumber(expires) <= now then
    out[#out + 1] = redis.call('HGETALL', key)
    if #out >= limit then break end
  end
end
return out`)

/** KEYS: the owner's active set. ARGV: prefix. The owner's active runs, each as HGETALL. */
const activeRuns = luaScript('activeRuns', 1, `
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local run = redis.call('HGETALL', K.run .. id)
  if #run > 0 then out[#out + 1] = run end
end
return out`)

/** Runs; createRun and updateRun publish ('run', id) in the same script as the write. */
export function redisRuns (ctx: RedisContext): RunStore {
  const { keys, clock } = ctx
  const runs = orderedRecords(ctx, 'run', RUN_FIELDS, keys.run, 'thread_id', keys.runs)
  const runOf = (hash: unknown) => decodeHash(hash, RUN_FIELDS)
  return {
    async createRun (run, opts) {
      const result = await ctx.script(createRun,
        [keys.run(run.id), keys.threadLock(run.thread_id), keys.active(run.owner), keys.runs(run.thread_id)],
        [clock(), run.id, opts.maxActivePerUser, opts.threadLockTtlMs, EXPIRY_SLACK_MS, run.created_at,
          isActiveRunStatus(run.status) ? '1' : '0', ...encodeHash(run, RUN_FIELDS)])
      if (result === 'ok') return { ok: true }
      return { ok: false, reason: result as 'thread_busy' | 'too_many_active' }
    },

    getRun: runs.get,
    listRuns: runs.page,

    async listOrphanedRuns (limit) {
      const rows = await ctx.script(orphanedRuns, [], [clock(), limit]) as unknown[]
      return rows.map(row => runOf(row) as RunRecord)
    },

    async listActiveRuns (owner) {
      const rows = await ctx.script(activeRuns, [keys.active(owner)], []) as unknown[]
      return rows.map(row => runOf(row) as RunRecord).sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1))
    },

    async claimRun (id, worker, leaseMs) {
      return await ctx.script(claimRun, [keys.run(id)], [clock(), JSON.stringify(worker), leaseMs]) as number | null
    },

    async renewRun (id, worker, fence, leaseMs) {
      return await ctx.script(leaseRun, [keys.run(id)], [clock(), JSON.stringify(worker), fence, leaseMs]) === 1
    },

    async releaseRun (id, worker, fence, resumeAt = 0) {
      return await ctx.script(leaseRun, [keys.run(id)], [clock(), JSON.stringify(worker), fence, '', resumeAt]) === 1
    },

    async updateRun (id, patch, fence) {
      const applied = runPatch(patch)
      return runOf(await ctx.script(updateRun, [keys.run(id)],
        [clock(), fence === null ? '' : fence, applied.status ?? '', ...encodeHash(applied, RUN_FIELDS)]))
    }
  }
}
