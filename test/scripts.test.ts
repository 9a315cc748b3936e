import { spawn, execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { tempDir } from './helpers/build.ts'

const ROOT = join(import.meta.dirname, '..')

t.test('npm run demo: simulator + gateway on embedded defaults, dev tokens that work', async t => {
  const cwd = tempDir(t)
  const child = spawn(process.execPath, [join(ROOT, 'scripts', 'demo.ts')], {
    cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: '0', SIM_PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = once(child, 'exit')
  t.teardown(async () => { if (child.exitCode === null) { child.kill('SIGTERM'); await exited } })
  let out = ''
  child.stdout.on('data', c => { out += c })
  child.stderr.on('data', c => { out += c })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo did not start:\n${out}`)), 20_000)
    child.stdout.on('data', () => { if (out.includes('Stop: Ctrl+C')) { clearTimeout(timer); resolve() } })
  })
  const gateway = /Gateway\s+(http:\/\/\S+)/.exec(out)![1]!
  t.match(out, /Swagger UI\s+http:\/\/\S+\/docs/)
  const [userToken, adminToken] = [...out.matchAll(/token .*:\n\s+(\S+)/g)].map(m => m[1]!)
  t.equal((await fetch(`${gateway}/health/ready`)).status, 200)
  t.equal((await fetch(`${gateway}/docs/`)).status, 200)
  const list = await fetch(`${gateway}/api/openai/threads`, { headers: { authorization: `Bearer ${userToken}` } })
  t.equal(list.status, 200, 'the printed user token works')
  const report = await fetch(`${gateway}/api/openai/admin/usage`, { headers: { authorization: `Bearer ${adminToken}` } })
  t.equal(report.status, 200, 'the printed admin token is an admin')
  child.kill('SIGTERM')
  const [code] = await exited
  t.equal(code, 0, 'Ctrl+C / SIGTERM stops it cleanly')
})

t.test('npm run token mints tokens with the configured secret', async t => {
  const cwd = tempDir(t)
  const run = (args: string[], env: Record<string, string>) =>
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'token.ts'), ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  const token = run(['--sub', 'alice', '--admin', '--ttl', '60'], { JWT_SECRET: 'a-configured-secret-of-32-characters!!', JWT_ISSUER: 'https://idp/' })
  const [, payload] = token.split('.')
  const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString())
  t.match(claims, { sub: 'alice', role: 'admin', iss: 'https://idp/' })
  t.equal(claims.exp - claims.iat, 60)
  t.throws(() => run(['--sub', ''], {}), 'an empty subject is refused')
  t.throws(() => run([], { JWT_JWKS_URL: 'https://idp/jwks' }), 'with an identity provider, tokens come from it')
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
    env: { PATH: process.env.PATH ?? '', OPENAI_API_KEY: 'sk-test', JWT_SECRET: 'x'.repeat(40), HOST: '127.0.0.1', PORT: '0', SQLITE_PATH: join(cwd, 'gw.db') },
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
