import { spawn, spawnSync, execFileSync } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { tempDir } from './helpers/build.ts'
import { DEMO_JWT_SECRET } from '../scripts/dev-tokens.ts'

const ROOT = join(import.meta.dirname, '..')

interface Demo {
  out: string
  gateway: string
  simulator: string
  userToken: string
  adminToken: string
  stop: () => Promise<number | null>
}

/** `npm run demo` in `cwd`, resolved once its banner is out. */
async function startDemo (t: Test, cwd: string, env: Record<string, string>): Promise<Demo> {
  // Load shedding off, as in every test gateway (test/helpers/build.ts): a loaded CI machine lags.
  const child = spawn(process.execPath, [join(ROOT, 'scripts', 'demo.ts')], {
    cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', MAX_EVENT_LOOP_DELAY_MS: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  t.teardown(async () => { if (child.exitCode === null) { child.kill('SIGTERM'); await exited } })
  let out = ''
  child.stdout.on('data', c => { out += c })
  child.stderr.on('data', c => { out += c })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo did not start:\n${out}`)), 30_000)
    child.stdout.on('data', () => { if (out.includes('Stop: Ctrl+C')) { clearTimeout(timer); resolve() } })
    child.once('exit', code => { clearTimeout(timer); reject(new Error(`demo exited with ${code}:\n${out}`)) })
  })
  const [userToken, adminToken] = [...out.matchAll(/token .*:\n\s+(\S+)/g)].map(m => m[1]!)
  return {
    out,
    gateway: /Gateway\s+(http:\/\/\S+)/.exec(out)![1]!,
    simulator: /Simulator\s+(http:\/\/\S+)/.exec(out)![1]!,
    userToken: userToken!,
    adminToken: adminToken!,
    stop: async () => { child.kill('SIGTERM'); return await exited }
  }
}

/** `npm run demo` expected to stop at once: its exit code and what it printed. */
async function demoExpectingExit (cwd: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [join(ROOT, 'scripts', 'demo.ts')], {
    cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', c => { stdout += c })
  child.stderr.on('data', c => { stderr += c })
  const [code] = await once(child, 'exit')
  return { code: code as number | null, stdout, stderr }
}

/** A port held by something else for the length of the test. */
async function holdPort (t: Test, port = 0): Promise<number | null> {
  const server = createServer()
  const held = await new Promise<number | null>(resolve => {
    server.once('error', () => resolve(null))
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))
  })
  if (held !== null) t.teardown(() => new Promise(resolve => server.close(resolve)))
  return held
}

t.test('npm run demo: simulator + gateway on embedded defaults, dev tokens that work, the banner the README shows', async t => {
  const cwd = tempDir(t)
  const demo = await startDemo(t, cwd, { PORT: '0', SIM_PORT: '0' })
  const { gateway, userToken, adminToken } = demo
  t.equal((await fetch(`${gateway}/health/ready`)).status, 200)
  t.equal((await fetch(`${gateway}/docs/`)).status, 200)
  const list = await fetch(`${gateway}/api/openai/threads`, { headers: { authorization: `Bearer ${userToken}` } })
  t.equal(list.status, 200, 'the printed user token works')
  const report = await fetch(`${gateway}/api/openai/admin/usage`, { headers: { authorization: `Bearer ${adminToken}` } })
  t.equal(report.status, 200, 'the printed admin token is an admin')
  for (const spa of ['http://127.0.0.1:5173', 'http://localhost:5173', 'http://127.0.0.1:5174', 'http://localhost:5174']) {
    const res = await fetch(`${gateway}/api/openai/threads`, { method: 'OPTIONS', headers: { origin: spa, 'access-control-request-method': 'POST' } })
    t.equal(res.headers.get('access-control-allow-origin'), spa, `CORS lets ${spa} in`)
  }

  // Not on the SPAs' default gateway (127.0.0.1:3000): their links say where this one is.
  t.match(demo.out, `  Reference SPAs: npm run spa (http://127.0.0.1:5173/?gateway=${gateway}), npm run spa-sdk (http://127.0.0.1:5174/?gateway=${gateway})\n`,
    'the SPA links carry ?gateway= of this port')

  // The README shows the banner as printed on the default ports (where the links need no ?gateway=), tokens cut short.
  const banner = demo.out.slice(0, demo.out.indexOf('Stop: Ctrl+C') + 'Stop: Ctrl+C'.length)
    .replaceAll(`/?gateway=${gateway}`, '')
    .replaceAll(gateway, 'http://127.0.0.1:3000')
    .replaceAll(demo.simulator, 'http://127.0.0.1:4010/v1')
    .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g, 'eyJhbGciOi…')
    .trim()
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const shown = [...readme.matchAll(/```\n([^`]*?)\n```/g)].map(m => m[1]!).find(block => block.startsWith('assistant-gateway demo'))
  t.equal(shown, banner, 'the README shows the banner the demo prints')

  // Keep both or neither: the simulator forgets its conversations on restart, so the demo's store does too.
  const created = await fetch(`${gateway}/api/openai/threads`, { method: 'POST', headers: { authorization: `Bearer ${userToken}`, 'content-type': 'application/json' }, body: '{"title":"before"}' })
  t.equal(created.status, 201)
  t.equal(await demo.stop(), 0, 'Ctrl+C / SIGTERM stops it cleanly')
  const again = await startDemo(t, cwd, { PORT: '0', SIM_PORT: '0' })
  const after = await (await fetch(`${again.gateway}/api/openai/threads`, { headers: { authorization: `Bearer ${again.userToken}` } })).json() as { data: unknown[] }
  t.same(after.data, [], 'after a restart no thread is listed that the new simulator does not have')
  t.same(readdirSync(cwd), [], 'nothing written to disk')
  t.equal(await again.stop(), 0)
})

t.test('npm run demo: a busy port is one line saying which and how to choose another', async t => {
  const cwd = tempDir(t)
  const busy = (await holdPort(t))!
  const gatewayBusy = await demoExpectingExit(cwd, { PORT: String(busy), SIM_PORT: '0' })
  t.equal(gatewayBusy.code, 1)
  t.equal(gatewayBusy.stderr, `The gateway's port ${busy} on 127.0.0.1 is in use (another demo or gateway?): choose another with PORT=<port> npm run demo, e.g. PORT=${busy + 1}\n`)
  t.equal(gatewayBusy.stdout, '')

  const simBusy = await demoExpectingExit(cwd, { PORT: '0', SIM_PORT: String(busy) })
  t.equal(simBusy.code, 1)
  t.equal(simBusy.stderr, `The simulator's port ${busy} on 127.0.0.1 is in use (another demo, or Prism?): choose another with SIM_PORT=<port> npm run demo, or leave SIM_PORT unset to let the demo pick a free one\n`)

  const badPort = await demoExpectingExit(cwd, { PORT: '0', SIM_PORT: 'x' })
  t.equal(badPort.stderr, 'SIM_PORT must be a port number from 0 to 65535 (0 picks a free one)\n')
  const badSetting = await demoExpectingExit(cwd, { PORT: '0', SIM_PORT: '0', LOG_LEVEL: 'loud' })
  t.equal(badSetting.stderr, 'Invalid configuration: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent\n')
  t.equal(badSetting.code, 1)
})

t.test('npm run demo: without SIM_PORT a busy 4010 is replaced by a free port', async t => {
  // Held here, or already held by something else (another demo, Prism): busy either way.
  await holdPort(t, 4010)
  const demo = await startDemo(t, tempDir(t), { PORT: '0' })
  t.match(demo.out, /Simulator\s+http:\/\/127\.0\.0\.1:\d+\/v1 \(4010 was in use\)/)
  t.not(demo.simulator, 'http://127.0.0.1:4010/v1')
  const created = await fetch(`${demo.gateway}/api/openai/threads`, { method: 'POST', headers: { authorization: `Bearer ${demo.userToken}`, 'content-type': 'application/json' }, body: '{}' })
  t.equal(created.status, 201, 'the gateway talks to the simulator where it is')
  t.equal(await demo.stop(), 0)
})

t.test('npm run token: the secret is chosen explicitly and named on stderr', async t => {
  const cwd = tempDir(t)
  const run = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [join(ROOT, 'scripts', 'token.ts'), ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' })
  const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())
  const signedWith = (token: string, secret: string) => {
    const [header, payload, signature] = token.trim().split('.')
    return createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url') === signature
  }

  const configured = run(['--sub', 'alice', '--admin', '--ttl', '60'], { JWT_SECRET: 'a-configured-secret-of-32-characters!!', JWT_ISSUER: 'https://idp/' })
  t.equal(configured.status, 0)
  t.match(claims(configured.stdout), { sub: 'alice', role: 'admin', iss: 'https://idp/' })
  t.equal(claims(configured.stdout).exp - claims(configured.stdout).iat, 60, '--ttl is the lifetime in seconds')
  t.ok(signedWith(configured.stdout, 'a-configured-secret-of-32-characters!!'))
  t.match(configured.stderr, /^Signed with JWT_SECRET from the environment/)

  const none = run([])
  t.equal(none.status, 1, 'no secret configured and no --demo: refused, not guessed')
  t.equal(none.stderr, 'token: no JWT_SECRET in the environment or .env. For npm run demo: npm run token -- --demo\n')
  t.equal(none.stdout, '')

  writeFileSync(join(cwd, '.env'), `JWT_SECRET=${'e'.repeat(40)}\nJWT_AUDIENCE=gateway\n`)
  const fromFile = run(['--sub', 'bob'])
  t.ok(signedWith(fromFile.stdout, 'e'.repeat(40)), '.env is read without --demo')
  t.match(claims(fromFile.stdout), { sub: 'bob', aud: 'gateway' })
  t.match(fromFile.stderr, /^Signed with JWT_SECRET from \.env: valid against a gateway with that secret, not npm run demo \(use --demo for it\)/)

  const demo = run(['--demo', '--sub', 'carol'])
  t.equal(demo.status, 0)
  t.ok(signedWith(demo.stdout, DEMO_JWT_SECRET), '--demo signs with the demo secret even with a .env')
  t.notOk(claims(demo.stdout).aud, "and none of .env's claims")
  t.equal(demo.stderr, "Signed with the demo's secret (--demo): valid against npm run demo only.\n")

  const help = run(['--help'])
  t.equal(help.status, 0)
  t.match(help.stdout, /^usage: npm run token -- \[--demo\].*\n.*--ttl <s> +lifetime in seconds/s)
  for (const [args, message] of [[['alice'], "Unexpected argument 'alice'"], [['--bogus'], "Unknown option '--bogus'"], [['--ttl', '1h'], '--ttl must be a whole number of seconds'], [['--sub', ''], '--sub must be 1-256 characters']] as const) {
    const wrong = run([...args])
    t.equal(wrong.status, 2, `${args.join(' ')}: a usage error`)
    const lines = wrong.stderr.trimEnd().split('\n')
    t.equal(lines.length, 2, `${args.join(' ')}: the problem and the usage line, no stack`)
    t.match(lines[0], message)
    t.match(lines[1], /^usage: npm run token -- /)
  }
  rmSync(join(cwd, '.env'))
  t.equal(run([], { JWT_JWKS_URL: 'https://idp/jwks' }).status, 1, 'with an identity provider, tokens come from it')
})

t.test('npm run build emits JavaScript that runs on its own', async t => {
  // Inside the repository (git-ignored), so the compiled files resolve the project's node_modules.
  const out = join(ROOT, '.tap', `build-test-${process.pid}`)
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  // Without source maps: coverage would map the compiled files, barely run here, onto the sources
  // and overwrite what the rest of the suite measured.
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.ts'), '--out-dir', out, '--no-source-maps'], { stdio: 'ignore' })
  const cwd = tempDir(t)
  const child = spawn(process.execPath, [join(out, 'server.js')], {
    cwd,
    // Load shedding off, as in every test gateway: on a loaded machine the boot's own lag can be the first
    // sample, and a single probe right after listening would be shed.
    env: { PATH: process.env.PATH ?? '', OPENAI_API_KEY: 'sk-test', JWT_SECRET: 'x'.repeat(40), HOST: '127.0.0.1', PORT: '0', SQLITE_PATH: join(cwd, 'gw.db'), MAX_EVENT_LOOP_DELAY_MS: '0' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = once(child, 'exit')
  t.teardown(async () => { if (child.exitCode === null) { child.kill('SIGKILL'); await exited } })
  let out2 = ''
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`compiled server did not start:\n${out2}`)), 20_000)
    const onData = (c: Buffer) => {
      out2 += c
      const match = /Server listening at (http:\/\/\S+?)"/.exec(out2)
      if (match) { clearTimeout(timer); resolve(match[1]!) }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
  })
  t.equal((await fetch(`${url}/health/ready`)).status, 200)
  t.equal((await fetch(`${url}/docs/json`)).status, 200)
  child.kill('SIGTERM')
  const [code] = await Promise.race([exited, new Promise<[string]>(resolve => setTimeout(() => resolve(['did not exit']), 15_000))])
  t.equal(code, 0, 'stops cleanly on SIGTERM')
})
