import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const SERVER = join(import.meta.dirname, '..', '..', 'server.ts')

/** Child gateways run in an empty directory so a developer's own .env never leaks into a test. */
function isolatedCwd (): string {
  return mkdtempSync(join(tmpdir(), 'agw-proc-'))
}

export interface GatewayProcess {
  child: ChildProcess
  url: string
  logs: string[]
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>
}

interface Teardown { teardown: (fn: () => unknown) => void }

/**
 * Starts `node server.ts` (the same command as `npm start`) with the given environment and resolves
 * once it listens. Killed at teardown if still running.
 */
export async function startGatewayProcess (t: Teardown, env: Record<string, string>, timeoutMs = 20_000): Promise<GatewayProcess> {
  const cwd = isolatedCwd()
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }))
  const child = spawn(process.execPath, [SERVER], {
    cwd,
    // The "Server listening" line is how we learn the port, so logs are at least at info.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', HOST: '127.0.0.1', PORT: '0', ...env, LOG_LEVEL: env.LOG_LEVEL === 'silent' || !env.LOG_LEVEL ? 'info' : env.LOG_LEVEL },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const logs: string[] = []
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start in ${timeoutMs} ms:\n${logs.join('')}`)), timeoutMs)
    const onData = (chunk: Buffer) => {
      const text = chunk.toString()
      logs.push(text)
      const match = /Server listening at (https?:\/\/[^"\s]+)/.exec(logs.join(''))
      if (match) {
        clearTimeout(timer)
        resolve(match[1]!)
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', code => {
      clearTimeout(timer)
      reject(new Error(`gateway exited with ${code} before listening:\n${logs.join('')}`))
    })
  })
  return { child, url, logs, exited }
}

/** Runs `node server.ts` expecting it to fail; returns its exit code and output. */
export async function runGatewayExpectingExit (env: Record<string, string>): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const cwd = isolatedCwd()
  const child = spawn(process.execPath, [SERVER], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', c => { stdout += c })
  child.stderr.on('data', c => { stderr += c })
  const [code] = await once(child, 'exit')
  rmSync(cwd, { recursive: true, force: true })
  return { code: code as number | null, stdout, stderr }
}
