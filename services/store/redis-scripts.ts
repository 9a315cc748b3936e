import { createHash } from 'node:crypto'

/**
 * The Lua scripts of the Redis store: every check-then-write is one script, so it runs atomically in
 * Redis whatever the other instances do. Conventions:
 * - ARGV[1] is the key prefix; keys derived from stored data (a run's owner, a reservation's day) are
 *   built here the same way `redisKeys` builds them in redis-store.ts.
 * - Times come from the caller's clock as ARGV (never Redis TIME), so a fake clock drives expiry.
 * - Records are hashes of one field per property: identity fields raw, everything else JSON text.
 * - Ordered indexes are sorted sets scored by created_at whose members are a 16-digit insertion
 *   sequence followed by the id: equal scores sort by member, i.e. by insertion order.
 */
export interface Script { name: string, lua: string, sha: string }

const PRELUDE = `
local P = ARGV[1]
local ACTIVE = { queued = true, in_progress = true, cancelling = true }
local function num (n)
  if n == math.floor(n) and math.abs(n) < 1e15 then return string.format('%d', n) end
  return string.format('%.17g', n)
end
local function member (seq, id) return string.format('%016d', tonumber(seq)) .. id end
local function counters (day) return P .. 'budget:' .. day end

-- Locks: a hash {holder, expires_at}, deleted on release; fences come from one counter that never goes back.
local function takeLock (key, holder, ttl, now, slack)
  local fence = redis.call('INCR', P .. 'fence')
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

-- Budgets: one hash per day, fields kind:used|reserved:subject.
local function bump (key, field, amount)
  if tonumber(amount) ~= 0 then redis.call('HINCRBYFLOAT', key, field, amount) end
end
local function bumpReserved (day, user, assistant, tokens, audio, sign)
  local c = counters(day)
  bump(c, 'user_tokens:reserved:' .. user, sign .. tokens)
  bump(c, 'user_audio:reserved:' .. user, sign .. audio)
  bump(c, 'assistant_tokens:reserved:' .. assistant, sign .. tokens)
  bump(c, 'global_tokens:reserved:', sign .. tokens)
  return c
end
-- Frees an open reservation; returns its day, or false when there was none.
local function releaseReservation (id)
  local key = P .. 'reservation:' .. id
  local r = redis.call('HMGET', key, 'day', 'user', 'assistant', 'tokens', 'audio_seconds')
  if not r[1] then return false end
  redis.call('DEL', key)
  redis.call('ZREM', P .. 'reservations', id)
  bumpReserved(r[1], r[2], r[3], r[4], r[5], '-')
  return r[1]
end
local USAGE_FIELDS = { 'input_tokens', 'cached_tokens', 'output_tokens', 'reasoning_tokens', 'total_tokens', 'audio_seconds', 'runs', 'cost_usd' }
-- ARGV from index i: day, user, assistant, row key, the eight amounts in USAGE_FIELDS order, counter ttl.
-- A given day (a settled reservation's) replaces the one in ARGV.
local function applyUsage (i, day)
  day = day or ARGV[i]
  local user, assistant, row = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local amount = {}
  for n, field in ipairs(USAGE_FIELDS) do amount[field] = ARGV[i + 3 + n] end
  local c = counters(day)
  bump(c, 'user_tokens:used:' .. user, amount.total_tokens)
  bump(c, 'user_audio:used:' .. user, amount.audio_seconds)
  bump(c, 'assistant_tokens:used:' .. assistant, amount.total_tokens)
  bump(c, 'global_tokens:used:', amount.total_tokens)
  if redis.call('EXISTS', c) == 1 then redis.call('PEXPIRE', c, ARGV[i + 12]) end
  local ledger = P .. 'ledger:' .. #day .. ':' .. day .. ':' .. user
  for _, field in ipairs(USAGE_FIELDS) do redis.call('HINCRBYFLOAT', ledger, row .. '|' .. field, amount[field]) end
  redis.call('SADD', P .. 'ledger-users:' .. day, user)
end
`

const SCRIPTS = {
  /** KEYS: record, owner index. ARGV: prefix, kind, score, id, field/value pairs. */
  createRecord: `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('AGW_DUPLICATE ' .. ARGV[2] .. ' ' .. ARGV[4]) end
local seq = redis.call('INCR', P .. 'seq')
redis.call('HSET', KEYS[1], '_seq', seq, unpack(ARGV, 5))
redis.call('ZADD', KEYS[2], ARGV[3], member(seq, ARGV[4]))
return 1`,

  /**
   * KEYS: index. ARGV: prefix, record key prefix, scope field, scope value, limit, order, after ('' = first page).
   * Returns { hasMore, record... }; a cursor outside the scope gives an empty page.
   */
  page: `
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
return out`,

  /** KEYS: record. ARGV: prefix, field/value pairs. */
  updateThread: `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if #ARGV > 1 then redis.call('HSET', KEYS[1], unpack(ARGV, 2)) end
redis.call('HINCRBY', KEYS[1], 'revision', 1)
return redis.call('HGETALL', KEYS[1])`,

  /** KEYS: thread, its messages, its runs index. ARGV: prefix, thread id. */
  deleteThread: `
local thread = redis.call('HMGET', KEYS[1], 'owner', '_seq')
if thread[1] then
  redis.call('ZREM', P .. 'threads:' .. thread[1], member(thread[2], ARGV[2]))
  redis.call('DEL', KEYS[1])
end
redis.call('DEL', KEYS[2])
for _, m in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  local id = string.sub(m, 17)
  local owner = redis.call('HGET', P .. 'run:' .. id, 'owner')
  if owner then redis.call('SREM', P .. 'active:' .. owner, id) end
  redis.call('ZREM', P .. 'active-runs', m)
  redis.call('DEL', P .. 'run:' .. id)
end
redis.call('DEL', KEYS[3])
return 1`,

  /** KEYS: file. ARGV: prefix, file id. */
  deleteFile: `
local file = redis.call('HMGET', KEYS[1], 'owner', '_seq')
if not file[1] then return 0 end
redis.call('ZREM', P .. 'files:' .. file[1], member(file[2], ARGV[2]))
redis.call('DEL', KEYS[1])
return 1`,

  /** KEYS: lock. ARGV: prefix, now, holder, ttl, slack. */
  acquireLock: `
local now = tonumber(ARGV[2])
if not lockFree(KEYS[1], ARGV[3], now) then return false end
return takeLock(KEYS[1], ARGV[3], tonumber(ARGV[4]), now, tonumber(ARGV[5]))`,

  /** KEYS: lock. ARGV: prefix, now, holder, ttl, slack. */
  renewLock: `
local now, ttl = tonumber(ARGV[2]), tonumber(ARGV[4])
if not heldBy(KEYS[1], ARGV[3], now) then return 0 end
redis.call('HSET', KEYS[1], 'expires_at', num(now + ttl))
redis.call('PEXPIRE', KEYS[1], num(ttl + tonumber(ARGV[5])))
return 1`,

  /** KEYS: lock. ARGV: prefix, now, holder. */
  releaseLock: `
if not heldBy(KEYS[1], ARGV[3], tonumber(ARGV[2])) then return 0 end
redis.call('DEL', KEYS[1])
return 1`,

  /**
   * KEYS: run, thread lock, owner's active set, thread's runs index.
   * ARGV: prefix, now, run id, max active, lock ttl, slack, score, active ('1'/'0'), field/value pairs.
   */
  createRun: `
local now, id = tonumber(ARGV[2]), ARGV[3]
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('AGW_DUPLICATE run ' .. id) end
if not lockFree(KEYS[2], id, now) then return 'thread_busy' end
if redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[4]) then return 'too_many_active' end
local seq = redis.call('INCR', P .. 'seq')
redis.call('HSET', KEYS[1], '_seq', seq, unpack(ARGV, 9))
redis.call('ZADD', KEYS[4], ARGV[7], member(seq, id))
if ARGV[8] == '1' then
  redis.call('SADD', KEYS[3], id)
  redis.call('ZADD', P .. 'active-runs', ARGV[7], member(seq, id))
end
takeLock(KEYS[2], id, tonumber(ARGV[5]), now, tonumber(ARGV[6]))
return 'ok'`,

  /** KEYS: run. ARGV: prefix, now, worker (JSON), lease ms. Returns the new fence or nil. */
  claimRun: `
local now = tonumber(ARGV[2])
local run = redis.call('HMGET', KEYS[1], 'status', 'lease_owner', 'lease_expires_at', 'fence')
if not run[1] or not ACTIVE[run[1]] then return false end
if run[2] ~= 'null' and run[2] ~= ARGV[3] and tonumber(run[3]) > now then return false end
local fence = tonumber(run[4]) + 1
redis.call('HSET', KEYS[1], 'lease_owner', ARGV[3], 'lease_expires_at', num(now + tonumber(ARGV[4])), 'fence', num(fence))
return fence`,

  /** KEYS: run. ARGV: prefix, now, worker (JSON), fence, lease ms ('' = release the lease). */
  leaseRun: `
local run = redis.call('HMGET', KEYS[1], 'status', 'lease_owner', 'fence')
if not run[1] or not ACTIVE[run[1]] or run[2] ~= ARGV[3] or tonumber(run[3]) ~= tonumber(ARGV[4]) then return 0 end
if ARGV[5] == '' then
  redis.call('HSET', KEYS[1], 'lease_owner', 'null', 'lease_expires_at', '0')
else
  redis.call('HSET', KEYS[1], 'lease_expires_at', num(tonumber(ARGV[2]) + tonumber(ARGV[5])))
end
return 1`,

  /**
   * KEYS: run. ARGV: prefix, now, fence ('' = unconditional), new status ('' = unchanged), field/value pairs.
   * The terminal transition releases the thread lock if the run still holds it and clears the lease.
   */
  updateRun: `
local run = redis.call('HMGET', KEYS[1], 'status', 'fence', 'thread_id', 'owner', '_seq', 'id')
if not run[1] then return false end
if ARGV[3] ~= '' and tonumber(run[2]) ~= tonumber(ARGV[3]) then return false end
local status = run[1]
local nextStatus = status
if ARGV[4] ~= '' then nextStatus = ARGV[4] end
if not ACTIVE[status] and nextStatus ~= status then return false end
if #ARGV > 4 then redis.call('HSET', KEYS[1], unpack(ARGV, 5)) end
if ACTIVE[status] and not ACTIVE[nextStatus] then
  local lock = P .. 'lock:thread:' .. run[3]
  if heldBy(lock, run[6], tonumber(ARGV[2])) then redis.call('DEL', lock) end
  redis.call('HSET', KEYS[1], 'lease_owner', 'null', 'lease_expires_at', '0')
  redis.call('SREM', P .. 'active:' .. run[4], run[6])
  redis.call('ZREM', P .. 'active-runs', member(run[5], run[6]))
end
return redis.call('HGETALL', KEYS[1])`,

  /** ARGV: prefix, now, limit. Active runs whose lease has expired, oldest first. */
  orphanedRuns: `
local now, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
if limit < 1 then return out end
for _, m in ipairs(redis.call('ZRANGE', P .. 'active-runs', 0, -1)) do
  local key = P .. 'run:' .. string.sub(m, 17)
  local expires = redis.call('HGET', key, 'lease_expires_at')
  if expires and tonumber(expires) <= now then
    out[#out + 1] = redis.call('HGETALL', key)
    if #out >= limit then break end
  end
end
return out`,

  /** KEYS: assistants, versions. ARGV: prefix, id, profile JSON or 'null', base version, updated_at. */
  putAssistant: `
local version = tonumber(redis.call('HGET', KEYS[2], ARGV[2])) or 0
local base = tonumber(ARGV[4])
if base > version then version = base end
version = version + 1
local deleted = 'false'
if ARGV[3] == 'null' then deleted = 'true' end
local stored = '{"profile":' .. ARGV[3] .. ',"deleted":' .. deleted .. ',"version":' .. num(version) .. ',"updated_at":' .. ARGV[5] .. '}'
redis.call('HSET', KEYS[2], ARGV[2], num(version))
redis.call('HSET', KEYS[1], ARGV[2], stored)
return stored`,

  /** KEYS: claim. ARGV: prefix, now, fingerprint, ttl, in-flight ttl, slack. */
  claimIdempotency: `
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
return { 'new' }`,

  /** KEYS: claim. ARGV: prefix, now, reply JSON. The first answer stays. */
  completeIdempotency: `
local row = redis.call('HMGET', KEYS[1], 'completed', 'expires_at')
if row[1] ~= '0' or tonumber(row[2]) <= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'completed', '1', 'reply', ARGV[3])
return 1`,

  /** KEYS: claim. ARGV: prefix. */
  abandonIdempotency: `
if redis.call('HGET', KEYS[1], 'completed') ~= '0' then return 0 end
redis.call('DEL', KEYS[1])
return 1`,

  /**
   * ARGV: prefix, id, day, user, assistant, tokens, audio, expires_at, then the limits (user tokens,
   * user audio, assistant tokens, global tokens), counter ttl. Returns 'ok' or the failing scope.
   */
  reserveBudget: `
local id, day, user, assistant, tokens, audio = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local key = P .. 'reservation:' .. id
if redis.call('EXISTS', key) == 1 then return 'ok' end
local c = counters(day)
local checks = {
  { 'user_tokens', ARGV[9], tokens, user },
  { 'user_audio', ARGV[10], audio, user },
  { 'assistant_tokens', ARGV[11], tokens, assistant },
  { 'global_tokens', ARGV[12], tokens, '' }
}
for _, check in ipairs(checks) do
  local limit, amount = tonumber(check[2]), tonumber(check[3])
  if limit > 0 and amount > 0 then
    local v = redis.call('HMGET', c, check[1] .. ':used:' .. check[4], check[1] .. ':reserved:' .. check[4])
    if (tonumber(v[1]) or 0) + (tonumber(v[2]) or 0) + amount > limit then return check[1] end
  end
end
redis.call('HSET', key, 'day', day, 'user', user, 'assistant', assistant, 'tokens', tokens, 'audio_seconds', audio, 'expires_at', ARGV[8])
redis.call('ZADD', P .. 'reservations', ARGV[8], id)
bumpReserved(day, user, assistant, tokens, audio, '')
if redis.call('EXISTS', c) == 1 then redis.call('PEXPIRE', c, ARGV[13]) end
return 'ok'`,

  /** ARGV: prefix, reservation id, usage-id ttl, then applyUsage's arguments (the reservation's day is used instead of theirs). */
  settleBudget: `
local day = releaseReservation(ARGV[2])
if not day then return 0 end
redis.call('SET', P .. 'usage-id:' .. ARGV[2], '1', 'PX', ARGV[3])
applyUsage(4, day)
return 1`,

  /** ARGV: prefix, usage id, usage-id ttl, then applyUsage's arguments. */
  recordUsage: `
if not redis.call('SET', P .. 'usage-id:' .. ARGV[2], '1', 'NX', 'PX', ARGV[3]) then return 0 end
applyUsage(4)
return 1`,

  /** ARGV: prefix, reservation id. */
  releaseBudget: `
if releaseReservation(ARGV[2]) then return 1 end
return 0`,

  /** ARGV: prefix, now, batch size. Returns how many were released. */
  releaseExpired: `
local ids = redis.call('ZRANGEBYSCORE', P .. 'reservations', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do releaseReservation(id) end
return #ids`,

  /** ARGV: prefix, day, user ('' with all = '1': every user of the day). Returns { user, fields, ... }. */
  usageLedger: `
local day = ARGV[2]
local users = { ARGV[3] }
if ARGV[4] == '1' then users = redis.call('SMEMBERS', P .. 'ledger-users:' .. day) end
local out = {}
for _, user in ipairs(users) do
  local row = redis.call('HGETALL', P .. 'ledger:' .. #day .. ':' .. day .. ':' .. user)
  if #row > 0 then
    out[#out + 1] = user
    out[#out + 1] = row
  end
end
return out`
}

export type ScriptName = keyof typeof SCRIPTS

export const REDIS_SCRIPTS = Object.fromEntries(Object.entries(SCRIPTS).map(([name, body]) => {
  const lua = PRELUDE + body
  return [name, { name, lua, sha: createHash('sha1').update(lua).digest('hex') }]
})) as Record<ScriptName, Script>
