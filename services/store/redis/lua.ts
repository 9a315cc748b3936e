import { ACTIVE_RUN_STATUSES } from '../runs.ts'
import { KEY_TYPES } from './keys.ts'

/**
 * The Lua scripts of the Redis store: every check-then-write is one script, so it runs atomically in
 * Redis whatever the other instances do. Conventions:
 * - ARGV[1] is the key prefix of the script's home (homes.ts: in a cluster, the hash tag of the one slot
 *   all its keys are in); keys derived from stored data (a run's owner, a reservation's day) are built
 *   from `K`, the same key table TypeScript uses (keys.ts), so they stay in that home.
 * - Times come from the caller's clock as ARGV (never Redis TIME), so a fake clock drives expiry.
 * - Records are hashes of one field per property (redis/codec.ts): raw fields as is, the rest JSON text.
 * - Ordered indexes are sorted sets scored by created_at whose members are a 16-digit insertion
 *   sequence followed by the id: equal scores sort by member, i.e. by insertion order.
 * Lists the scripts share with TypeScript (key types, field names, statuses) are generated from it.
 */
export interface LuaScript {
  /** The ioredis command it is defined as (redis/context.ts). */
  readonly name: string
  readonly keys: number
  readonly lua: string
}

/** A Lua string literal of a name from TypeScript (only names: nothing here needs escaping). */
export function luaString (value: string): string {
  if (!/^[\w:.-]*$/.test(value)) throw new Error(`not a plain name for Lua: ${value}`)
  return `'${value}'`
}
export const luaList = (values: readonly string[]) => `{ ${values.map(luaString).join(', ')} }`
export const luaTable = (entries: Record<string, string>) =>
  `{ ${Object.entries(entries).map(([name, value]) => `${name} = ${value}`).join(', ')} }`

const PRELUDE = `
local P = ARGV[1]
local K = ${luaTable(Object.fromEntries(Object.entries(KEY_TYPES).map(([name, type]) => [name, `P .. ${luaString(type)}`])))}
local ACTIVE = ${luaTable(Object.fromEntries(ACTIVE_RUN_STATUSES.map(status => [status, 'true'])))}
local function num (n)
  if n == math.floor(n) and math.abs(n) < 1e15 then return string.format('%d', n) end
  return string.format('%.17g', n)
end
local function member (seq, id) return string.format('%016d', tonumber(seq)) .. id end
-- The change feed (redis/change-feed.ts): one channel per kind, under the store's prefix without the
-- script's home (homes.ts). In a cluster (PUBLISH_AFTER, context.ts) the caller publishes once the script
-- has returned, through one node, so that publishes keep their order.
local CHANNELS = (string.gsub(P, '{[^{}]*}$', '')) .. ${luaString(KEY_TYPES.changes)}
local function changed (kind, id)
  if not PUBLISH_AFTER then redis.call('PUBLISH', CHANNELS .. kind, id) end
end
`

/** A script of `keys` KEYS, after the shared prelude and the `helpers` (Lua chunks) it needs. */
export function luaScript (name: string, keys: number, body: string, ...helpers: string[]): LuaScript {
  return { name: `agw_${name}`, keys, lua: [PRELUDE, ...helpers, body].join('\n') }
}
