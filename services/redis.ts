import { Redis } from 'ioredis'

/** How long start-up waits for Redis; both waits (rate limiter, store) fit in Fastify's 10 s plugin timeout. */
export const START_WAIT_MS = 4000

export interface RedisLogger {
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
}

export interface RedisClientOptions {
  /** Shown by CLIENT LIST, so an operator can tell the gateway's connections apart. */
  connectionName?: string
  log?: RedisLogger
  connectTimeoutMs?: number
  commandTimeoutMs?: number
}

/** The URL without credentials, for logs and error messages. */
export function redactRedisUrl (url: string): string {
  try {
    const parsed = new URL(url)
    return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`
  } catch {
    return 'an invalid Redis URL'
  }
}

/**
 * An ioredis client that fails fast instead of queueing. While Redis is away a command is refused at
 * once (no offline queue), a command in flight when the connection drops is rejected rather than
 * retried (maxRetriesPerRequest 0, no resend: a script that may already have run is never run a
 * second time behind the caller's back), and a Redis that accepts connections but does not answer
 * fails commands after commandTimeoutMs. Reconnection goes on in the background for ever, so the
 * gateway recovers without a restart. Created without connecting: call `waitForRedis`.
 */
export function createRedisClient (url: string, options: RedisClientOptions = {}): Redis {
  const { connectionName, log, connectTimeoutMs = 2000, commandTimeoutMs = 1500 } = options
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: connectTimeoutMs,
    commandTimeout: commandTimeoutMs,
    // A connection that stops answering is dropped and redialled rather than kept half-dead.
    socketTimeout: commandTimeoutMs * 3,
    retryStrategy: (attempt: number) => Math.min(100 * attempt, 1000),
    // Managed Redis fails over by turning the old primary read-only: reconnect to reach the new one.
    reconnectOnError: (err: Error) => err.message.startsWith('READONLY') ? 1 : false,
    ...(connectionName ? { connectionName } : {})
  })
  const where = redactRedisUrl(url)
  // One warning per outage and one line when it ends, not one per reconnect attempt.
  let down = false
  client.on('error', (err: Error) => {
    if (down) return
    down = true
    log?.warn({ err: { message: err.message, code: (err as NodeJS.ErrnoException).code }, redis: where, connection: connectionName }, 'Redis is unreachable; reconnecting until it answers')
  })
  client.on('ready', () => {
    if (!down) return
    down = false
    log?.info({ redis: where, connection: connectionName }, 'Redis connection restored')
  })
  return client
}

/**
 * Connects and waits until Redis answers (it may still be starting next to us), at most timeoutMs.
 * On failure the client is disconnected and the error names the server without credentials.
 */
export async function waitForRedis (client: Redis, url: string, timeoutMs = START_WAIT_MS): Promise<void> {
  if (client.status === 'ready') return
  let lastError: Error | undefined
  let onReady = () => {}
  const onError = (err: Error) => { lastError = err }
  let timer: NodeJS.Timeout | undefined
  try {
    await new Promise<void>((resolve, reject) => {
      onReady = resolve
      client.on('ready', onReady)
      client.on('error', onError)
      timer = setTimeout(() => {
        reject(new Error(`Redis at ${redactRedisUrl(url)} did not answer within ${timeoutMs} ms` + (lastError ? ` (${lastError.message})` : '')))
      }, timeoutMs)
      if (client.status === 'wait') client.connect().catch(() => {})
    })
  } catch (err) {
    client.disconnect()
    throw err
  } finally {
    clearTimeout(timer)
    client.off('ready', onReady)
    client.off('error', onError)
  }
}

/** QUIT when connected (pending replies are delivered first), otherwise just stop reconnecting. */
export async function closeRedis (client: Redis): Promise<void> {
  if (client.status === 'end') return
  if (client.status === 'ready') {
    try {
      await client.quit()
      return
    } catch {}
  }
  client.disconnect()
}
