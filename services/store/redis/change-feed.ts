import { Cluster, Redis } from 'ioredis'
import { closeRedis, type RedisLogger } from '../../redis.ts'
import { CHANGE_KINDS, createChangeListeners, type ChangeFeed, type ChangeKind } from '../change-feed.ts'
import type { RedisContext } from './context.ts'

const SUBSCRIBER = 'agw-store-changes'

/**
 * Redis pub/sub, one channel per kind under the store's prefix. Publishing goes through the command
 * connection (createRun and updateRun publish inside their scripts, so a write and its notification
 * cannot be separated). Hearing needs a connection of its own (one in subscriber mode runs no other
 * command): one per store, opened on the first subscribe, closed with the store.
 *
 * Where it listens: with one Redis, that server; with Sentinel, the current primary (the connection asks
 * the sentinels again on every reconnection, so a failover moves it to the new primary); in a cluster,
 * any one node, since a cluster delivers every PUBLISH to the subscribers of all its nodes (plain pub/sub:
 * sharded pub/sub would tie each channel to one slot and one node) — when that node goes away, the feed
 * moves to another node the cluster knows.
 */
export function createRedisChangeFeed (ctx: RedisContext, log?: RedisLogger): ChangeFeed & { close: () => Promise<void> } {
  const listeners = createChangeListeners(log)
  const kindOf = new Map<string, ChangeKind>(CHANGE_KINDS.map(kind => [ctx.keys.changes(kind), kind]))
  let subscriber: Redis | null = null
  let closed = false
  let down = false
  let hop = 0
  let retry: NodeJS.Timeout | undefined

  /** A connection of its own: one server's or the primary's that reconnects for ever, or one cluster node's that ends when the node does. */
  function open (): Redis {
    const client = ctx.client
    if (!(client instanceof Cluster)) return client.duplicate({ connectionName: SUBSCRIBER, autoResubscribe: false })
    const known = client.nodes('all')
    const nodes = known.length > 0 ? known.map(n => ({ host: n.options.host, port: n.options.port })) : (client as unknown as { startupNodes: Array<{ host: string, port: number }> }).startupNodes
    const node = nodes[hop++ % nodes.length]!
    return new Redis({ ...client.options.redisOptions, host: node.host, port: node.port, connectionName: SUBSCRIBER, lazyConnect: true, enableOfflineQueue: false, autoResubscribe: false, retryStrategy: () => null })
  }

  function lost (err: Error) {
    if (down) return
    down = true
    log?.warn({ err: { message: err.message } }, 'The store change feed lost Redis; notifications are missed until it is back')
  }

  function listen (): void {
    if (subscriber !== null || closed) return
    // ioredis does not resubscribe by itself here: we must know when the SUBSCRIBE of a new connection
    // has been answered, since only from then on can no publish be missed, and so only then may readers
    // re-read what they wait for.
    const sub = open()
    subscriber = sub
    sub.on('message', (channel: string, id: string) => {
      const kind = kindOf.get(channel)
      if (kind !== undefined) listeners.dispatch(kind, id)
    })
    sub.on('error', lost)
    sub.on('ready', () => {
      sub.subscribe(...kindOf.keys()).then(() => {
        if (down) log?.info({}, 'The store change feed is back')
        down = false
        listeners.resync()
      }, () => {}) // the connection dropped again: its next 'ready' subscribes again
    })
    // A cluster node's connection does not come back: the next one is another node's.
    sub.once('end', () => {
      if (closed || subscriber !== sub) return
      lost(new Error('the node the change feed listened on went away'))
      subscriber = null
      retry = setTimeout(listen, Math.min(100 * hop, 1000))
    })
    sub.connect().catch(() => {}) // keeps reconnecting in the background, as the command connection does
  }

  return {
    async publish (kind, id) {
      await ctx.publish(kind, id)
    },
    subscribe (kind, listener) {
      if (closed) throw new Error('The Redis store is closed')
      listen()
      return listeners.subscribe(kind, listener)
    },
    onResync: listeners.onResync,
    async close () {
      closed = true
      clearTimeout(retry)
      if (subscriber !== null) await closeRedis(subscriber)
    }
  }
}
