import { ConfigError, type Config } from '../config.ts'
import type { Store } from './types.ts'
import { createSqliteStore } from './sqlite-store.ts'

export type { Store } from './types.ts'

/** Opens the configured backend. */
export async function openStore (config: Config, clock: () => number): Promise<Store> {
  if (config.STORE === 'redis') throw new ConfigError('Invalid configuration: STORE=redis is not available in this build yet')
  return createSqliteStore({ path: config.SQLITE_PATH, clock })
}
