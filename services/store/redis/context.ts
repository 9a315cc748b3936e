import type { Redis } from 'ioredis'
import { storeUnavailable } from '../../errors.ts'
import { redisKeys } from './keys.ts'
import type { LuaScript } from './lua.ts'

/**
 * Redis keeps lock and idempotency keys this much longer than their deadline on the store's clock: the
 * deadline itself is always checked in the script, the TTL only collects garbage, so it must never fire
 * first (clock skew between instances, a fake clock in tests).
 */
export const EXPIRY_SLACK_MS = 60_000
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|MISCONF|OOM)\b/

type Commands = Record<string, (...args: Array<string | number>) => Promise<unknown>>

export type RedisContext = ReturnType<typeof createRedisContext>

/** The command connection and what every domain file uses on it. */
export function createRedisContext (client: Redis, prefix: string, clock: () => number) {
  let closed = false
  const defined = new Map<string, LuaScript>()

  /** Every Redis call goes through here: connection failures become StoreUnavailable. */
  async function call<T> (fn: () => Promise<T>): Promise<T> {
    if (closed) throw new Error('The Redis store is closed')
    try {
      return await fn()
    } catch (err) {
      const error = err as Error
      if (error.name === 'ReplyError') {
        const duplicate = /^AGW_DUPLICATE (\w+) (.*)$/.exec(error.message)
        if (duplicate) throw new Error(`A ${duplicate[1]} with id ${duplicate[2]} already exists`)
        if (UNAVAILABLE_REPLY.test(error.message)) throw storeUnavailable(err)
        throw err
      }
      throw storeUnavailable(err)
    }
  }

  /**
   * Runs a script as an ioredis command, defined on first use: ioredis sends EVALSHA, and the script
   * itself when Redis has not seen it (a new connection, a restarted Redis that answers NOSCRIPT).
   */
  function script (s: LuaScript, keys: string[], args: Array<string | number>): Promise<unknown> {
    if (keys.length !== s.keys) throw new Error(`${s.name} takes ${s.keys} keys, got ${keys.length}`)
    const known = defined.get(s.name)
    if (known === undefined) {
      client.defineCommand(s.name, { numberOfKeys: s.keys, lua: s.lua })
      defined.set(s.name, s)
    } else if (known !== s) {
      throw new Error(`two Lua scripts are named ${s.name}`)
    }
    return call(() => (client as unknown as Commands)[s.name](...keys, prefix, ...args))
  }

  return {
    client,
    keys: redisKeys(prefix),
    clock,
    call,
    script,
    /** Later calls fail at once; true the first time. */
    close () {
      if (closed) return false
      closed = true
      return true
    }
  }
}
