/**
 * npm run check:deploy-kit: proves the deployment kit where no container engine runs.
 *
 * - Dockerfile: linted (dockerfile-utils), then its own stages are carried out from its own text — the
 *   build context filtered by .dockerignore, WORKDIR, ENV, COPY (also --from), RUN, USER — each RUN in a
 *   bubblewrap sandbox as an unprivileged user (uid 1000, like the image's `node`), with the image's Node
 *   release from the npm registry at /usr/local/bin and the stage's directories at their absolute paths.
 *   Then the simulator stage's CMD and the runtime stage's CMD (as PID 1 of its own PID namespace, so
 *   SIGTERM must reach node) are started; /health/ready, the HEALTHCHECK command, a chat turn and a
 *   streamed run (directly and through nginx with deploy/nginx/compose.conf), SIGTERM and exit 0.
 * - compose.yaml: interpolated like Compose and validated against the Compose specification's schema
 *   (the copy dclint ships), then checked against the Dockerfile and the configs it mounts.
 * - deploy/nginx: `nginx -t`; deploy/caddy: `caddy validate`; deploy/systemd: `systemd-analyze verify`,
 *   then the unit's ExecStart run as it says, from dist/ installed as its header says.
 *
 * Needs bwrap (Debian bubblewrap), nginx, openssl; caddy and systemd-analyze when present (else said).
 * What it cannot do: build or run a real image, pull the base images, run compose. docs/production.md.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { chmodSync, cpSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { basename, dirname, join, posix } from 'node:path'
import { parseArgs } from 'node:util'
import { Ajv } from 'ajv'
import { DockerfileParser, type Instruction } from 'dockerfile-ast'
import { validate as lintDockerfile } from 'dockerfile-utils'
import { parse as parseYaml } from 'yaml'
import { chatTurn, streamedTurn, waitReady } from './chat-turn.ts'
import { registryNode } from './registry-node.ts'

const ROOT = join(import.meta.dirname, '..')
const SIM_KEY = 'sk-kit-local'
const READY_TIMEOUT_MS = 60_000

const { values: args } = parseArgs({ options: { keep: { type: 'boolean', default: false } } })

let passed = 0
let failed = 0
const notChecked: string[] = []
function report (ok: boolean, what: string, detail = ''): boolean {
  if (ok) passed++
  else failed++
  console.log(`${ok ? 'ok' : 'not ok'} ${passed + failed} - ${what}${detail && !ok ? `\n  ${detail.trim().split('\n').slice(-40).join('\n  ')}` : ''}`)
  return ok
}
const section = (title: string) => console.log(`# ${title}`)
const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0

async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  return port
}

// ---------------------------------------------------------------- the sandbox

const WORK = mkdtempSync(join(tmpdir(), 'agw-kit-'))
chmodSync(WORK, 0o755)
// Root hands the work to nobody (65534) before bwrap maps it to uid 1000 inside: nothing runs privileged.
const AS_ROOT = process.getuid?.() === 0
const OUTER = AS_ROOT ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : []
const giveAway = (path: string) => { if (AS_ROOT) execFileSync('chown', ['-R', '65534:65534', path]) }

const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
const ETC = join(WORK, 'etc')
mkdirSync(ETC)
writeFileSync(join(ETC, 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n')
writeFileSync(join(ETC, 'group'), 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n')
// compose.yaml's service names, as Compose's DNS would answer them, on this machine's loopback.
writeFileSync(join(ETC, 'hosts'), '127.0.0.1 localhost gateway-1 gateway-2 redis simulator\n::1 localhost\n')

/** The host's npm settings that reach the registry, as a builder's npmrc would carry them. */
const NPM_ENV: Record<string, string> = {}
for (const key of ['registry', 'cafile', 'proxy', 'https-proxy', 'noproxy', 'strict-ssl']) {
  const value = execFileSync('npm', ['config', 'get', key], { encoding: 'utf8' }).trim()
  if (value && value !== 'null' && value !== 'undefined') NPM_ENV[`npm_config_${key.replace('-', '_')}`] = value
}

interface Sandbox {
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

function bwrap (sandbox: Sandbox, command: string[], { pid1 = false, info = false } = {}): string[] {
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

function runIn (sandbox: Sandbox, command: string[]): { code: number | null, output: string } {
  const [program, ...rest] = bwrap(sandbox, command)
  const result = spawnSync(program!, rest, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  return { code: result.status, output: `${result.stdout}${result.stderr}${result.error ? String(result.error) : ''}` }
}

interface Service { child: ChildProcess, pid: Promise<number>, logs: () => string, exited: Promise<number | null> }

/** Starts a long-running command in a sandbox; with pid1 it is PID 1 of a new PID namespace, as in a container. */
function startIn (sandbox: Sandbox, command: string[], pid1: boolean): Service {
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

async function stop (service: Service, timeoutMs: number): Promise<{ code: number | null, inTime: boolean }> {
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

async function waitForLog (service: Service, pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const match = pattern.exec(service.logs())
    if (match) return match
    if (service.child.exitCode !== null) break
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`no ${pattern} in:\n${service.logs()}`)
}

// ---------------------------------------------------------------- .dockerignore

function globToRegExp (pattern: string): RegExp {
  let source = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === '*' && pattern[i + 1] === '*') {
      source += pattern[i + 2] === '/' ? '(?:.*/)?' : '.*'
      i += pattern[i + 2] === '/' ? 2 : 1
    } else if (c === '*') source += '[^/]*'
    else if (c === '?') source += '[^/]'
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${source}$`)
}

/** Docker's rule: the last pattern matching the path or one of its parents decides; `!` re-includes. */
function dockerignore (text: string): { ignored: (path: string) => boolean, mayReinclude: (dir: string) => boolean } {
  const rules = text.split('\n').map(l => l.trim()).filter(l => l && !l.startsWith('#')).map(line => {
    const negate = line.startsWith('!')
    const pattern = posix.normalize((negate ? line.slice(1) : line).trim()).replace(/^\/+|\/+$/g, '')
    return { negate, pattern, re: globToRegExp(pattern) }
  })
  const ignored = (path: string) => {
    const parts = path.split('/')
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'))
    let result = false
    for (const rule of rules) if (candidates.some(c => rule.re.test(c))) result = !rule.negate
    return result
  }
  const mayReinclude = (dir: string) => rules.some(r => r.negate && (r.pattern.startsWith(`${dir}/`) || r.pattern.startsWith('**')))
  return { ignored, mayReinclude }
}

function buildContext (into: string): string[] {
  const ignore = existsSync(join(ROOT, '.dockerignore')) ? dockerignore(readFileSync(join(ROOT, '.dockerignore'), 'utf8')) : { ignored: () => false, mayReinclude: () => true }
  const files: string[] = []
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = dir ? `${dir}/${entry.name}` : entry.name
      if (entry.isDirectory()) {
        if (!ignore.ignored(path) || ignore.mayReinclude(path)) walk(path)
      } else if (!ignore.ignored(path)) {
        files.push(path)
        mkdirSync(join(into, dir), { recursive: true })
        cpSync(join(ROOT, path), join(into, path))
      }
    }
  }
  walk('')
  return files
}

// ---------------------------------------------------------------- Dockerfile stages

interface Stage {
  name: string
  fs: string
  workdir: string
  user: string
  env: Record<string, string>
  cmd?: string[]
  healthcheck?: string[]
  volumes: string[]
  nodeBin: string
}

/** A path inside a stage's filesystem, on the host. */
const onHost = (stage: Stage, path: string) => join(stage.fs, path)

function stageSandbox (stage: Stage, env: Record<string, string> = {}): Sandbox {
  const home = stage.user === 'root' ? '/root' : '/home/node'
  return { root: stage.fs, binds: [{ host: stage.nodeBin, path: '/usr/local/bin', readOnly: true }], cwd: stage.workdir, env: { PATH: IMAGE_PATH, HOME: home, ...stage.env, ...env } }
}

/** /usr/local/bin of the official node image: node, npm and npx (npm itself from this machine). */
function imageBin (version: string): string {
  const dir = join(WORK, `node-${version}-bin`)
  if (existsSync(dir)) return dir
  mkdirSync(dir)
  const node = registryNode(version)
  try { linkSync(node, join(dir, 'node')) } catch { cpSync(node, join(dir, 'node')) }
  chmodSync(join(dir, 'node'), 0o755)
  const npmRoot = dirname(dirname(execFileSync('sh', ['-c', 'readlink -f "$(command -v npm)"'], { encoding: 'utf8' }).trim()))
  writeFileSync(join(dir, 'npm'), `#!/bin/sh\nexec /usr/local/bin/node ${npmRoot}/bin/npm-cli.js "$@"\n`, { mode: 0o755 })
  writeFileSync(join(dir, 'npx'), `#!/bin/sh\nexec /usr/local/bin/node ${npmRoot}/bin/npx-cli.js "$@"\n`, { mode: 0o755 })
  return dir
}

function words (instruction: Instruction): string[] {
  return (instruction.getArgumentsContent() ?? '').trim().split(/\s+/).filter(Boolean)
}

function jsonForm (text: string): string[] | undefined {
  const trimmed = text.trim()
  if (!trimmed.startsWith('[')) return undefined
  return JSON.parse(trimmed) as string[]
}

function copyInto (from: string, sources: string[], dest: string, missing: (source: string) => void): void {
  const intoDir = dest.endsWith('/') || sources.length > 1
  for (const source of sources) {
    const path = join(from, source)
    if (!existsSync(path)) { missing(source); continue }
    if (statSync(path).isDirectory()) cpSync(path, dest, { recursive: true })
    else {
      const target = intoDir || (existsSync(dest) && statSync(dest).isDirectory()) ? join(dest, basename(source)) : dest
      mkdirSync(dirname(target), { recursive: true })
      cpSync(path, target)
    }
  }
}

function buildStages (dockerfileText: string, context: string): Map<string, Stage> {
  const dockerfile = DockerfileParser.parse(dockerfileText)
  const globalArgs: Record<string, string> = {}
  for (const arg of dockerfile.getInitialARGs()) {
    const property = arg.getProperty()
    if (property?.getName()) globalArgs[property.getName()] = property.getValue() ?? ''
  }
  const expand = (text: string) => text.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => globalArgs[a ?? b] ?? '')
  const stages = new Map<string, Stage>()
  let stage: Stage | undefined
  for (const instruction of dockerfile.getInstructions()) {
    const keyword = instruction.getKeyword()
    const text = instruction.getArgumentsContent() ?? ''
    const line = `${keyword} ${text}`.slice(0, 110)
    if (keyword === 'ARG' && !stage) continue
    if (keyword === 'FROM') {
      const [image, as, name] = expand(text).trim().split(/\s+/)
      const fs = join(WORK, 'stages', name ?? `stage-${stages.size}`)
      const parent = stages.get(image!)
      if (parent) {
        mkdirSync(dirname(fs), { recursive: true })
        execFileSync('cp', ['-a', '--link', parent.fs, fs])
        stage = { ...parent, name: name!, fs, env: { ...parent.env }, volumes: [...parent.volumes] }
      } else {
        const match = /^node:(\d+\.\d+\.\d+)-bookworm-slim$/.exec(image!)
        if (!match || as?.toUpperCase() !== 'AS') throw new Error(`${line}: this check knows the official node:<version>-bookworm-slim images, as named stages`)
        for (const dir of ['root', 'home/node']) mkdirSync(join(fs, dir), { recursive: true })
        giveAway(fs)
        stage = { name: name!, fs, workdir: '/', user: 'root', env: { NODE_VERSION: match[1]! }, volumes: [], nodeBin: imageBin(match[1]!) }
      }
      stages.set(stage.name, stage)
      console.log(`# stage ${stage.name} (${image})`)
      continue
    }
    if (!stage) throw new Error(`${line}: before any FROM`)
    const started = Date.now()
    switch (keyword) {
      case 'WORKDIR': {
        stage.workdir = posix.resolve(stage.workdir, text.trim())
        mkdirSync(onHost(stage, stage.workdir), { recursive: true })
        giveAway(onHost(stage, stage.workdir))
        break
      }
      case 'ENV': {
        for (const property of (instruction as unknown as { getProperties: () => Array<{ getName: () => string, getValue: () => string | null }> }).getProperties()) {
          stage.env[property.getName()] = property.getValue() ?? ''
        }
        break
      }
      case 'USER': stage.user = text.trim(); break
      case 'VOLUME': {
        for (const volume of jsonForm(text) ?? words(instruction)) {
          stage.volumes.push(volume)
          mkdirSync(onHost(stage, volume), { recursive: true })
        }
        break
      }
      case 'EXPOSE': case 'LABEL': case 'STOPSIGNAL': case 'ARG': break
      case 'CMD': stage.cmd = jsonForm(text) ?? ['/bin/sh', '-c', text]; break
      case 'HEALTHCHECK': {
        const command = text.replace(/^(--[\w-]+=\S+\s+)*/, '').trim()
        if (!command.startsWith('CMD')) throw new Error(`${line}: expected HEALTHCHECK [options] CMD …`)
        const rest = command.slice(3)
        stage.healthcheck = jsonForm(rest) ?? ['/bin/sh', '-c', rest.trim()]
        break
      }
      case 'COPY': {
        const flags = Object.fromEntries((instruction as unknown as { getFlags: () => Array<{ getName: () => string, getValue: () => string | null }> }).getFlags().map(f => [f.getName(), f.getValue()]))
        const parts = words(instruction).filter(w => !w.startsWith('--'))
        const destWord = parts.pop()!
        const dest = posix.resolve(stage.workdir, destWord) + (destWord.endsWith('/') ? '/' : '')
        let from = context
        if (flags.from) {
          const source = stages.get(flags.from)
          if (!source) throw new Error(`${line}: no stage ${flags.from}`)
          from = source.fs
        }
        const missing: string[] = []
        copyInto(from, parts.map(p => flags.from ? p.replace(/^\//, '') : p), onHost(stage, dest), s => missing.push(s))
        giveAway(onHost(stage, dest))
        report(missing.length === 0, `COPY ${text.trim()}: every source is in the ${flags.from ? `${flags.from} stage` : 'build context (.dockerignore applied)'}`, missing.join(', '))
        break
      }
      case 'RUN': {
        const command = jsonForm(text) ?? ['/bin/sh', '-c', text]
        const { code, output } = runIn(stageSandbox(stage, NPM_ENV), command)
        report(code === 0, `${stage.name}: RUN ${text.trim().slice(0, 90)} (as an unprivileged user, ${Math.round((Date.now() - started) / 1000)} s)`, output)
        if (code !== 0) throw new Error(`RUN failed in ${stage.name}`)
        break
      }
      default: throw new Error(`${line}: this check does not carry out ${keyword}`)
    }
  }
  return stages
}

// ---------------------------------------------------------------- compose.yaml

function interpolate (value: string, env: Record<string, string | undefined>, errors: string[]): string {
  return value.replace(/\$\$|\$\{([A-Za-z_]\w*)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}|\$([A-Za-z_]\w*)/g, (whole, name: string | undefined, op: string | undefined, arg: string | undefined, bare: string | undefined) => {
    if (whole === '$$') return '$'
    const key = (name ?? bare)!
    const set = env[key] !== undefined
    const nonEmpty = set && env[key] !== ''
    switch (op) {
      case ':-': return nonEmpty ? env[key]! : interpolate(arg ?? '', env, errors)
      case '-': return set ? env[key]! : interpolate(arg ?? '', env, errors)
      case ':?': if (!nonEmpty) errors.push(`${key}: ${arg}`); return env[key] ?? ''
      case '?': if (!set) errors.push(`${key}: ${arg}`); return env[key] ?? ''
      case ':+': return nonEmpty ? interpolate(arg ?? '', env, errors) : ''
      case '+': return set ? interpolate(arg ?? '', env, errors) : ''
      default: return env[key] ?? ''
    }
  })
}

function interpolateAll (node: unknown, env: Record<string, string | undefined>, errors: string[]): unknown {
  if (typeof node === 'string') return interpolate(node, env, errors)
  if (Array.isArray(node)) return node.map(n => interpolateAll(n, env, errors))
  if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateAll(v, env, errors)]))
  return node
}

type ComposeService = {
  build?: { context?: string, target?: string }
  image?: string
  environment?: Record<string, string>
  volumes?: Array<string>
  ports?: Array<string>
  profiles?: string[]
  command?: string[]
  stop_grace_period?: string
  depends_on?: Record<string, { condition?: string, required?: boolean }>
}

function checkCompose (stageNames: Set<string>, volumes: string[]): void {
  section('compose.yaml')
  const text = readFileSync(join(ROOT, 'compose.yaml'), 'utf8')
  const require = createRequire(import.meta.url)
  const schemaFile = join(dirname(require.resolve('dclint/package.json')), 'schemas', 'compose.schema.json')
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false })
  // The schema is draft-07 (Ajv's default) but names it by an address Ajv does not know it by.
  const { $schema: _draft, ...schema } = JSON.parse(readFileSync(schemaFile, 'utf8')) as Record<string, unknown>
  const validate = ajv.compile(schema)
  const raw = parseYaml(text, { merge: true }) as Record<string, unknown>
  // Validated as Compose validates: after interpolation, once without the optional variables and once
  // with the simulator's, and a missing OPENAI_API_KEY must stop it with the message the file gives.
  const errors: string[] = []
  interpolateAll(raw, {}, errors)
  report(errors.some(e => e.startsWith('OPENAI_API_KEY')), 'compose refuses to start without OPENAI_API_KEY, with a message', errors.join('; '))
  for (const env of [{ OPENAI_API_KEY: 'sk-live' }, { OPENAI_API_KEY: 'sk-sim-local', OPENAI_BASE_URL: 'http://simulator:4010/v1' }]) {
    const resolved = interpolateAll(raw, env, []) as Record<string, unknown>
    const valid = validate(resolved)
    report(valid, `valid against the Compose specification schema (${basename(dirname(dirname(schemaFile)))} ${require('dclint/package.json').version}'s copy) with ${Object.keys(env).join(', ')}`,
      ajv.errorsText(validate.errors, { separator: '\n' }))
  }
  const compose = interpolateAll(raw, { OPENAI_API_KEY: 'sk-live' }, []) as { services: Record<string, ComposeService>, volumes?: Record<string, unknown> }
  const services = Object.entries(compose.services)
  const gateways = services.filter(([, s]) => s.build?.target === 'runtime')
  report(gateways.length >= 2, `two gateway instances from the runtime stage (${gateways.map(([n]) => n).join(', ')})`)
  for (const [name, s] of gateways) {
    report(s.environment?.STORE === 'redis' && /^redis:\/\/redis[:/]/.test(s.environment?.REDIS_URL ?? '') && s.depends_on?.redis?.condition === 'service_healthy',
      `${name}: STORE=redis on the redis service, started once Redis is healthy`)
    report(s.environment?.HOST === '0.0.0.0' && !!s.environment?.TRUST_PROXY && s.environment.TRUST_PROXY !== 'false' && !s.ports,
      `${name}: listens on 0.0.0.0, trusts the proxy (TRUST_PROXY=${s.environment?.TRUST_PROXY}), publishes no port of its own`)
    report(volumes.every(v => (s.volumes ?? []).some(m => m.split(':')[1] === v)), `${name}: a volume on the image's ${volumes.join(', ')}`)
    const grace = Number(/^(\d+)s$/.exec(s.stop_grace_period ?? '')?.[1] ?? 10)
    report(grace > 10, `${name}: stop_grace_period (${grace} s) outlasts SHUTDOWN_GRACE_MS (10 s)`)
  }
  const redis = compose.services.redis
  const redisArgs = (redis?.command ?? []).join(' ')
  report(/--appendonly yes/.test(redisArgs) && /--maxmemory-policy noeviction/.test(redisArgs) && (redis?.volumes ?? []).some(v => v.endsWith(':/data')),
    'redis: AOF persistence on a volume, noeviction', redisArgs)
  const simulator = compose.services.simulator
  report(!!simulator?.profiles?.includes('simulator') && simulator.build?.target === 'simulator', 'the simulator is an optional profile built from the simulator stage')
  for (const [name, s] of services) {
    if (s.build?.target) report(stageNames.has(s.build.target), `${name}: build target ${s.build.target} is a Dockerfile stage`)
    for (const mount of s.volumes ?? []) {
      const source = mount.split(':')[0]!
      if (source.startsWith('.')) report(existsSync(join(ROOT, source)), `${name}: mounts ${source}, which exists`)
    }
  }
  report(!!compose.services.nginx?.ports?.length, 'nginx publishes the one port in front')
}

// ---------------------------------------------------------------- nginx, caddy, systemd

function nginxEtc (name: string, conf: Record<string, string>, mainDirectives = ''): string {
  const etc = join(WORK, name)
  mkdirSync(join(etc, 'conf.d'), { recursive: true })
  mkdirSync(join(etc, 'snippets'), { recursive: true })
  cpSync('/etc/nginx/mime.types', join(etc, 'mime.types'))
  cpSync(join(ROOT, 'deploy', 'nginx', 'assistant-gateway-proxy.conf'), join(etc, 'snippets', 'assistant-gateway-proxy.conf'))
  for (const [file, text] of Object.entries(conf)) writeFileSync(join(etc, 'conf.d', file), text)
  // The official image's main file, reduced: conf.d/*.conf inside http, logs to stderr.
  writeFileSync(join(etc, 'nginx.conf'), `${mainDirectives}worker_processes 1;\nerror_log stderr notice;\npid /tmp/nginx.pid;\nevents { worker_connections 256; }\n` +
    'http {\n  include /etc/nginx/mime.types;\n  access_log off;\n  include /etc/nginx/conf.d/*.conf;\n}\n')
  const state = join(WORK, `${name}-state`)
  mkdirSync(state)
  giveAway(state)
  return etc
}

function nginxSandbox (etc: string, extra: Sandbox['binds'] = []): Sandbox {
  const state = `${etc}-state`
  return {
    binds: [{ host: etc, path: '/etc/nginx', readOnly: true }, { host: state, path: '/var/lib/nginx' }, { host: state, path: '/var/log/nginx' }, ...extra],
    cwd: '/',
    env: { PATH: IMAGE_PATH }
  }
}

function checkProxies (): void {
  section('deploy/nginx, deploy/caddy')
  const composeConf = readFileSync(join(ROOT, 'deploy', 'nginx', 'compose.conf'), 'utf8')
  const test1 = runIn(nginxSandbox(nginxEtc('nginx-compose', { 'default.conf': composeConf })), ['/usr/sbin/nginx', '-t'])
  report(test1.code === 0, 'nginx -t: deploy/nginx/compose.conf as the nginx image mounts it', test1.output)

  // The host example with a certificate where it names one (self-signed, made now).
  const hostConf = readFileSync(join(ROOT, 'deploy', 'nginx', 'assistant-gateway.conf'), 'utf8')
  const certDir = join(WORK, 'cert')
  mkdirSync(certDir)
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=gateway.example.com',
    '-keyout', join(certDir, 'privkey.pem'), '-out', join(certDir, 'fullchain.pem')], { stdio: 'ignore' })
  chmodSync(join(certDir, 'privkey.pem'), 0o644)
  const live = /ssl_certificate\s+(\S+)\/fullchain\.pem;/.exec(hostConf)?.[1] ?? '/etc/letsencrypt/live/gateway.example.com'
  // It listens on 80 and 443, as nginx's master does as root: root of the sandbox's own user and network
  // namespaces (still nobody outside), where those ports may be bound.
  const hostSandbox = {
    // Workers as that root too: the namespace maps no other user to chown nginx's temp directories to.
    ...nginxSandbox(nginxEtc('nginx-host', { 'assistant-gateway.conf': hostConf }, 'user root root;\n'), [{ host: certDir, path: live, readOnly: true }]),
    uid: 0,
    options: ['--unshare-net', '--cap-add', 'CAP_NET_BIND_SERVICE']
  }
  const test2 = runIn(hostSandbox, ['/usr/sbin/nginx', '-t'])
  report(test2.code === 0, 'nginx -t: deploy/nginx/assistant-gateway.conf (TLS, HTTP/2) with the snippet', test2.output)

  if (has('caddy')) {
    const result = spawnSync('caddy', ['validate', '--adapter', 'caddyfile', '--config', join(ROOT, 'deploy', 'caddy', 'Caddyfile')], { encoding: 'utf8' })
    report(result.status === 0 && /Valid configuration/.test(`${result.stdout}${result.stderr}`), `caddy validate: deploy/caddy/Caddyfile (${execFileSync('caddy', ['version'], { encoding: 'utf8' }).trim().split(' ')[0]})`, `${result.stdout}${result.stderr}`)
  } else notChecked.push('deploy/caddy/Caddyfile: no caddy binary here (Debian package caddy)')
}

/** systemd's Environment= value: assignments separated by spaces, each optionally in double quotes. */
function unitEnvironment (value: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const match of value.matchAll(/"([^"]*)"|(\S+)/g)) {
    const assignment = match[1] ?? match[2]!
    const eq = assignment.indexOf('=')
    if (eq > 0) out[assignment.slice(0, eq)] = assignment.slice(eq + 1)
  }
  return out
}

// ---------------------------------------------------------------- the run

let dockerOk = false
try {
  for (const tool of ['bwrap', 'nginx', 'openssl']) {
    if (!has(tool)) throw new Error(`${tool} is needed (Debian packages bubblewrap, nginx, openssl)`)
  }
  section('Dockerfile')
  const dockerfileText = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
  const lint = lintDockerfile(dockerfileText)
  report(lint.length === 0, 'dockerfile-utils finds nothing to fix in the Dockerfile', lint.map(d => `line ${d.range.start.line + 1}: ${d.message}`).join('\n'))
  const secretLike = /^(ARG|ENV)\s+.*\b\w*(KEY|SECRET|TOKEN|PASSWORD|SALT)\w*\s*=\s*\S/im
  report(!secretLike.test(dockerfileText), 'no ARG or ENV gives a value to a key, secret, token, password or salt')

  const context = join(WORK, 'context')
  mkdirSync(context)
  const files = buildContext(context)
  report(!files.some(f => /(^|\/)\.env$|(^|\/)data\/|\.db(-wal|-shm)?$|(^|\/)node_modules\/|^dist\//.test(f)),
    `the build context (${files.length} files after .dockerignore) has no .env, data/, database, node_modules/ or dist/`)
  report(!files.includes('.env'), 'a .env in the working copy would stay out of the context', String(files.filter(f => f.includes('.env'))))
  giveAway(context)

  const stages = buildStages(dockerfileText, context)
  const runtime = [...stages.values()].at(-1)!
  const simulatorStage = stages.get('simulator')
  report(runtime.name === 'runtime' && !!simulatorStage, 'the last stage (the default target) is runtime; a simulator stage exists')
  report(runtime.user !== 'root' && runtime.user !== '0', `runtime runs as ${runtime.user}, not root`)
  report(!!runtime.healthcheck && runtime.healthcheck.join(' ').includes('/health/ready'), 'runtime has a HEALTHCHECK on /health/ready')
  report(runtime.cmd?.[0] === 'node', `runtime's CMD starts node itself (exec form), so node is PID 1: ${JSON.stringify(runtime.cmd)}`)
  // What only development needs (the project's lockfile says which packages that is) or the optional Node.
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean, optional?: boolean }> }
  const notForRuntime = Object.entries(lock.packages).filter(([path, p]) => path && (p.dev || p.optional)).map(([path]) => path)
  const present = notForRuntime.filter(path => existsSync(join(onHost(runtime, runtime.workdir), path)))
  report(existsSync(join(onHost(runtime, runtime.workdir), 'node_modules', 'fastify')) && present.length === 0,
    `runtime has the production dependencies and none of the ${notForRuntime.length} packages only development needs, nor the optional Node (the image has its own)`, present.join(', '))
  const modules = join(onHost(runtime, runtime.workdir), 'node_modules')
  console.log(`# runtime ${runtime.workdir}/node_modules: ${execFileSync('du', ['-sh', modules], { encoding: 'utf8' }).split('\t')[0]}`)
  report(!readdirSync(onHost(runtime, runtime.workdir), { recursive: true }).some(f => /(^|\/)\.env$/.test(String(f))), 'no .env anywhere in the runtime stage')

  // The simulator stage, as compose's "simulator" profile runs it, is the upstream for what follows.
  section('run: simulator stage, then the runtime stage as a container')
  const simPort = await freePort()
  const sim = startIn(stageSandbox(simulatorStage!, { SIM_PORT: String(simPort), SIM_API_KEY: SIM_KEY }), simulatorStage!.cmd!, true)
  let simUrl = ''
  try {
    simUrl = (await waitForLog(sim, /listening on (\S+)/, READY_TIMEOUT_MS))[1]!
    report(true, `simulator stage: ${simulatorStage!.cmd!.join(' ')} listens (${simUrl})`)
  } catch (err) {
    report(false, 'simulator stage: starts', (err as Error).message)
  }

  // The runtime stage's WORKDIR belongs to root in the image: the gateway must not need to write there.
  execFileSync('chmod', ['-R', 'a-w', onHost(runtime, runtime.workdir)])
  const port = await freePort()
  const secret = randomBytes(32).toString('base64url')
  // As `docker run -e …`: what compose.yaml and .env give, nothing baked in.
  const runEnv = { PORT: String(port), OPENAI_API_KEY: SIM_KEY, OPENAI_BASE_URL: simUrl, JWT_SECRET: secret }
  const gateway = startIn(stageSandbox(runtime, runEnv), runtime.cmd!, true)
  const url = `http://127.0.0.1:${port}`
  const ready = await waitReady(url, READY_TIMEOUT_MS)
  report(ready.ok, `runtime: ${runtime.cmd!.join(' ')} as PID 1, /health/ready answers 200`, `${ready.detail}\n${gateway.logs()}`)
  const health = runIn(stageSandbox(runtime, runEnv), runtime.healthcheck!)
  report(health.code === 0, 'runtime: the HEALTHCHECK command passes', health.output)
  const turn = await chatTurn(url, secret)
  report(turn.ok, 'runtime: a chat turn against the simulator stage', `${turn.detail}\n${gateway.logs()}`)
  const stream = await streamedTurn(url, secret)
  report(stream.ok, 'runtime: a streamed run (server-sent events to [DONE])', stream.detail)
  report(existsSync(join(onHost(runtime, runtime.env.SQLITE_PATH ?? '/data/gateway.db'))), `runtime: the SQLite store is on the volume (${runtime.env.SQLITE_PATH})`)

  // nginx with compose.conf in front of it, the upstream names resolving to this machine.
  const nginxPort = await freePort()
  const liveConf = readFileSync(join(ROOT, 'deploy', 'nginx', 'compose.conf'), 'utf8')
    .replace(/(server\s+gateway-\d+):3000/g, `$1:${port}`).replace(/listen\s+8080;/, `listen 127.0.0.1:${nginxPort};`)
  const nginx = startIn(nginxSandbox(nginxEtc('nginx-live', { 'default.conf': liveConf })), ['/usr/sbin/nginx', '-g', 'daemon off;'], false)
  const proxied = `http://127.0.0.1:${nginxPort}`
  const viaReady = await waitReady(proxied, 10_000)
  report(viaReady.ok, 'nginx (compose.conf) in front: /health/ready through it', `${viaReady.detail}\n${nginx.logs()}`)
  const viaTurn = await chatTurn(proxied, secret)
  report(viaTurn.ok, 'nginx in front: a chat turn through it', viaTurn.detail)
  const viaStream = await streamedTurn(proxied, secret)
  report(viaStream.ok, 'nginx in front: a streamed run through it, to [DONE]', viaStream.detail)
  await stop(nginx, 10_000)
  await nginx.exited

  const stopped = await stop(gateway, 30_000)
  report(stopped.code === 0 && stopped.inTime, `runtime: SIGTERM to PID 1 ends the gateway cleanly (exit ${stopped.code}) within compose's stop_grace_period`, gateway.logs())
  const after = runIn(stageSandbox(runtime, runEnv), runtime.healthcheck!)
  report(after.code !== 0, 'runtime: the HEALTHCHECK command fails once the gateway is gone', after.output)
  dockerOk = true

  checkCompose(new Set(stages.keys()), runtime.volumes)
  checkProxies()

  // systemd: dist/ installed as the unit's header says, then the unit's own ExecStart.
  section('deploy/systemd')
  const unitFile = join(ROOT, 'deploy', 'systemd', 'assistant-gateway.service')
  const unit = readFileSync(unitFile, 'utf8')
  const service = Object.fromEntries(['WorkingDirectory', 'ExecStart', 'StateDirectory', 'TimeoutStopSec'].map(key => [key, new RegExp(`^${key}=(.*)$`, 'm').exec(unit)?.[1]?.trim() ?? '']))
  const unitEnv = Object.assign({}, ...[...unit.matchAll(/^Environment=(.*)$/gm)].map(m => unitEnvironment(m[1]!))) as Record<string, string>
  const optDir = join(WORK, 'opt')
  cpSync(onHost(stages.get('build')!, '/src/dist'), optDir, { recursive: true })
  const stateDir = join(WORK, 'state')
  mkdirSync(stateDir)
  giveAway(optDir)
  giveAway(stateDir)
  const host: Sandbox = {
    binds: [{ host: optDir, path: service.WorkingDirectory! }, { host: stateDir, path: `/var/lib/${service.StateDirectory}` }, { host: runtime.nodeBin, path: '/usr/local/bin', readOnly: true }],
    cwd: service.WorkingDirectory!,
    env: { PATH: IMAGE_PATH, HOME: '/tmp', ...NPM_ENV }
  }
  const install = runIn(host, ['npm', 'ci', '--omit=dev', '--no-audit', '--no-fund'])
  report(install.code === 0, `systemd host: npm ci --omit=dev in ${service.WorkingDirectory} (keeps the optional Node)`, install.output)
  if (has('systemd-analyze')) {
    const verify = runIn({ ...host, binds: [...host.binds, { host: unitFile, path: '/etc/systemd/system/assistant-gateway.service', readOnly: true }], options: ['--tmpfs', '/run'] },
      ['systemd-analyze', 'verify', '/etc/systemd/system/assistant-gateway.service'])
    report(verify.code === 0, 'systemd-analyze verify deploy/systemd/assistant-gateway.service', verify.output)
  } else notChecked.push('deploy/systemd: systemd-analyze is not installed here')
  const execStart = service.ExecStart!.split(/\s+/)
  const hostPort = await freePort()
  const hostSecret = randomBytes(32).toString('base64url')
  // The EnvironmentFile's settings, which override Environment=.
  const hostEnv = { ...unitEnv, PORT: String(hostPort), OPENAI_API_KEY: SIM_KEY, OPENAI_BASE_URL: simUrl, JWT_SECRET: hostSecret }
  const hosted = startIn({ ...host, env: { PATH: IMAGE_PATH, ...hostEnv } }, execStart, false)
  const hostUrl = `http://127.0.0.1:${hostPort}`
  const hostReady = await waitReady(hostUrl, READY_TIMEOUT_MS)
  report(hostReady.ok && /v24\./.test(hosted.logs() + execFileSync(join(optDir, 'node_modules', '.bin', 'node'), ['--version'], { encoding: 'utf8' })),
    `systemd host: ExecStart (${execStart.slice(0, 2).join(' ')} …) on the Node the install brought, ready`, `${hostReady.detail}\n${hosted.logs()}`)
  const hostTurn = await chatTurn(hostUrl, hostSecret)
  report(hostTurn.ok && existsSync(join(stateDir, basename(unitEnv.SQLITE_PATH ?? 'gateway.db'))), 'systemd host: a chat turn, the store in the StateDirectory', `${hostTurn.detail}\n${hosted.logs()}`)
  const hostStop = await stop(hosted, Number(/\d+/.exec(service.TimeoutStopSec!)?.[0] ?? 90) * 1000)
  report(hostStop.code === 0 && hostStop.inTime, `systemd host: SIGTERM (KillSignal) ends it with exit 0 within TimeoutStopSec=${service.TimeoutStopSec}`, hosted.logs())
  const simStopped = await stop(sim, 10_000)
  report(simStopped.code === 0, `simulator stage: SIGTERM to PID 1 ends it (exit ${simStopped.code})`, sim.logs())
} catch (err) {
  report(false, 'the deployment kit check ran to its end', (err as Error).stack ?? String(err))
} finally {
  if (!dockerOk) console.log('# the Dockerfile part stopped early; later parts did not run')
  if (args.keep) console.log(`# kept ${WORK}`)
  else {
    execFileSync('chmod', ['-R', 'u+w', WORK])
    rmSync(WORK, { recursive: true, force: true })
  }
}

for (const line of notChecked) console.log(`# not checked: ${line}`)
console.log('# not executed here (no container engine): docker build, docker run, docker compose up, the base images themselves')
// Worded so CI's closing line stays the test suite's own count.
console.log(`deploy kit: ${passed} checks passed, ${failed} failed`)
process.exitCode = failed === 0 && passed > 0 ? 0 : 1
