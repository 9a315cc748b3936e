import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { rmSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort, sleep, tempDir, type Service } from './processes.ts'

const run = promisify(execFile)

/**
 * A throwaway redis-server on loopback (no persistence: the benchmark's data is disposable), for the
 * scenarios that run several gateway instances on one store; `args` are more redis-server options.
 */
export async function startRedis (args: string[] = []): Promise<Service & { redisUrl: string }> {
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  const keep = (chunk: Buffer) => { lines.push(...chunk.toString().split('\n').filter(Boolean)); lines.splice(0, Math.max(0, lines.length - 50)) }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  const exited = once(child, 'exit')
  process.once('exit', () => child.kill('SIGKILL'))
  const service = {
    name: 'redis',
    pid: child.pid!,
    url: `redis://127.0.0.1:${port}`,
    redisUrl: `redis://127.0.0.1:${port}/0`,
    child,
    logs: () => lines.join('\n'),
    async stop () {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      await exited
    }
  }
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode} (is it installed?):\n${service.logs()}`)
    const up = await new Promise<boolean>(resolve => {
      const socket = connect(port, '127.0.0.1', () => { socket.end(); resolve(true) })
      socket.once('error', () => resolve(false))
    })
    if (up) return service
    if (Date.now() > deadline) throw new Error(`redis-server not listening on ${port}:\n${service.logs()}`)
    await sleep(50)
  }
}

/**
 * A throwaway Redis Cluster of three primaries on loopback (no replicas, no persistence), slots split by
 * `redis-cli --cluster create`, for the scenarios that compare it with one Redis. Resolves once every
 * node says the cluster is ok.
 */
export async function startRedisCluster (): Promise<Service & { nodes: string }> {
  const dir = tempDir()
  const servers: Array<Awaited<ReturnType<typeof startRedis>>> = []
  try {
    for (let i = 0; i < 3; i++) {
      servers.push(await startRedis(['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${i}.conf`), '--dir', dir]))
    }
    const nodes = servers.map(s => s.url.slice('redis://'.length))
    await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-yes'], { timeout: 60_000 })
    const deadline = Date.now() + 30_000
    for (;;) {
      const states = await Promise.all(nodes.map(node => run('redis-cli', ['-h', '127.0.0.1', '-p', node.split(':')[1]!, 'cluster', 'info'])
        .then(({ stdout }) => /cluster_state:ok/.test(stdout), () => false)))
      if (states.every(Boolean)) break
      if (Date.now() > deadline) throw new Error('the Redis Cluster did not become ok in 30 s')
      await sleep(100)
    }
    return {
      name: 'redis-cluster',
      pid: servers[0]!.pid,
      url: servers[0]!.url,
      child: servers[0]!.child,
      nodes: nodes.join(','),
      logs: () => servers.map(s => s.logs()).join('\n'),
      async stop () {
        for (const server of servers) await server.stop()
        rmSync(dir, { recursive: true, force: true })
      }
    }
  } catch (err) {
    for (const server of servers) await server.stop()
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
}
