import {
  BUDGET_SCOPES,
  RESERVATION_FIELDS,
  USAGE_AMOUNTS,
  budgetSubject,
  countersOf,
  type BudgetStore,
  type LedgerRow
} from '../budgets.ts'
import { assertReservation, assertUsage } from '../guards.ts'
import { encodeHash } from './codec.ts'
import type { RedisContext } from './context.ts'
import { luaList, luaScript, luaString, luaTable } from './lua.ts'

/** A usage id only has to be remembered while a crashed run can still be resumed (RUN_MAX_DURATION_MS ≤ 1 day). */
const USAGE_ID_TTL_MS = 8 * 86_400_000
/** Budget counters only matter on their day (the ledger is the durable record). */
const COUNTER_TTL_MS = 40 * 86_400_000
const EXPIRED_BATCH = 500

/**
 * Budgets: one hash of counters per day, fields `<scope>:used|reserved:<subject>`; an open reservation is
 * a hash, indexed by expiry. The ledger: per day and user, one hash field per (assistant, model) and
 * amount, `["assistant","model"]|<amount>`. Scopes and amounts come from budgets.ts.
 */
const BUDGET_LUA = `
local USAGE_FIELDS = ${luaList(USAGE_AMOUNTS)}
local SCOPES = { ${BUDGET_SCOPES.map(s => luaTable({
  scope: luaString(s.scope),
  subject: s.subject === null ? 'false' : luaString(s.subject),
  reserves: luaString(s.reserves),
  uses: luaString(s.uses)
})).join(', ')} }
local function counters (day) return K.budget .. day end
local function subjectOf (scope, r)
  if scope.subject then return r[scope.subject] end
  return ''
end
local function toTable (flat, first)
  local t = {}
  for i = first, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end
local function bump (key, field, amount)
  if tonumber(amount) ~= 0 then redis.call('HINCRBYFLOAT', key, field, amount) end
end
local function bumpReserved (r, sign)
  local c = counters(r.day)
  for _, s in ipairs(SCOPES) do bump(c, s.scope .. ':reserved:' .. subjectOf(s, r), sign .. r[s.reserves]) end
  return c
end
-- Frees an open reservation; returns its day, or false when there was none.
local function releaseReservation (id)
  local key = K.reservation .. id
  local r = toTable(redis.call('HGETALL', key), 1)
  if not r.day then return false end
  redis.call('DEL', key)
  redis.call('ZREM', K.reservations, id)
  bumpReserved(r, '-')
  return r.day
end
-- ARGV from index i: day, user, assistant, ledger row key, counter ttl, then one amount per USAGE_FIELDS.
-- A given day (a settled reservation's) replaces the one in ARGV.
local function applyUsage (i, day)
  local u = { day = day or ARGV[i], user = ARGV[i + 1], assistant = ARGV[i + 2] }
  local row, ttl = ARGV[i + 3], ARGV[i + 4]
  for n, field in ipairs(USAGE_FIELDS) do u[field] = ARGV[i + 4 + n] end
  local c = counters(u.day)
  for _, s in ipairs(SCOPES) do bump(c, s.scope .. ':used:' .. subjectOf(s, u), u[s.uses]) end
  if redis.call('EXISTS', c) == 1 then redis.call('PEXPIRE', c, ttl) end
  local ledger = K.ledger .. #u.day .. ':' .. u.day .. ':' .. u.user
  for _, field in ipairs(USAGE_FIELDS) do redis.call('HINCRBYFLOAT', ledger, row .. '|' .. field, u[field]) end
  redis.call('SADD', K.ledgerUsers .. u.day, u.user)
end
`

/**
 * Every budget script declares one key, the reservations index: budgets have one home (homes.ts), and the
 * key places the script on the primary of its slot in a cluster. The keys they touch follow from ARGV.
 *
 * ARGV: prefix, counter ttl, one limit per SCOPES (in order), then the reservation's field/value pairs.
 * Returns 'ok', or `<scope> usage` / `<scope> reservations` for what refuses it (ReserveResult's order).
 */
const reserveBudget = luaScript('reserveBudget', 1, `
local first = 3 + #SCOPES
local r = toTable(ARGV, first)
local key = K.reservation .. r.id
if redis.call('EXISTS', key) == 1 then return 'ok' end
local c = counters(r.day)
local heldBack = false
for n, s in ipairs(SCOPES) do
  local limit, amount = tonumber(ARGV[2 + n]), tonumber(r[s.reserves])
  if limit > 0 and amount > 0 then
    local subject = subjectOf(s, r)
    local v = redis.call('HMGET', c, s.scope .. ':used:' .. subject, s.scope .. ':reserved:' .. subject)
    local used = tonumber(v[1]) or 0
    if used + amount > limit then return s.scope .. ' usage' end
    if not heldBack and used + (tonumber(v[2]) or 0) + amount > limit then heldBack = s.scope end
  end
end
if heldBack then return heldBack .. ' reservations' end
redis.call('HSET', key, unpack(ARGV, first))
redis.call('ZADD', K.reservations, r.expires_at, r.id)
bumpReserved(r, '')
if redis.call('EXISTS', c) == 1 then redis.call('PEXPIRE', c, ARGV[2]) end
return 'ok'`, BUDGET_LUA)

/** ARGV: prefix, reservation id, usage-id ttl, then applyUsage's arguments (the reservation's day is used instead of theirs). */
const settleBudget = luaScript('settleBudget', 1, `
local day = releaseReservation(ARGV[2])
if not day then return 0 end
redis.call('SET', K.usageId .. ARGV[2], '1', 'PX', ARGV[3])
applyUsage(4, day)
return 1`, BUDGET_LUA)

/** ARGV: prefix, usage id, usage-id ttl, then applyUsage's arguments. */
const recordUsage = luaScript('recordUsage', 1, `
if not redis.call('SET', K.usageId .. ARGV[2], '1', 'NX', 'PX', ARGV[3]) then return 0 end
applyUsage(4)
return 1`, BUDGET_LUA)

/** ARGV: prefix, reservation id. */
const releaseBudget = luaScript('releaseBudget', 1, `
if releaseReservation(ARGV[2]) then return 1 end
return 0`, BUDGET_LUA)

/** ARGV: prefix, now, batch size. Returns how many were released. */
const releaseExpired = luaScript('releaseExpired', 1, `
local ids = redis.call('ZRANGEBYSCORE', K.reservations, '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do releaseReservation(id) end
return #ids`, BUDGET_LUA)

/** ARGV: prefix, day, user ('' with all = '1': every user of the day). Returns { user, fields, ... }. */
const usageLedger = luaScript('usageLedger', 1, `
local day = ARGV[2]
local users = { ARGV[3] }
if ARGV[4] == '1' then users = redis.call('SMEMBERS', K.ledgerUsers .. day) end
local out = {}
for _, user in ipairs(users) do
  local row = redis.call('HGETALL', K.ledger .. #day .. ':' .. day .. ':' .. user)
  if #row > 0 then
    out[#out + 1] = user
    out[#out + 1] = row
  end
end
return out`)

const usageArgs = (usage: LedgerRow) => [
  usage.day, usage.user, usage.assistant, JSON.stringify([usage.assistant, usage.model]), COUNTER_TTL_MS,
  ...USAGE_AMOUNTS.map(field => String(usage[field]))
]

export function redisBudgets (ctx: RedisContext): BudgetStore {
  const { client, clock } = ctx
  const home = ctx.homes.fixed('budgets')
  const keys = ctx.keysAt(home)
  return {
    async reserveBudget (reservation, limits) {
      assertReservation(reservation)
      const result = await ctx.script(reserveBudget, home, [keys.reservations], [
        COUNTER_TTL_MS, ...BUDGET_SCOPES.map(scope => limits[scope.limit]), ...encodeHash(reservation, RESERVATION_FIELDS)
      ])
      if (result === 'ok') return { ok: true }
      const [scope, blockedBy] = String(result).split(' ')
      const refused = BUDGET_SCOPES.find(s => s.scope === scope)
      if (!refused || (blockedBy !== 'usage' && blockedBy !== 'reservations')) throw new Error(`reserveBudget answered ${String(result)}`)
      return { ok: false, scope: refused.scope, blockedBy }
    },

    async settleBudget (reservationId, usage) {
      assertUsage(usage)
      return await ctx.script(settleBudget, home, [keys.reservations], [reservationId, USAGE_ID_TTL_MS, ...usageArgs(usage)]) === 1
    },

    async recordUsage (usageId, usage) {
      assertUsage(usage)
      return await ctx.script(recordUsage, home, [keys.reservations], [usageId, USAGE_ID_TTL_MS, ...usageArgs(usage)]) === 1
    },

    async releaseBudget (reservationId) {
      return await ctx.script(releaseBudget, home, [keys.reservations], [reservationId]) === 1
    },

    async releaseExpiredReservations () {
      let total = 0
      for (;;) {
        const released = await ctx.script(releaseExpired, home, [keys.reservations], [clock(), EXPIRED_BATCH]) as number
        total += released
        if (released < EXPIRED_BATCH) return total
      }
    },

    async budgetCounters (day, user, assistant) {
      const scopes = BUDGET_SCOPES.filter(scope => scope.subject !== 'assistant' || assistant !== undefined)
      const subject = (scope: typeof scopes[number]) => budgetSubject(scope, { user, assistant: assistant ?? '' })
      const values = await ctx.call(() => client.hmget(keys.budget(day),
        ...scopes.flatMap(scope => [`${scope.scope}:used:${subject(scope)}`, `${scope.scope}:reserved:${subject(scope)}`])))
      const read = new Map(scopes.map((scope, i) => [scope, { used: Number(values[2 * i] ?? 0), reserved: Number(values[2 * i + 1] ?? 0) }]))
      return countersOf(scope => read.get(scope) ?? null)
    },

    async usageLedger (day, user) {
      const flat = await ctx.script(usageLedger, home, [keys.reservations], [day, user ?? '', user === undefined ? '1' : '0']) as unknown[]
      const rows: LedgerRow[] = []
      for (let i = 0; i < flat.length; i += 2) {
        const byRow = new Map<string, Record<string, unknown>>()
        const fields = flat[i + 1] as string[]
        for (let j = 0; j < fields.length; j += 2) {
          const split = fields[j].lastIndexOf('|')
          const rowKey = fields[j].slice(0, split)
          let row = byRow.get(rowKey)
          if (!row) {
            const [assistant, model] = JSON.parse(rowKey) as [string, string]
            // An amount added after a row was first written (cache_write_tokens) reads 0 until it is counted.
            row = { day, user: flat[i] as string, assistant, model, ...Object.fromEntries(USAGE_AMOUNTS.map(f => [f, 0])) }
            byRow.set(rowKey, row)
          }
          row[fields[j].slice(split + 1)] = Number(fields[j + 1])
        }
        rows.push(...[...byRow.values()] as unknown as LedgerRow[])
      }
      const key = (r: LedgerRow) => [r.user, r.assistant, r.model]
      return rows.sort((a, b) => compareTuples(key(a), key(b)))
    }
  }
}

function compareTuples (a: string[], b: string[]): number {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1
  }
  return 0
}
