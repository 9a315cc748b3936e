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

/** KEYS: the active runs. ARGV: prefix, now, limit. Active runs whose lease has expired, oldest first (one Redis). */
const orphanedRuns = luaScript('orphanedRuns', 1, `
local now, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
if limit < 1 then return out end
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
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

/**
 * A candidate that names no run is a create that has not written yet (the candidate goes first) or one
 * whose clean-up failed; after this long on the store's clock it is the latter.
 */
const CANDIDATE_GRACE_MS = 60_000
const SCAN_BATCH = 200

/**
 * In a cluster, active runs live in their owners' homes, so the sweeper's scan for orphans reads one index
 * of every run that may be active (`{runs}active-candidates`, scored by created_at): a candidate is added
 * before createRun's script and removed after the run ends (or the create is refused, or the thread is
 * deleted). If a removal is lost the scan finds the run ended, or missing for longer than a create takes,
 * and removes it then; so the index always holds every active run. Its members: the store clock at the
 * create (ties in created_at keep insertion order), the run's home tag and id.
 */
export async function forgetCandidates (ctx: RedisContext, candidates: string[]): Promise<void> {
  if (!ctx.clustered || candidates.length === 0) return
  const index = ctx.keysAt(ctx.homes.fixed('runs')).activeCandidates
  await ctx.call(() => ctx.client.zrem(index, ...candidates)).catch(() => {})
}

/** Runs; createRun and updateRun publish ('run', id) in the same script as the write. */
export function redisRuns (ctx: RedisContext): RunStore {
  const { clock, homes } = ctx
  const runs = orderedRecords(ctx, 'run', RUN_FIELDS, 'run', 'thread_id', 'runs', {
    ofRecord: id => homes.find('run', id),
    ofScope: threadId => homes.find('thread', threadId)
  })
  const runOf = (hash: unknown) => decodeHash(hash, RUN_FIELDS)
  const candidates = () => ctx.keysAt(homes.fixed('runs')).activeCandidates

  async function scanOrphans (limit: number): Promise<RunRecord[]> {
    const out: RunRecord[] = []
    if (limit < 1) return out
    const now = clock()
    for (let start = 0; ;) {
      const members = await ctx.call(() => ctx.client.zrange(candidates(), start, start + SCAN_BATCH - 1))
      if (members.length === 0) return out
      const rows = await Promise.all(members.map(member => {
        const [, tag, id] = member.split(' ')
        return ctx.call(() => ctx.client.hgetall(ctx.keysAt(homes.at(tag!)).run(id!)))
      }))
      const stale: string[] = []
      for (const [i, member] of members.entries()) {
        const run = runOf(rows[i]) as RunRecord | null
        if (run === null) {
          if (now - Number(member.split(' ')[0]) > CANDIDATE_GRACE_MS) stale.push(member)
        } else if (!isActiveRunStatus(run.status)) {
          stale.push(member)
        } else if (run.lease_expires_at <= now) {
          out.push(run)
          if (out.length >= limit) break
        }
      }
      await forgetCandidates(ctx, stale)
      if (out.length >= limit) return out
      start += members.length - stale.length
    }
  }

  return {
    async createRun (run, opts) {
      const threadHome = await homes.find('thread', run.thread_id) ?? await homes.claim('thread', run.thread_id, homes.owner(run.owner))
      const home = await homes.claimAs('run', run.id, threadHome)
      const keys = ctx.keysAt(home)
      const active = isActiveRunStatus(run.status)
      const candidate = ctx.clustered && active ? `${String(clock()).padStart(16, '0')} ${homes.tag(home)} ${run.id}` : null
      if (candidate !== null) await ctx.call(() => ctx.client.zadd(candidates(), run.created_at, candidate))
      let result: unknown
      try {
        result = await ctx.script(createRun, home,
          [keys.run(run.id), keys.threadLock(run.thread_id), keys.active(run.owner), keys.runs(run.thread_id)],
          [clock(), run.id, opts.maxActivePerUser, opts.threadLockTtlMs, EXPIRY_SLACK_MS, run.created_at,
            active ? '1' : '0', ...encodeHash(run, RUN_FIELDS), ...(candidate === null ? [] : ['_candidate', candidate])])
      } catch (err) {
        if (candidate !== null) await forgetCandidates(ctx, [candidate])
        throw err
      }
      if (result === 'ok') {
        await ctx.changed('run', run.id)
        return { ok: true }
      }
      if (candidate !== null) await forgetCandidates(ctx, [candidate])
      return { ok: false, reason: result as 'thread_busy' | 'too_many_active' }
    },

    getRun: runs.get,
    listRuns: runs.page,

    async listOrphanedRuns (limit) {
      if (ctx.clustered) return scanOrphans(limit)
      const rows = await ctx.script(orphanedRuns, ctx.prefix, [ctx.keys.activeRuns], [clock(), limit]) as unknown[]
      return rows.map(row => runOf(row) as RunRecord)
    },

    async listActiveRuns (owner) {
      const home = homes.owner(owner)
      const rows = await ctx.script(activeRuns, home, [ctx.keysAt(home).active(owner)], []) as unknown[]
      return rows.map(row => runOf(row) as RunRecord).sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1))
    },

    async claimRun (id, worker, leaseMs) {
      const home = await homes.find('run', id)
      if (home === null) return null
      return await ctx.script(claimRun, home, [ctx.keysAt(home).run(id)], [clock(), JSON.stringify(worker), leaseMs]) as number | null
    },

    async renewRun (id, worker, fence, leaseMs) {
      const home = await homes.find('run', id)
      if (home === null) return false
      return await ctx.script(leaseRun, home, [ctx.keysAt(home).run(id)], [clock(), JSON.stringify(worker), fence, leaseMs]) === 1
    },

    async releaseRun (id, worker, fence, resumeAt = 0) {
      const home = await homes.find('run', id)
      if (home === null) return false
      return await ctx.script(leaseRun, home, [ctx.keysAt(home).run(id)], [clock(), JSON.stringify(worker), fence, '', resumeAt]) === 1
    },

    async updateRun (id, patch, fence) {
      const home = await homes.find('run', id)
      if (home === null) return null
      const applied = runPatch(patch)
      const hash = await ctx.script(updateRun, home, [ctx.keysAt(home).run(id)],
        [clock(), fence === null ? '' : fence, applied.status ?? '', ...encodeHash(applied, RUN_FIELDS)]) as string[] | null
      const updated = runOf(hash)
      if (updated !== null) await ctx.changed('run', id)
      if (ctx.clustered && updated !== null && !isActiveRunStatus(updated.status)) {
        const at = hash!.indexOf('_candidate')
        if (at !== -1 && at % 2 === 0) await forgetCandidates(ctx, [hash![at + 1]!])
      }
      return updated
    }
  }
}
