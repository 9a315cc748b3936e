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
 * deploy-kit/: the sandbox, the Dockerfile's emulation, the compose checks; this file runs them in order,
 * then the proxies and the systemd unit. `--keep` leaves the work directory for a look.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { once } from 'node:events'
import { basename, join } from 'node:path'
import { parseArgs } from 'node:util'
import { validate as lintDockerfile } from 'dockerfile-utils'
import { chatTurn, streamedTurn, waitReady } from './chat-turn.ts'
import { checkCompose } from './deploy-kit/compose.ts'
import { buildContext, buildStages, onHost, stageSandbox } from './deploy-kit/dockerfile.ts'
import { counts, notChecked, report, section } from './deploy-kit/report.ts'
import { giveAway, IMAGE_PATH, NPM_ENV, runIn, startIn, stop, waitForLog, WORK, type Sandbox } from './deploy-kit/sandbox.ts'

const ROOT = join(import.meta.dirname, '..')
const SIM_KEY = 'sk-kit-local'
const READY_TIMEOUT_MS = 60_000

const { values: args } = parseArgs({ options: { keep: { type: 'boolean', default: false } } })
const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0

async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  return port
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
const { passed, failed } = counts()
console.log(`deploy kit: ${passed} checks passed, ${failed} failed`)
process.exitCode = failed === 0 && passed > 0 ? 0 : 1
