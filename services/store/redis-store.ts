import { START_WAIT_MS, closeRedis, createRedisClient, reportPersistence, waitForRedis, type RedisLogger, type RedisTarget } from '../redis.ts'
import { redisAssistants } from './redis/assistants.ts'
import { redisAudit } from './redis/audit.ts'
import { redisBudgets } from './redis/budgets.ts'
import { createRedisChangeFeed } from './redis/change-feed.ts'
import { createRedisContext } from './redis/context.ts'
import { redisFiles } from './redis/files.ts'
import { redisIdempotency } from './redis/idempotency.ts'
import { redisMessages } from './redis/messages.ts'
import { redisRuns } from './redis/runs.ts'
import { redisSafetyIdentifiers } from './redis/safety-identifiers.ts'
import { redisThreadLocks } from './redis/thread-locks.ts'
import { redisThreads } from './redis/threads.ts'
import { redisUsers } from './redis/users.ts'
import { redisWebhookEvents } from './redis/webhook-events.ts'
import type { Store } from './types.ts'

export interface RedisStoreOptions {
  /** redis:// or rediss:// URL (database index in the path), or a Sentinel or Cluster target. */
  url: string | RedisTarget
  /** Unix ms; injected by tests. Every expiry is decided on this clock, never Redis TIME. */
  clock?: () => number
  /** Namespace of every key, so several gateways (or tests) can share one Redis. */
  keyPrefix?: string
  log?: RedisLogger
  /** How long start-up waits for Redis to answer. */
  connectWaitMs?: number
  /** Log what a crash of this Redis would lose (services/redis.ts reportPersistence): the gateway's start-up does. */
  reportPersistence?: boolean
}

/**
 * The shared store for several gateway instances: one Redis (persisted with AOF), a primary found
 * through Sentinel, or a Redis Cluster (redis/homes.ts: which keys share a slot); every atomic
 * operation a Lua script, times from the injected clock. Connection trouble never hangs a caller: the
 * client fails fast (services/redis.ts) and such failures surface as StoreUnavailable (503
 * SERVICE_UNAVAILABLE with Retry-After); Redis's own refusals while it loads or fails over do too.
 * Resolves once Redis answers. One file per domain under redis/.
 */
export async function createRedisStore (options: RedisStoreOptions): Promise<Store> {
  const { url, clock = Date.now, keyPrefix = 'agw:', log, connectWaitMs = START_WAIT_MS } = options
  const client = createRedisClient(url, { connectionName: 'agw-store', log })
  await waitForRedis(client, url, connectWaitMs)
  if (options.reportPersistence) await reportPersistence(client, url, log)
  const ctx = createRedisContext(client, keyPrefix, clock)
  const changes = createRedisChangeFeed(ctx, log)
  return {
    kind: 'redis',
    changes,
    async ping () {
      await ctx.call(() => client.ping())
    },
    async close () {
      if (!ctx.close()) return
      await Promise.all([changes.close(), closeRedis(client)])
    },
    ...redisThreads(ctx),
    ...redisThreadLocks(ctx),
    ...redisMessages(ctx),
    ...redisFiles(ctx),
    ...redisRuns(ctx),
    ...redisAssistants(ctx),
    ...redisIdempotency(ctx),
    ...redisBudgets(ctx),
    ...redisUsers(ctx),
    ...redisSafetyIdentifiers(ctx),
    ...redisWebhookEvents(ctx),
    ...redisAudit(ctx)
  }
}
