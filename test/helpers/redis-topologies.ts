import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { parseHostPorts, type RedisTarget } from '../../services/redis.ts'
import { freePort, hasRedisServer, REDIS_MISSING, startRedis } from './redis.ts'
import { until } from './until.ts'

/**
 * Redis with replicas and automatic failover, on loopback, for the tests that kill a primary: a primary
 * with a replica and three sentinels, or a Redis Cluster of three primaries (with a replica each when a
 * test fails one over). Each server is a real process from Debian's packages (redis-server,
 * redis-sentinel, redis-cli), on a free port, in a temp directory, killed and removed when the test ends.
 * Started once per test file: a cluster takes a few seconds to form.
 */

interface Teardown { teardown: (fn: () => unknown) => void }
interface SkippableTest extends Teardown {
  plan: (n: number, reason?: string) => void
  fail: (message: string) => void
  comment: (...args: unknown[]) => void
}

const SENTINEL_MISSING = 'redis-sentinel not found: apt-get install redis-sentinel'

/** Like redisOrSkip, for tests that also need redis-sentinel (a package of its own in Debian). */
export function sentinelOrSkip (t: SkippableTest): boolean {
  const missing = !hasRedisServer() ? REDIS_MISSING : spawnSync('redis-sentinel', ['--version'], { stdio: 'ignore' }).error ? SENTINEL_MISSING : null
  if (missing === null) return true
  if (process.env.REQUIRE_REDIS === '1') {
    t.fail(`${missing} (REQUIRE_REDIS=1 makes this a failure)`)
    return false
  }
  t.comment(`SKIPPED: ${missing}`)
  process.stderr.write(`\n*** ${missing} — Redis tests skipped ***\n\n`)
  t.plan(0, missing)
  return false
}

export interface RedisProcess {
  port: number
  /** The process is running (not killed, not exited). */
  readonly alive: boolean
  /** SIGKILL, as a crash: nothing is flushed. */
  kill: () => Promise<void>
}

/** Spawns a Redis binary and resolves once its log says `ready`; retried on another port when the port was taken. */
async function launch (t: Teardown, binary: string, args: (port: number) => string[], ready: RegExp, dir: string): Promise<RedisProcess> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort()
    const proc: ChildProcess = spawn(binary, args(port), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    const started = await new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${binary} did not start in 10 s:\n${output}`)), 10_000)
      const onData = (chunk: Buffer) => {
        output += chunk.toString()
        if (ready.test(output)) {
          clearTimeout(timer)
          resolve(true)
        }
      }
      proc.stdout!.on('data', onData)
      proc.stderr!.on('data', onData)
      proc.once('exit', () => { clearTimeout(timer); resolve(false) })
      proc.once('error', err => { clearTimeout(timer); reject(err) })
    })
    if (!started) {
      if (attempt < 3 && /Address already in use/.test(output)) continue
      throw new Error(`${binary} exited before it was ready:\n${output}`)
    }
    proc.stdout!.resume()
    proc.stderr!.resume()
    const exited = once(proc, 'exit')
    const kill = async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      proc.kill('SIGKILL')
      await exited
    }
    t.teardown(kill)
    return { port, get alive () { return proc.exitCode === null && proc.signalCode === null }, kill }
  }
}

function tempDir (t: Teardown, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `agw-${name}-`))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

const serverArgs = (port: number, dir: string) => ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
  '--appendonly', 'yes', '--appendfsync', 'everysec', '--protected-mode', 'yes', '--daemonize', 'no', '--logfile', '',
  // A replica's first sync starts at once, not after the 5 s Redis waits for more replicas to share it.
  '--repl-diskless-sync-delay', '0']

async function admin<T> (port: number, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  redis.on('error', () => {})
  try {
    await redis.connect()
    return await fn(redis)
  } finally {
    redis.disconnect()
  }
}

export interface SentinelSetup {
  name: string
  /** host:port of the three sentinels, as REDIS_SENTINELS takes them. */
  sentinels: string
  primary: RedisProcess
  replica: RedisProcess
  /** Where the sentinels say the primary is now. */
  currentPrimaryPort: () => Promise<number>
}

/**
 * A primary, one replica and three sentinels (quorum 2) watching them. The sentinels call a primary down
 * after 1 s without an answer and fail over at once, as production ones would after their own timeout.
 */
export async function startSentinels (t: Teardown): Promise<SentinelSetup> {
  const name = 'agw-primary'
  const primaryDir = tempDir(t, 'primary')
  const primary = await launch(t, 'redis-server', port => serverArgs(port, primaryDir), /Ready to accept connections/, primaryDir)
  const replicaDir = tempDir(t, 'replica')
  const replica = await launch(t, 'redis-server', port => [...serverArgs(port, replicaDir), '--replicaof', '127.0.0.1', String(primary.port)],
    /Ready to accept connections/, replicaDir)
  await until(() => admin(replica.port, async r => /master_link_status:up/.test(await r.info('replication'))), { message: 'the replica to sync' })
  const sentinels: RedisProcess[] = []
  for (let i = 0; i < 3; i++) {
    const dir = tempDir(t, 'sentinel')
    const file = join(dir, 'sentinel.conf')
    sentinels.push(await launch(t, 'redis-sentinel', port => {
      writeFileSync(file, [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor ${name} 127.0.0.1 ${primary.port} 2`,
        `sentinel down-after-milliseconds ${name} 1000`, `sentinel failover-timeout ${name} 10000`, `sentinel parallel-syncs ${name} 1`].join('\n') + '\n')
      return [file, '--logfile', '']
    }, /\+monitor master/, dir))
  }
  // Each sentinel must know the replica and the others before a failover can be agreed on.
  await until(async () => {
    const views = await Promise.all(sentinels.map(s => admin(s.port, async r => {
      const replicas = await r.call('SENTINEL', 'REPLICAS', name) as unknown[]
      const others = await r.call('SENTINEL', 'SENTINELS', name) as unknown[]
      return replicas.length === 1 && others.length === 2
    }).catch(() => false)))
    return views.every(Boolean)
  }, { timeoutMs: 20_000, intervalMs: 100, message: 'the sentinels to discover the replica and each other' })
  return {
    name,
    sentinels: sentinels.map(s => `127.0.0.1:${s.port}`).join(','),
    primary,
    replica,
    currentPrimaryPort: () => admin(sentinels.find(s => s.alive)!.port, async r =>
      Number((await r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name) as string[])[1]))
  }
}

export interface ClusterSetup {
  /** host:port of every node, as REDIS_CLUSTER_NODES takes them. */
  nodes: string
  servers: RedisProcess[]
  /** The primary serving a key's slot, and its replica (when the cluster has replicas). */
  primaryOf: (key: string) => Promise<{ primary: RedisProcess, replica: RedisProcess | undefined }>
  /** Waits until every live node says the cluster is ok and agrees on one primary per slot range. */
  settled: () => Promise<void>
  /**
   * Waits until every node lists each primary's replicas (CLUSTER SLOTS shows a replica some seconds
   * after the cluster is ok): before a test kills a primary, so that there is a replica to promote.
   */
  replicated: () => Promise<void>
}

/**
 * A Redis Cluster of three primaries (hash slots split by redis-cli), each with `replicas` replicas.
 * Nodes time out after 1 s, so a killed primary's replica takes over within a few seconds.
 */
export async function startCluster (t: Teardown, { replicas = 0 }: { replicas?: number } = {}): Promise<ClusterSetup> {
  const servers: RedisProcess[] = []
  for (let i = 0; i < 3 * (1 + replicas); i++) {
    const dir = tempDir(t, 'cluster')
    servers.push(await launch(t, 'redis-server', port => [...serverArgs(port, dir), '--cluster-enabled', 'yes',
      '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '1000', '--cluster-replica-validity-factor', '0'],
    /Ready to accept connections/, dir))
  }
  const created = spawnSync('redis-cli', ['--cluster', 'create', ...servers.map(s => `127.0.0.1:${s.port}`),
    '--cluster-replicas', String(replicas), '--cluster-yes'], { encoding: 'utf8', timeout: 60_000 })
  if (created.status !== 0) throw new Error(`redis-cli --cluster create failed:\n${created.stdout}\n${created.stderr}`)

  async function settled () {
    await until(async () => {
      const live = servers.filter(s => s.alive)
      const states = await Promise.all(live.map(s => admin(s.port, async r => {
        const info = await r.cluster('INFO') as string
        const slots = await r.cluster('SLOTS') as unknown as Array<[number, number, [string, number]]>
        return /cluster_state:ok/.test(info) ? slots.map(([from, , [, port]]) => `${from}:${port}`).sort().join() : null
      }).catch(() => null)))
      return states.every(s => s !== null && s === states[0]) &&
        states[0]!.split(',').every(entry => live.some(s => s.port === Number(entry.split(':')[1])))
    }, { timeoutMs: 30_000, intervalMs: 100, message: 'the cluster to agree on its primaries' })
  }
  await settled()

  return {
    nodes: servers.map(s => `127.0.0.1:${s.port}`).join(','),
    servers,
    settled,
    async replicated () {
      await until(async () => {
        const views = await Promise.all(servers.map(s => admin(s.port, async r =>
          (await r.cluster('SLOTS') as unknown as unknown[][]).every(range => range.length - 2 === 1 + replicas)).catch(() => false)))
        return views.every(Boolean)
      }, { timeoutMs: 30_000, intervalMs: 100, message: 'every primary to list its replicas' })
    },
    async primaryOf (key) {
      const live = servers.find(s => s.alive)!
      return admin(live.port, async r => {
        const slot = await r.cluster('KEYSLOT', key) as number
        const ranges = await r.cluster('SLOTS') as unknown as Array<[number, number, ...Array<[string, number]>]>
        const range = ranges.find(([from, to]) => slot >= from && slot <= to)!
        const [, , [, primaryPort], ...rest] = range
        return { primary: servers.find(s => s.port === primaryPort)!, replica: servers.find(s => s.port === rest[0]?.[1]) }
      })
    }
  }
}

/** Set to `cluster` by test/scale/cluster-suite.test.ts, which runs the multi-instance suites on Redis Cluster. */
export const SCALE_TOPOLOGY = 'AGW_TEST_SCALE_TOPOLOGY'

export interface ScaleRedis {
  /** What points a gateway at it (REDIS_URL, or REDIS_CLUSTER_NODES). */
  env: Record<string, string>
  /** The same, for a store the test opens itself. */
  target: RedisTarget | string
}

/**
 * The Redis of a multi-instance test (test/scale): a fresh redis-server, or a fresh cluster of three
 * primaries when cluster-suite.test.ts runs the suite, so one suite covers both topologies without a
 * second copy. Fresh each time, as a test's gateways (their sweepers) must not meet another test's runs.
 */
export async function scaleRedis (t: Teardown): Promise<ScaleRedis> {
  if (process.env[SCALE_TOPOLOGY] === 'cluster') {
    const { nodes } = await startCluster(t)
    return { env: { REDIS_CLUSTER_NODES: nodes }, target: { kind: 'cluster', nodes: parseHostPorts(nodes) } }
  }
  const redis = await startRedis(t)
  return { env: { REDIS_URL: redis.url }, target: redis.url }
}
