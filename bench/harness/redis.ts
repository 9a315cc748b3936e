import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect } from 'node:net'
import { freePort, sleep, type Service } from './processes.ts'

/**
 * A throwaway redis-server on loopback (no persistence: the benchmark's data is disposable), for the
 * scenarios that run several gateway instances on one store.
 */
export async function startRedis (): Promise<Service & { redisUrl: string }> {
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] })
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
