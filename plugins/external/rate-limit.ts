import rateLimit from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { ConfigError } from '../../services/config.ts'
import { closeRedis, createRedisClient, redisSetting, redisTarget, waitForRedis } from '../../services/redis.ts'

/**
 * The rate-limit engine. It is not applied globally: plugins/app/rate-limits.ts builds the limiters
 * (per user across /api, stricter buckets for runs and uploads, per IP for unknown URLs) on top of it,
 * so one store serves them all — in memory, or Redis when STORE=redis so limits hold across instances.
 * The Redis connection is its own (this plugin loads before the app's store) and fails fast like the
 * store's; a limiter error is answered 503 by plugins/app/rate-limits.ts, never skipped.
 * @see https://github.com/fastify/fastify-rate-limit
 */
async function rateLimitEngine (fastify: FastifyInstance) {
  const { config } = fastify
  const options = { global: false, cache: 10_000, skipOnError: false }
  if (config.STORE !== 'redis') {
    await fastify.register(rateLimit, options)
    return
  }
  const target = redisTarget(config)
  const redis = createRedisClient(target, { connectionName: 'agw-rate-limit', log: fastify.log })
  try {
    await waitForRedis(redis, target)
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}: check ${redisSetting(target)} and that Redis is running`)
  }
  fastify.addHook('onClose', async () => { await closeRedis(redis) })
  await fastify.register(rateLimit, { ...options, redis, nameSpace: 'agw:rl:' })
}

export default fp(rateLimitEngine, { name: 'rate-limit-engine' })
