/**
 * The deployment-kit check's sandbox: bubblewrap, entered as an unprivileged user (root hands the work to
 * nobody first, bwrap maps that to uid 1000 inside, like the image's `node`), with this machine's /usr
 * read-only, a minimal /etc, and whatever a check binds in (a Dockerfile stage's filesystem as /, …).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const WORK = mkdtempSync(join(tmpdir(), 'agw-kit-'))
chmodSync(WORK, 0o755)
// Root hands the work to nobody (65534) before bwrap maps it to uid 1000 inside: nothing runs privileged.
export const AS_ROOT = process.getuid?.() === 0
const OUTER = AS_ROOT ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : []
export const giveAway = (path: string) => { if (AS_ROOT) execFileSync('chown', ['-R', '65534:65534', path]) }

export const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
const ETC = join(WORK, 'etc')
mkdirSync(ETC)
writeFileSync(join(ETC, 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n')
writeFileSync(join(ETC, 'group'), 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n')
// compose.yaml's service names, as Compose's DNS would answer them, on this machine's loopback.
writeFileSync(join(ETC, 'hosts'), '127.0.0.1 localhost gateway-1 gateway-2 redis simulator\n::1 localhost\n')

/** The host's npm settings that reach the registry, as a builder's npmrc would carry them. */
export const NPM_ENV: Record<string, string> = {}
for (const key of ['registry', 'cafile', 'proxy', 'https-proxy', 'noproxy', 'strict-ssl']) {
  const value = execFileSync('npm', ['config', 'get', key], { encoding: 'utf8' }).trim()
  if (value && value !== 'null' && value !== 'undefined') NPM_ENV[`npm_config_${key.replace('-', '_')}`] = value
}

export interface Sandbox {
  /** A stage's filesystem as /, so what a RUN writes anywhere stays, as in an image layer. */
  root?: string
  /** host path → absolute path inside */
  binds: Array<{ host: string, path: string, readOnly?: boolean }>
  env: Record<string, string>
  cwd: string
  /** Extra bwrap options (a network namespace of its own, a tmpfs on /run, …). */
  options?: string[]
  /** The uid inside the user namespace: 1000 (the image's `node`) unless said. */
  uid?: number
}

function lstatExists (path: string): boolean {
  try { lstatSync(path); return true } catch { return false }
}

export function bwrap (sandbox: Sandbox, command: string[], { pid1 = false, info = false } = {}): string[] {
  const uid = String(sandbox.uid ?? 1000)
  const argv = ['bwrap', '--die-with-parent', '--unshare-user', '--uid', uid, '--gid', uid, '--unshare-ipc', '--unshare-uts',
    ...(sandbox.root ? ['--bind', sandbox.root, '/'] : []),
    '--ro-bind', '/usr', '/usr']
  // Debian's merged /usr; a stage's root keeps these links from its first RUN on, as an image has them.
  for (const link of ['bin', 'sbin', 'lib', ...(existsSync('/usr/lib64') ? ['lib64'] : [])]) {
    if (!sandbox.root || !lstatExists(join(sandbox.root, link))) argv.push('--symlink', `usr/${link}`, `/${link}`)
  }
  argv.push('--tmpfs', '/etc')
  for (const entry of ['resolv.conf', 'nsswitch.conf', 'host.conf', 'gai.conf', 'ssl', 'ca-certificates', 'localtime']) {
    if (existsSync(`/etc/${entry}`)) argv.push('--ro-bind', `/etc/${entry}`, `/etc/${entry}`)
  }
  for (const entry of ['passwd', 'group', 'hosts']) argv.push('--ro-bind', join(ETC, entry), `/etc/${entry}`)
  argv.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp')
  for (const bind of sandbox.binds) argv.push(bind.readOnly ? '--ro-bind' : '--bind', bind.host, bind.path)
  argv.push(...sandbox.options ?? [])
  if (pid1) argv.push('--unshare-pid', '--as-pid-1')
  if (info) argv.push('--info-fd', '3')
  argv.push('--chdir', sandbox.cwd, '--clearenv')
  for (const [key, value] of Object.entries(sandbox.env)) argv.push('--setenv', key, value)
  return [...OUTER, ...argv, ...command]
}

export function runIn (sandbox: Sandbox, command: string[]): { code: number | null, output: string } {
  const [program, ...rest] = bwrap(sandbox, command)
  const result = spawnSync(program!, rest, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  return { code: result.status, output: `${result.stdout}${result.stderr}${result.error ? String(result.error) : ''}` }
}

export interface Service { child: ChildProcess, pid: Promise<number>, logs: () => string, exited: Promise<number | null> }

/** Starts a long-running command in a sandbox; with pid1 it is PID 1 of a new PID namespace, as in a container. */
export function startIn (sandbox: Sandbox, command: string[], pid1: boolean): Service {
  const [program, ...rest] = bwrap(sandbox, command, { pid1, info: true })
  const child = spawn(program!, rest, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] })
  let logs = ''
  child.stdout!.on('data', c => { logs += c })
  child.stderr!.on('data', c => { logs += c })
  // The sandboxed process's own pid (bwrap's child), so signals go to it as they would in production.
  const pid = new Promise<number>((resolve, reject) => {
    let info = ''
    const fd = child.stdio[3] as NodeJS.ReadableStream
    fd.on('data', c => {
      info += c
      const match = /"child-pid":\s*(\d+)/.exec(info)
      if (match) resolve(Number(match[1]))
    })
    child.once('exit', () => reject(new Error('exited before it ran')))
  })
  pid.catch(() => {})
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  return { child, pid, logs: () => logs, exited }
}

export async function stop (service: Service, timeoutMs: number): Promise<{ code: number | null, inTime: boolean }> {
  if (service.child.exitCode !== null) return { code: service.child.exitCode, inTime: true }
  // The signal goes to the sandboxed process itself (PID 1 in a container), not to bwrap: as `docker stop`
  // and systemd's KillSignal do.
  process.kill(await service.pid, 'SIGTERM')
  let inTime = true
  const timer = setTimeout(() => { inTime = false; service.child.kill('SIGKILL') }, timeoutMs)
  const code = await service.exited
  clearTimeout(timer)
  return { code, inTime }
}

export async function waitForLog (service: Service, pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const match = pattern.exec(service.logs())
    if (match) return match
    if (service.child.exitCode !== null) break
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`no ${pattern} in:\n${service.logs()}`)
}
