import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { SimulatorOptions } from '../../simulator/index.ts'

export const ROOT = join(import.meta.dirname, '..', '..')

/**
 * What the bench starts: the build the image and the unit run (`npm run build` → dist/server.js, which
 * bench/run.ts builds first), or the sources with BENCH_GATEWAY_ENTRY=server.ts. The build spares the ~20 MB
 * Node's type stripper keeps resident, which would otherwise count in every RSS figure.
 */
export const gatewayEntry = () => process.env.BENCH_GATEWAY_ENTRY ?? 'dist/server.js'

/** The node flags `npm start` runs the gateway with (package.json), so the bench measures what ships. */
function startNodeFlags (): string[] {
  const start = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start ?? ''
  const words = start.split(/\s+/)
  return words.slice(words.indexOf('node') + 1, words.indexOf('server.ts')).filter(w => w.startsWith('--'))
}

/** What the bench runs the gateway with: `npm start`'s node flags, plus BENCH_GATEWAY_NODE_ARGS for experiments. */
export const gatewayNodeFlags = (): string[] => [...startNodeFlags(), ...(process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean)]
export const SIM_KEY = 'sk-bench-local'
const LOG_LINES = 200
/** A line of V8's --trace-gc output: `[pid:0x…]   1234 ms: Scavenge …`. */
export const GC_TRACE_LINE = /^\[\d+:0x[0-9a-f]+\]\s+\d+ ms: /
const STOP_GRACE_MS = 10_000

// Every child still running, so an interrupted or crashed benchmark leaves no process behind.
const live = new Set<ChildProcess>()
process.once('exit', () => { for (const child of live) child.kill('SIGKILL') })

export interface Service {
  name: string
  pid: number
  url: string
  child: ChildProcess
  /** The last lines the process wrote (stdout and stderr), for error messages. */
  logs: () => string
  stop: () => Promise<void>
}

export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export const sleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms))

/** Polls `url` until `ready` accepts the answer; fails with the service's last output. */
export async function waitFor (service: Pick<Service, 'name' | 'child' | 'logs'>, url: string, init: RequestInit = {}, timeoutMs = 30_000, ready = (res: Response) => res.ok): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (service.child.exitCode !== null) throw new Error(`${service.name} exited with ${service.child.exitCode}:\n${service.logs()}`)
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(2000) })
      await res.arrayBuffer()
      if (ready(res)) return
    } catch {}
    await sleep(100)
  }
  throw new Error(`${service.name} not ready at ${url} after ${timeoutMs} ms:\n${service.logs()}`)
}

function spawnService (name: string, args: string[], env: Record<string, string>, cwd: string, url: string): Service {
  const child = spawn(process.execPath, args, {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const lines: string[] = []
  const keep = (chunk: Buffer) => {
    // GC traces (a scenario reads them from child.stdout itself) would push the process's own messages out.
    lines.push(...chunk.toString().split('\n').filter(line => line && !GC_TRACE_LINE.test(line)))
    if (lines.length > LOG_LINES) lines.splice(0, lines.length - LOG_LINES)
  }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  live.add(child)
  const exited = once(child, 'exit').finally(() => live.delete(child))
  return {
    name,
    pid: child.pid!,
    url,
    child,
    logs: () => lines.join('\n'),
    // SIGTERM first: the gateway closes gracefully, which is also when --cpu-prof writes its profile.
    async stop () {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
      await exited
      clearTimeout(timer)
    }
  }
}

export interface SimulatorService extends Service {
  /** Base URL for the SDK and direct calls, ending in /v1. */
  v1: string
  stats: () => Promise<{ counters: Record<string, number>, nonconforming: { count: number }, responses: { total: number, active: number }, webhooks: Record<string, number> }>
  /** POST /__sim/config: generation times, faults, webhook delivery (url, secret, latency, loss, …). */
  configure: (patch: Record<string, unknown>) => Promise<void>
}

export async function startSimulator (options: SimulatorOptions = {}): Promise<SimulatorService> {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const opts: SimulatorOptions = { host: '127.0.0.1', port, apiKey: SIM_KEY, ...options }
  const service = spawnService('simulator', [join(ROOT, 'bench', 'harness', 'simulator-main.ts'), JSON.stringify(opts)], {}, ROOT, origin)
  const auth = { headers: { authorization: `Bearer ${SIM_KEY}` } }
  await waitFor(service, `${origin}/__sim/stats`, auth)
  return {
    ...service,
    v1: `${origin}/v1`,
    async stats () {
      const res = await fetch(`${origin}/__sim/stats`, auth)
      return res.json() as ReturnType<SimulatorService['stats']>
    },
    async configure (patch) {
      const res = await fetch(`${origin}/__sim/config`, { method: 'POST', headers: { ...auth.headers, 'content-type': 'application/json' }, body: JSON.stringify(patch) })
      if (!res.ok) throw new Error(`the simulator refused its config (${res.status}): ${await res.text()}`)
    }
  }
}

export const tempDir = () => mkdtempSync(join(tmpdir(), 'agw-bench-'))

export interface GatewayService extends Service {
  jwtSecret: string
  /** With cpuProfile: the V8 CPU profile the process wrote on exit, loaded by stop(). */
  cpuProfile: unknown
}

export interface GatewayOptions {
  env?: Record<string, string>
  cpuProfile?: boolean
  /** Working directory holding the store, kept after stop: a restarted gateway finds its data (the caller removes it). */
  dir?: string
  /** Reuse a secret so tokens minted for an earlier gateway on the same store stay valid. */
  jwtSecret?: string
  /** Node flags this scenario needs on top of `npm start`'s (e.g. --trace-gc). */
  nodeArgs?: string[]
}

/**
 * The gateway as it ships (`gatewayEntry()`, `gatewayNodeFlags()`) in an empty directory (no developer
 * .env leaks in), on a throwaway SQLite file, with limits that stay out of the way unless a scenario sets its own.
 */
export async function startGateway (sim: SimulatorService, options: GatewayOptions = {}): Promise<GatewayService> {
  const cwd = options.dir ?? tempDir()
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const jwtSecret = options.jwtSecret ?? `bench-${Math.random().toString(36).slice(2)}-0123456789abcdefghijklmnopqrstuvwxyz`
  const env: Record<string, string> = {
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'warn',
    OPENAI_API_KEY: SIM_KEY,
    OPENAI_BASE_URL: sim.v1,
    JWT_SECRET: jwtSecret,
    STORE: 'sqlite',
    SQLITE_PATH: join(cwd, 'gateway.db'),
    CORS_ORIGINS: '',
    RATE_LIMIT_MAX: '1000000',
    RATE_LIMIT_RUNS_MAX: '1000000',
    RATE_LIMIT_UPLOADS_MAX: '1000000',
    RATE_LIMIT_WINDOW_MS: '60000',
    BUDGET_USER_DAILY_TOKENS: '0',
    BUDGET_GLOBAL_DAILY_TOKENS: '0',
    BUDGET_USER_DAILY_AUDIO_SECONDS: '0',
    // For experiments (V8 flags and the like); the report records it when set.
    ...(process.env.BENCH_GATEWAY_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_GATEWAY_NODE_OPTIONS } : {}),
    ...options.env
  }
  const profileDir = options.cpuProfile ? mkdtempSync(join(cwd, 'profile-')) : null
  const args = [...gatewayNodeFlags(), ...(options.nodeArgs ?? []), ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), join(ROOT, gatewayEntry())]
  const service = spawnService('gateway', args, env, cwd, url)
  const stop = service.stop
  const gateway: GatewayService = {
    ...service,
    jwtSecret,
    cpuProfile: null,
    async stop () {
      await stop()
      const file = profileDir && existsSync(profileDir) ? readdirSync(profileDir).find(f => f.endsWith('.cpuprofile')) : undefined
      if (file) gateway.cpuProfile = JSON.parse(readFileSync(join(profileDir!, file), 'utf8'))
      if (profileDir) rmSync(profileDir, { recursive: true, force: true })
      if (!options.dir) rmSync(cwd, { recursive: true, force: true })
    }
  }
  try {
    await waitFor(gateway, `${url}/health/ready`)
  } catch (err) {
    await gateway.stop()
    throw err
  }
  return gateway
}

/** The Portkey AI Gateway (OSS, from npm), kept on loopback by a preload. */
export async function startPortkey (): Promise<Service> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  // bench/package.json, installed by npm run bench: the gateway's own install does not carry it.
  const server = join(ROOT, 'bench', 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js')
  const service = spawnService('portkey', [
    '--import', join(ROOT, 'bench', 'harness', 'loopback-only.ts'), server, `--port=${port}`, '--headless'
  ], { NODE_ENV: 'production' }, ROOT, url)
  await waitFor(service, `${url}/`)
  return service
}

/** Stops every service, in reverse order, even when some fail. */
export async function stopAll (services: Array<Service | null | undefined>): Promise<void> {
  for (const service of services.filter(Boolean).reverse()) {
    await service!.stop().catch(() => {})
  }
}
