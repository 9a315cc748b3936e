import { Cluster } from 'ioredis'
import { storeUnavailable } from '../../errors.ts'
import type { RedisClient } from '../../redis.ts'
import type { ChangeKind } from '../change-feed.ts'
import { createHomes } from './homes.ts'
import { redisKeys, type RedisKeys } from './keys.ts'
import { luaScript, type LuaScript } from './lua.ts'

/** KEYS: the changes home's key (it only places the script). ARGV: prefix, kind, id. */
const publishChange = luaScript('publishChange', 1, `
redis.call('PUBLISH', CHANNELS .. ARGV[2], ARGV[3])
return 1`)

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
export function createRedisContext (client: RedisClient, prefix: string, clock: () => number) {
  if (/[{}]/.test(prefix)) throw new Error(`A Redis key prefix must not contain { or } (they make hash tags): ${prefix}`)
  let closed = false
  const defined = new Map<string, LuaScript>()
  const clustered = client instanceof Cluster
  const keysAt = new Map<string, RedisKeys>()

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
   * Runs a script in a home (homes.ts: the key prefix its keys share; it is the script's `P`) as an
   * ioredis command, defined on first use: ioredis sends EVALSHA, and the script itself when Redis has
   * not seen it (a new connection, a restarted Redis that answers NOSCRIPT). In a cluster the script
   * starts with `#!lua`: Redis then refuses any key outside the slot of its declared keys, so a script
   * that strayed from its home fails loudly (the contract suite runs against a cluster) instead of
   * working by chance on one node.
   */
  function script (s: LuaScript, home: string, keys: string[], args: Array<string | number>): Promise<unknown> {
    if (keys.length !== s.keys) throw new Error(`${s.name} takes ${s.keys} keys, got ${keys.length}`)
    if (keys.some(key => !key.startsWith(home))) throw new Error(`${s.name}: every key must be in the home ${home}`)
    const known = defined.get(s.name)
    if (known === undefined) {
      client.defineCommand(s.name, { numberOfKeys: s.keys, lua: clustered ? `#!lua\nlocal PUBLISH_AFTER = true\n${s.lua}` : `local PUBLISH_AFTER = false\n${s.lua}` })
      defined.set(s.name, s)
    } else if (known !== s) {
      throw new Error(`two Lua scripts are named ${s.name}`)
    }
    return call(() => (client as unknown as Commands)[s.name](...keys, home, ...args))
  }

  const homes = createHomes(client, prefix, clustered, call)

  /**
   * Publishes on the change feed. One Redis: a plain PUBLISH. A cluster delivers a PUBLISH from any node
   * to every node's subscribers, but two nodes' publishes may arrive in either order; sent through one
   * home (the primary of one slot), every publish of every instance keeps its order.
   */
  async function publish (kind: ChangeKind, id: string): Promise<void> {
    if (!clustered) {
      await call(() => client.publish(`${prefix}changes:${kind}`, id))
      return
    }
    const home = homes.fixed('changes')
    await script(publishChange, home, [redisKeys(home).changes('')], [kind, id])
  }

  return {
    client,
    clustered,
    /** The store's key prefix: the home of everything with one Redis. */
    prefix,
    /** Keys outside any home (one-key records, channels). */
    keys: redisKeys(prefix),
    /** The keys of a home. */
    keysAt (home: string): RedisKeys {
      let found = keysAt.get(home)
      if (found === undefined) {
        if (keysAt.size > 1000) keysAt.clear()
        found = redisKeys(home)
        keysAt.set(home, found)
      }
      return found
    },
    homes,
    publish,
    /**
     * After a script that wrote and called `changed` (lua.ts): in a cluster, where scripts leave the
     * publish to their caller, publishes it. Best effort, as every notification: the write stands.
     */
    async changed (kind: ChangeKind, id: string): Promise<void> {
      if (clustered) await publish(kind, id).catch(() => {})
    },
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
