import { STORED_ASSISTANT_FIELDS, type AssistantProfile, type AssistantStore, type StoredAssistant } from '../assistants.ts'
import { encodeHash } from './codec.ts'
import type { RedisContext } from './context.ts'
import { luaScript } from './lua.ts'

/**
 * KEYS: assistants, versions. ARGV: prefix, id, base version, then the stored fields but `version` as
 * field/value pairs (values JSON). Stores them as one JSON object with the next version; returns it.
 */
const putAssistant = luaScript('putAssistant', 2, `
local id = ARGV[2]
local version = tonumber(redis.call('HGET', KEYS[2], id)) or 0
local base = tonumber(ARGV[3])
if base > version then version = base end
version = version + 1
local parts = {}
for i = 4, #ARGV, 2 do parts[#parts + 1] = '"' .. ARGV[i] .. '":' .. ARGV[i + 1] end
parts[#parts + 1] = '"version":' .. num(version)
local stored = '{' .. table.concat(parts, ',') .. '}'
redis.call('HSET', KEYS[2], id, num(version))
redis.call('HSET', KEYS[1], id, stored)
return stored`)

/** Two hashes: id → the stored assistant as JSON, id → its version (apart, since Lua never decodes JSON). */
export function redisAssistants (ctx: RedisContext): AssistantStore {
  const { client } = ctx
  const home = ctx.homes.fixed('assistants')
  const keys = ctx.keysAt(home)
  const write = async (id: string, profile: AssistantProfile | null, baseVersion: number, now: number): Promise<StoredAssistant> => {
    const fields = encodeHash<StoredAssistant>({ profile, deleted: profile === null, updated_at: now }, STORED_ASSISTANT_FIELDS)
    return JSON.parse(await ctx.script(putAssistant, home, [keys.assistants, keys.assistantVersions], [id, baseVersion, ...fields]) as string)
  }
  return {
    async getAssistant (id) {
      const stored = await ctx.call(() => client.hget(keys.assistants, id))
      return stored === null ? null : JSON.parse(stored) as StoredAssistant
    },

    async listAssistants () {
      const all = await ctx.call(() => client.hgetall(keys.assistants))
      return Object.keys(all).sort().map(id => ({ id, ...JSON.parse(all[id]) as StoredAssistant }))
    },

    async putAssistant (profile, baseVersion, now) {
      return write(profile.id, profile, baseVersion, now)
    },

    async deleteAssistant (id, baseVersion, now) {
      return write(id, null, baseVersion, now)
    }
  }
}
