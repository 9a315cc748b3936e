import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { Config } from './config.ts'

/** How long start-up waits for Redis; both waits (rate limiter, store) fit in Fastify's 10 s plugin timeout. */
export const START_WAIT_MS = 4000

export interface RedisLogger {
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
}

export interface HostPort { host: string, port: number }

/**
 * Where the gateway's Redis is: one server by URL, a primary found through Sentinel, or a Redis Cluster.
 * Credentials of the data nodes come in the URL (single) or apart (Sentinel, Cluster); `tls` there covers
 * the sentinels too.
 */
export type RedisTarget =
  | { kind: 'single', url: string }
  | { kind: 'sentinel', sentinels: HostPort[], name: string, username?: string, password?: string, sentinelPassword?: string, tls?: boolean }
  | { kind: 'cluster', nodes: HostPort[], username?: string, password?: string, tls?: boolean }

/** A connection to any of them: a Cluster has the same commands, routed by key. */
export type RedisClient = Redis | Cluster

export interface RedisClientOptions {
  /** Shown by CLIENT LIST, so an operator can tell the gateway's connections apart. */
  connectionName?: string
  log?: RedisLogger
  connectTimeoutMs?: number
  commandTimeoutMs?: number
}

/** `host:port,host:port` (IPv6 in brackets) as addresses. */
export function parseHostPorts (list: string): HostPort[] {
  return list.split(',').map(s => s.trim()).filter(Boolean).map(entry => {
    const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s,:[\]]+)):(\d{1,5})$/.exec(entry)
    if (!match) throw new Error(`not host:port: ${entry}`)
    return { host: match[1] ?? match[2]!, port: Number(match[3]) }
  })
}

/** Where the configuration says Redis is (services/config.ts checks that exactly one way is set). */
export function redisTarget (config: Pick<Config, 'REDIS_URL' | 'REDIS_SENTINELS' | 'REDIS_SENTINEL_NAME' | 'REDIS_SENTINEL_PASSWORD' |
  'REDIS_CLUSTER_NODES' | 'REDIS_USERNAME' | 'REDIS_PASSWORD' | 'REDIS_TLS'>): RedisTarget {
  const auth = {
    ...(config.REDIS_USERNAME ? { username: config.REDIS_USERNAME } : {}),
    ...(config.REDIS_PASSWORD ? { password: config.REDIS_PASSWORD } : {}),
    tls: config.REDIS_TLS
  }
  if (config.REDIS_SENTINELS) {
    return {
      kind: 'sentinel',
      sentinels: parseHostPorts(config.REDIS_SENTINELS),
      name: config.REDIS_SENTINEL_NAME as string,
      ...(config.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: config.REDIS_SENTINEL_PASSWORD } : {}),
      ...auth
    }
  }
  if (config.REDIS_CLUSTER_NODES) return { kind: 'cluster', nodes: parseHostPorts(config.REDIS_CLUSTER_NODES), ...auth }
  return { kind: 'single', url: config.REDIS_URL as string }
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

const hostPort = (a: HostPort) => a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`

/** Where a target points, for logs and error messages: never its credentials. */
export function describeRedisTarget (target: RedisTarget | string): string {
  if (typeof target === 'string') return redactRedisUrl(target)
  switch (target.kind) {
    case 'single': return redactRedisUrl(target.url)
    case 'sentinel': return `Sentinel master ${target.name} (sentinels ${target.sentinels.map(hostPort).join(',')})`
    case 'cluster': return `Redis Cluster ${target.nodes.map(hostPort).join(',')}`
  }
}

/** The setting an operator should check when Redis cannot be reached. */
export function redisSetting (target: RedisTarget | string): string {
  if (typeof target === 'string' || target.kind === 'single') return 'REDIS_URL'
  return target.kind === 'sentinel' ? 'REDIS_SENTINELS and REDIS_SENTINEL_NAME' : 'REDIS_CLUSTER_NODES'
}

/**
 * Options every connection shares, whatever the topology: it fails fast instead of queueing. While Redis
 * is away a command is refused at once (no offline queue), a command in flight when the connection drops
 * is rejected rather than retried (maxRetriesPerRequest 0, no resend: a script that may already have run
 * is never run a second time behind the caller's back), and a Redis that accepts connections but does
 * not answer fails commands after commandTimeoutMs.
 */
function failFast (options: RedisClientOptions) {
  const { connectionName, connectTimeoutMs = 2000, commandTimeoutMs = 1500 } = options
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: connectTimeoutMs,
    commandTimeout: commandTimeoutMs,
    // A connection that stops answering is dropped and redialled rather than kept half-dead.
    socketTimeout: commandTimeoutMs * 3,
    // A failover turns the old primary into a replica that refuses writes: reconnect to reach the new one.
    reconnectOnError: (err: Error) => err.message.startsWith('READONLY') ? 1 : false,
    ...(connectionName ? { connectionName } : {})
  } satisfies RedisOptions
}

const retry = (attempt: number) => Math.min(100 * attempt, 1000)

/** Clients being closed on purpose (closeRedis, a failed start): the ones that must not start over. */
const closing = new WeakSet<RedisClient>()

/**
 * A client for the target that fails fast (see failFast) and reconnects in the background for ever, so
 * the gateway recovers without a restart:
 * - one server: redials the URL;
 * - Sentinel: ioredis asks the sentinels for the current primary on every (re)connection, and drops the
 *   connection at once when they announce a switch (failoverDetector), instead of waiting for a timeout;
 * - Cluster: ioredis follows MOVED/ASK and refreshes the slot map; a command on a node that went away is
 *   failed rather than re-sent (retryDelayOnFailover 0), CLUSTERDOWN is answered at once (503), TRYAGAIN
 *   (a multi-key command during a slot migration, refused before it ran) is retried.
 * Created without connecting: call `waitForRedis`.
 */
export function createRedisClient (target: RedisTarget | string, options: RedisClientOptions = {}): RedisClient {
  const where = typeof target === 'string' ? { kind: 'single' as const, url: target } : target
  const base = failFast(options)
  let client: RedisClient
  if (where.kind === 'single') {
    client = new Redis(where.url, { ...base, retryStrategy: retry })
  } else if (where.kind === 'sentinel') {
    client = new Redis({
      ...base,
      retryStrategy: retry,
      sentinels: where.sentinels,
      name: where.name,
      role: 'master',
      ...(where.username ? { username: where.username } : {}),
      ...(where.password ? { password: where.password } : {}),
      ...(where.sentinelPassword ? { sentinelPassword: where.sentinelPassword } : {}),
      ...(where.tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
      sentinelRetryStrategy: retry,
      sentinelCommandTimeout: base.commandTimeout,
      failoverDetector: true
    })
  } else {
    const { lazyConnect, enableOfflineQueue, ...redisOptions } = base
    const clusterOptions: ClusterOptions = {
      lazyConnect,
      enableOfflineQueue,
      redisOptions: {
        ...redisOptions,
        ...(where.username ? { username: where.username } : {}),
        ...(where.password ? { password: where.password } : {}),
        ...(where.tls ? { tls: {} } : {})
      },
      clusterRetryStrategy: retry,
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 0,
      retryDelayOnTryAgain: 100,
      maxRedirections: 6,
      slotsRefreshTimeout: base.commandTimeout,
      slotsRefreshInterval: 2000
    }
    const cluster = new Cluster(where.nodes, clusterOptions)
    // Node connections are opened lazily by the first command, and without an offline queue every other
    // command sent while one is still connecting is refused: open each as soon as the cluster names it.
    cluster.on('+node', (node: Redis) => { if (node.status === 'wait') node.connect().catch(() => {}) })
    client = cluster
  }
  const { log, connectionName } = options
  const described = describeRedisTarget(where)
  // One warning per outage and one line when it ends, not one per reconnect attempt.
  let down = false
  client.on('error', (err: Error) => {
    if (down) return
    down = true
    log?.warn({ err: { message: err.message, code: (err as NodeJS.ErrnoException).code }, redis: described, connection: connectionName }, 'Redis is unreachable; reconnecting until it answers')
  })
  client.on('ready', () => {
    if (!down) return
    down = false
    log?.info({ redis: described, connection: connectionName }, 'Redis connection restored')
  })
  if (!(client instanceof Cluster)) {
    // ioredis ends a client for good, with no more reconnecting, when its connection is dropped while a
    // reconnection is still asking the sentinels for the primary: the failover detector does that when
    // the sentinels announce the switch mid-reconnection (SentinelConnector throws "Connection is
    // closed", ioredis#1683). A client that ends without being closed here starts over.
    const redis = client
    redis.on('end', () => {
      if (closing.has(redis)) return
      setTimeout(() => {
        if (!closing.has(redis) && redis.status === 'end') redis.connect().catch(() => {})
      }, retry(1)).unref()
    })
  }
  if (where.kind === 'sentinel') {
    // ioredis announces the primary it connects to; a changed one is a failover the operator wants to see.
    let primary: string | undefined
    client.on('connect', () => {
      const stream = (client as Redis).stream as { remoteAddress?: string, remotePort?: number } | undefined
      const now = stream?.remoteAddress ? `${stream.remoteAddress}:${stream.remotePort}` : undefined
      if (now && primary && now !== primary) log?.warn({ redis: described, from: primary, to: now, connection: connectionName }, 'Redis primary changed (Sentinel failover)')
      if (now) primary = now
    })
  }
  return client
}

/**
 * Connects and waits until Redis answers (it may still be starting next to us), at most timeoutMs.
 * On failure the client is disconnected and the error names the server without credentials.
 */
export async function waitForRedis (client: RedisClient, target: RedisTarget | string, timeoutMs = START_WAIT_MS): Promise<void> {
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
        reject(new Error(`Redis at ${describeRedisTarget(target)} did not answer within ${timeoutMs} ms` + (lastError ? ` (${lastError.message})` : '')))
      }, timeoutMs)
      if (client.status === 'wait') client.connect().catch(() => {})
    })
    if (client instanceof Cluster) {
      // Ready means the slot map is known; wait for the primaries' own connections too (see createRedisClient).
      const deadline = Date.now() + timeoutMs
      while (client.nodes('master').some(node => node.status !== 'ready')) {
        if (Date.now() >= deadline) throw new Error(`Redis at ${describeRedisTarget(target)} did not answer within ${timeoutMs} ms (a primary did not accept the connection)`)
        await new Promise(resolve => setTimeout(resolve, 20))
      }
    }
  } catch (err) {
    closing.add(client)
    client.disconnect()
    throw err
  } finally {
    clearTimeout(timer)
    client.off('ready', onReady)
    client.off('error', onError)
  }
}

/**
 * QUIT when connected (pending replies are delivered first), otherwise just stop reconnecting. A Sentinel
 * client is disconnected after its QUIT too: QUIT leaves the failover detector's subscriptions to the
 * sentinels open and redialling for ever (ioredis#1362 in 5.x), which keeps a process from ending.
 */
export async function closeRedis (client: RedisClient): Promise<void> {
  closing.add(client)
  if (client.status === 'end') return
  if (client.status === 'ready') {
    try {
      await client.quit()
      if (client instanceof Redis && client.options.sentinels) client.disconnect()
      return
    } catch {}
  }
  client.disconnect()
}

export type Persistence = 'aof' | 'rdb' | 'off' | 'unknown'

/**
 * What a crash of this Redis would lose, from its own settings (CONFIG GET appendonly, save). Managed
 * services often refuse CONFIG: then 'unknown', never a failure. For a cluster, the weakest of its primaries.
 */
export async function redisPersistence (client: RedisClient): Promise<Persistence> {
  const servers: Redis[] = client instanceof Cluster ? client.nodes('master') : [client]
  const rank: Persistence[] = ['off', 'unknown', 'rdb', 'aof']
  let weakest: Persistence = 'aof'
  for (const server of servers) {
    let found: Persistence
    try {
      const [appendonly, save] = await Promise.all([server.config('GET', 'appendonly'), server.config('GET', 'save')]) as string[][]
      found = appendonly[1] === 'yes' ? 'aof' : save[1]?.trim() ? 'rdb' : 'off'
    } catch {
      found = 'unknown'
    }
    if (rank.indexOf(found) < rank.indexOf(weakest)) weakest = found
  }
  return weakest
}

/**
 * Says at start-up what the connected Redis would lose in a crash: a warning when persistence is off
 * (every thread, run, ledger row and idempotency key), a note for snapshots only, a note when it cannot
 * be read (a managed service that refuses CONFIG).
 */
export async function reportPersistence (client: RedisClient, target: RedisTarget | string, log?: RedisLogger): Promise<Persistence> {
  const persistence = await redisPersistence(client)
  const redis = describeRedisTarget(target)
  if (persistence === 'off') {
    log?.warn({ redis, persistence }, 'Redis persistence is off (appendonly no, no save points): a Redis restart loses every thread, run, lock, idempotency key and the usage ledger. Set appendonly yes')
  } else if (persistence === 'rdb') {
    log?.warn({ redis, persistence }, 'Redis persists by RDB snapshots only: a crash loses every write since the last snapshot (usage, budgets, runs, thread ownership). appendonly yes is recommended')
  } else if (persistence === 'unknown') {
    log?.info({ redis, persistence }, 'Redis persistence is unknown (CONFIG GET refused, as managed services do): make sure the service persists with AOF')
  }
  return persistence
}
