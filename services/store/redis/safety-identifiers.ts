import type { SafetyIdentifierStore } from '../safety-identifiers.ts'
import type { RedisContext } from './context.ts'

/** One hash, identifier → user id (HSETNX: the first user written for an identifier stays). */
export function redisSafetyIdentifiers (ctx: RedisContext): SafetyIdentifierStore {
  const { client, keys } = ctx
  return {
    async indexSafetyIdentifier (identifier, user) {
      await ctx.call(() => client.hsetnx(keys.safetyIdentifiers, identifier, user))
    },
    async userOfSafetyIdentifier (identifier) {
      return ctx.call(() => client.hget(keys.safetyIdentifiers, identifier))
    }
  }
}
