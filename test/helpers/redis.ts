import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { testEnv } from './build.ts'
import { startGatewayProcess, type GatewayProcess } from './process.ts'
import { userToken } from './tokens.ts'

const BINARY = 'redis-server'
export const REDIS_MISSING = 'redis-server not found: apt-get install redis-server'

interface Teardown { teardown: (fn: () => unknown) => void }
interface SkippableTest extends Teardown {
  plan: (n: number, reason?: string) => void
  fail: (message: string) => void
  comment: (...args: unknown[]) => void
}

let found: boolean | undefined
/** Whether a redis-server binary is on the PATH (looked up once). */
export function hasRedisServer (): boolean {
  found ??= spawnSync(BINARY, ['--version'], { stdio: 'ignore' }).error === undefined
  return found
}

/**
 * Call first in a Redis test file. Without redis-server the file is skipped with a loud reason —
 * unless REQUIRE_REDIS=1 (CI), where a missing server is a failure, never a silent pass.
 * Returns whether the tests can run.
 */
export function redisOrSkip (t: SkippableTest): boolean {
  if (hasRedisServer()) return true
  if (process.env.REQUIRE_REDIS === '1') {
    t.fail(`${REDIS_MISSING} (REQUIRE_REDIS=1 makes this a failure)`)
    return false
  }
  t.comment(`SKIPPED: ${REDIS_MISSING}`)
  process.stderr.write(`\n*** ${REDIS_MISSING} — Redis tests skipped ***\n\n`)
  t.plan(0, REDIS_MISSING)
  return false
}

/** A port nothing listens on now, on loopback. */
export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

export interface RedisServerOptions {
  /** Persist with an append-only file, so data survives stop() + start(). */
  appendonly?: boolean
}

export interface RedisServer {
  url: string
  port: number
  dir: string
  /** SIGTERM and wait: Redis flushes its AOF on the way out. */
  stop: () => Promise<void>
  /** Starts again on the same port and directory. */
  start: () => Promise<void>
  /** SIGSTOP / SIGCONT: the server keeps its connections but answers nothing. */
  pause: () => void
  resume: () => void
}

/**
 * A private redis-server on loopback: a free port, a temp directory, no RDB snapshots, nothing shared
 * with a system Redis. Stopped and removed when the test ends.
 */
export async function startRedis (t: Teardown, options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'agw-redis-'))
  let port = await freePort()
  let child: ChildProcess | null = null

  async function launch (attempts: number): Promise<void> {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', options.appendonly ? 'yes' : 'no',
      '--dir', dir, '--protected-mode', 'yes', '--daemonize', 'no', '--logfile', '']
    const proc = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    const ready = await new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start in 10 s:\n${output}`)), 10_000)
      const onData = (chunk: Buffer) => {
        output += chunk.toString()
        if (/Ready to accept connections/.test(output)) {
          clearTimeout(timer)
          resolve(true)
        }
      }
      proc.stdout.on('data', onData)
      proc.stderr.on('data', onData)
      proc.once('exit', () => {
        clearTimeout(timer)
        resolve(false)
      })
      proc.once('error', err => {
        clearTimeout(timer)
        reject(err)
      })
    })
    if (ready) {
      proc.stdout.resume()
      proc.stderr.resume()
      child = proc
      return
    }
    // The port was taken between probing and binding: try another.
    if (attempts > 1 && /Address already in use/.test(output)) {
      port = await freePort()
      return launch(attempts - 1)
    }
    throw new Error(`redis-server exited before it was ready:\n${output}`)
  }

  const server: RedisServer = {
    get url () { return `redis://127.0.0.1:${port}` },
    get port () { return port },
    dir,
    async stop () {
      const proc = child
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
      child = null
      const exited = once(proc, 'exit')
      proc.kill('SIGCONT')
      proc.kill('SIGTERM')
      await exited
    },
    async start () {
      if (child) return
      await launch(1)
    },
    pause () { child?.kill('SIGSTOP') },
    resume () { child?.kill('SIGCONT') }
  }
  t.teardown(async () => {
    const proc = child
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL')
      await once(proc, 'exit')
    }
    rmSync(dir, { recursive: true, force: true })
  })
  await launch(3)
  return server
}

export interface ApiReply {
  status: number
  headers: Headers
  body: any
}

/** A JSON request to a gateway process as `user` (no token when user is null). */
export async function api (baseUrl: string, method: string, path: string,
  options: { user?: string | null, body?: unknown, headers?: Record<string, string>, timeoutMs?: number } = {}): Promise<ApiReply> {
  const { user = 'alice', body, timeoutMs = 30_000 } = options
  const headers: Record<string, string> = { ...options.headers }
  if (user !== null) headers.authorization = `Bearer ${userToken(user)}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    // A gateway that hangs fails the test here instead of at the suite's timeout.
    signal: AbortSignal.timeout(timeoutMs)
  })
  const text = await res.text()
  let parsed: unknown = text
  try {
    parsed = JSON.parse(text)
  } catch {}
  return { status: res.status, headers: res.headers, body: parsed }
}

/**
 * `count` real gateway processes (`node server.ts`, as `npm start`) on their own ports, all with
 * STORE=redis on one Redis (a server by URL, or the settings of another topology, redis-topologies.ts
 * scaleRedis) and the same settings, as behind a load balancer.
 */
export async function startRedisGateways (t: Teardown, sim: { url: string }, redis: Pick<RedisServer, 'url'> | { env: Record<string, string> }, count: number,
  env: Record<string, string> = {}): Promise<GatewayProcess[]> {
  // Load shedding off: several gateways starting at once on a busy CI machine lag, and that is not what these tests are about.
  const shared = testEnv(sim, {
    STORE: 'redis', ...('env' in redis ? redis.env : { REDIS_URL: redis.url }), RATE_LIMIT_MAX: '10000', RATE_LIMIT_RUNS_MAX: '10000', MAX_EVENT_LOOP_DELAY_MS: '0', ...env
  })
  // Generous: several processes booting at once on a loaded machine; it only bounds a failing test.
  return Promise.all(Array.from({ length: count }, () => startGatewayProcess(t, shared, 60_000)))
}
