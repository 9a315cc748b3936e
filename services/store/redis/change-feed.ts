import type { Redis } from 'ioredis'
import { closeRedis, type RedisLogger } from '../../redis.ts'
import { CHANGE_KINDS, createChangeListeners, type ChangeFeed, type ChangeKind } from '../change-feed.ts'
import type { RedisContext } from './context.ts'

/**
 * Redis pub/sub, one channel per kind under the store's prefix. Publishing goes through the command
 * connection (createRun and updateRun publish inside their scripts, so a write and its notification
 * cannot be separated). Hearing needs a connection of its own (one in subscriber mode runs no other
 * command): one per store, opened on the first subscribe, closed with the store.
 */
export function createRedisChangeFeed (ctx: RedisContext, log?: RedisLogger): ChangeFeed & { close: () => Promise<void> } {
  const listeners = createChangeListeners(log)
  const kindOf = new Map<string, ChangeKind>(CHANGE_KINDS.map(kind => [ctx.keys.changes(kind), kind]))
  let subscriber: Redis | null = null
  let closed = false

  function listen (): void {
    if (subscriber !== null) return
    // The command connection's options (fail fast, reconnect for ever), but ioredis does not resubscribe
    // by itself: we must know when the SUBSCRIBE of a new connection has been answered, since only from
    // then on can no publish be missed, and so only then may readers re-read what they wait for.
    const sub = ctx.client.duplicate({ connectionName: 'agw-store-changes', autoResubscribe: false })
    subscriber = sub
    let down = false
    sub.on('message', (channel: string, id: string) => {
      const kind = kindOf.get(channel)
      if (kind !== undefined) listeners.dispatch(kind, id)
    })
    sub.on('error', (err: Error) => {
      if (down) return
      down = true
      log?.warn({ err: { message: err.message } }, 'The store change feed lost Redis; notifications are missed until it is back')
    })
    sub.on('ready', () => {
      sub.subscribe(...kindOf.keys()).then(() => {
        if (down) log?.info({}, 'The store change feed is back')
        down = false
        listeners.resync()
      }, () => {}) // the connection dropped again: its next 'ready' subscribes again
    })
    sub.connect().catch(() => {}) // keeps reconnecting in the background, as the command connection does
  }

  return {
    async publish (kind, id) {
      await ctx.call(() => ctx.client.publish(ctx.keys.changes(kind), id))
    },
    subscribe (kind, listener) {
      if (closed) throw new Error('The Redis store is closed')
      listen()
      return listeners.subscribe(kind, listener)
    },
    onResync: listeners.onResync,
    async close () {
      closed = true
      if (subscriber !== null) await closeRedis(subscriber)
    }
  }
}
