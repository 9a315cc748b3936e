import { ConfigError, type Config } from '../config.ts'
import { redisSetting, redisTarget, type RedisLogger } from '../redis.ts'
import type { Store } from './types.ts'
import { createRedisStore } from './redis-store.ts'
import { createSqliteStore } from './sqlite-store.ts'

export type { Store } from './types.ts'

/**
 * Opens the configured backend. Redis must answer within a few seconds of start-up; otherwise start-up
 * stops with one line naming the server (never its credentials).
 */
export async function openStore (config: Config, clock: () => number, log?: RedisLogger): Promise<Store> {
  if (config.STORE === 'redis') {
    const target = redisTarget(config)
    try {
      return await createRedisStore({ url: target, clock, log, reportPersistence: true })
    } catch (err) {
      throw new ConfigError(`${(err as Error).message}: check ${redisSetting(target)} and that Redis is running`)
    }
  }
  try {
    return createSqliteStore({ path: config.SQLITE_PATH, clock, log })
  } catch (err) {
    if (!isUnusableFile(err)) throw err
    throw new ConfigError(`Invalid configuration: SQLITE_PATH ${config.SQLITE_PATH} cannot be used as the store (${(err as Error).message})`)
  }
}

/** SQLite's cannot-open, read-only and not-a-database, or the file system refusing the path: the setting, not a bug. */
function isUnusableFile (err: unknown): boolean {
  const { code, errcode, syscall } = err as NodeJS.ErrnoException & { errcode?: number }
  return syscall !== undefined || (code === 'ERR_SQLITE_ERROR' && [8, 14, 26].includes(errcode ?? -1))
}
