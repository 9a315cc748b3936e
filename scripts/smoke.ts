/**
 * npm run smoke: the gateway on the lowest Node.js `engines` admits — start, one chat turn against the
 * bundled simulator, SIGTERM, exit 0 — from the sources (package.json's prestart and start, as `npm start`
 * runs them) and from the built dist/ (after `npm ci --omit=dev` there, with its own start script); then
 * the newest Node below that floor, which must be refused in one line with a non-zero exit.
 *
 *   npm run smoke [-- --node-version 22.18.0 | --node /path/to/node] [--entry source|dist] [--no-refusal]
 *
 * Node releases come from the npm registry (scripts/registry-node.ts). CI runs this; it works locally too.
 */
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { chatTurn, waitReady } from './chat-turn.ts'
import { compareVersions, engineFloors, enginesRange, registryNode, registryNodeVersions } from './registry-node.ts'

const ROOT = join(import.meta.dirname, '..')
const SIM_KEY = 'sk-smoke-local'
const START_TIMEOUT_MS = 60_000

const { values } = parseArgs({
  options: {
    node: { type: 'string' },
    'node-version': { type: 'string' },
    entry: { type: 'string', multiple: true },
    'no-refusal': { type: 'boolean', default: false }
  }
})

let passed = 0
let failed = 0
function report (ok: boolean, what: string, detail = ''): void {
  if (ok) passed++
  else failed++
  console.log(`${ok ? 'ok' : 'not ok'} ${passed + failed} - ${what}${detail && !ok ? `\n  ${detail.trim().split('\n').slice(-30).join('\n  ')}` : ''}`)
}

/** The words of an npm script whose program is `node`, with that node replaced by the one under test. */
function scriptCommand (script: string | undefined, node: string): string[] {
  const words = (script ?? '').trim().split(/\s+/)
  if (words[0] !== 'node') throw new Error(`expected a script that runs node, got '${script}'`)
  return [node, ...words.slice(1)]
}

interface Run { code: number | null, stdout: string, stderr: string }
async function run (command: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  const child = spawn(command[0]!, command.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', c => { stdout += c })
  child.stderr.on('data', c => { stderr += c })
  const [code] = await once(child, 'exit')
  return { code: code as number | null, stdout, stderr }
}

async function startSimulator (): Promise<{ url: string, stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [join(ROOT, 'simulator', 'cli.ts'), '--port', '0', '--api-key', SIM_KEY], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', c => {
      out += c
      const match = /listening on (\S+)/.exec(out)
      if (match) resolve(match[1]!)
    })
    child.once('exit', code => reject(new Error(`the simulator exited with ${code}: ${out}`)))
  })
  return { url, stop: async () => { child.kill('SIGTERM'); if (child.exitCode === null) await once(child, 'exit') } }
}

/** Starts one gateway, makes one chat turn, stops it with SIGTERM; every failure is reported. */
async function startTurnStop (label: string, command: string[], cwd: string, simUrl: string): Promise<void> {
  const data = mkdtempSync(join(tmpdir(), 'agw-smoke-data-'))
  const secret = randomBytes(32).toString('base64url')
  const child = spawn(command[0]!, command.slice(1), {
    cwd,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      OPENAI_API_KEY: SIM_KEY,
      OPENAI_BASE_URL: simUrl,
      JWT_SECRET: secret,
      SQLITE_PATH: join(data, 'gateway.db'),
      UPLOAD_TMP_DIR: join(data, 'uploads')
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let logs = ''
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as string | null }))
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not listening after ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS)
      const onData = (chunk: Buffer) => {
        logs += chunk
        const match = /Server listening at (http:\/\/[^"\s]+)/.exec(logs)
        if (match) { clearTimeout(timer); resolve(match[1]!) }
      }
      child.stdout.on('data', onData)
      child.stderr.on('data', onData)
      exited.then(({ code }) => { clearTimeout(timer); reject(new Error(`exited with ${code} before listening`)) })
    })
    const ready = await waitReady(url, START_TIMEOUT_MS)
    report(ready.ok, `${label}: starts, /health/ready answers 200`, `${ready.detail}\n${logs}`)
    const turn = await chatTurn(url, secret)
    report(turn.ok, `${label}: one chat turn (thread, message, run completed, the answer in the thread)`, `${turn.detail}\n${logs}`)
  } catch (err) {
    report(false, `${label}: starts and answers a chat turn`, `${(err as Error).message}\n${logs}`)
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
      const { code, signal } = await exited
      clearTimeout(timer)
      report(code === 0, `${label}: SIGTERM ends it cleanly (exit 0)`, `exit ${code} ${signal ?? ''}\n${logs}`)
    }
    rmSync(data, { recursive: true, force: true })
  }
}

/** A Node below the floor must be refused by one line on stderr, with a non-zero exit and no stack. */
async function refusal (label: string, command: string[], cwd: string): Promise<void> {
  const { code, stdout, stderr } = await run(command, cwd, { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' })
  const lines = stderr.trim().split('\n')
  report(code === 1 && lines.length === 1 && /needs Node\.js .+, not /.test(lines[0]!) && stdout === '',
    `${label}: refused in one line, exit 1 (${lines[0]?.slice(0, 60)}…)`, `exit ${code}\nstdout: ${stdout}\nstderr: ${stderr}`)
}

const range = enginesRange()
const floor = engineFloors(range)[0]!
const version = values['node-version'] ?? floor
const node = values.node ?? registryNode(version)
const nodeVersion = execFileSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim()
const entries = values.entry ?? ['source', 'dist']
console.log(`# smoke: engines.node ${range}; gateway on Node.js ${nodeVersion} (${node})`)

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
const work = mkdtempSync(join(tmpdir(), 'agw-smoke-'))
const sim = await startSimulator()
const tooOldVersion = values['no-refusal'] ? undefined : registryNodeVersions().filter(v => compareVersions(v, floor) < 0).sort(compareVersions).at(-1)
const tooOld = tooOldVersion ? registryNode(tooOldVersion) : undefined
try {
  if (entries.includes('source')) {
    const cwd = join(work, 'source')
    mkdirSync(cwd)
    // npm start = prestart then start, run from the project; here with absolute paths from an empty
    // directory so a developer's .env stays out of it.
    const absolute = (words: string[]) => words.map(w => /\.(ts|js)$/.test(w) ? join(ROOT, w) : w)
    const prestart = await run(absolute(scriptCommand(pkg.scripts.prestart, node)), cwd)
    report(prestart.code === 0, `source on Node.js ${nodeVersion}: prestart (the version check) passes`, prestart.stderr)
    await startTurnStop(`source on Node.js ${nodeVersion}`, absolute(scriptCommand(pkg.scripts.start, node)), cwd, sim.url)
    if (tooOld) await refusal(`source on Node.js ${tooOldVersion} (npm start's prestart)`, absolute(scriptCommand(pkg.scripts.prestart, tooOld)), cwd)
  }
  if (entries.includes('dist')) {
    const dist = join(work, 'dist')
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.ts'), '--out-dir', dist, '--no-source-maps'], { stdio: ['ignore', 'ignore', 'inherit'] })
    // npm itself runs on the Node under test, as it would on a host that has only that Node.
    const ci = await run(['npm', 'ci', '--omit=dev', '--omit=optional', '--no-audit', '--no-fund'], dist, { ...process.env, PATH: `${dirname(node)}:${process.env.PATH}` })
    report(ci.code === 0 && !/EBADENGINE/.test(ci.stderr), `dist: npm ci --omit=dev on Node.js ${nodeVersion} from its own lockfile, no engine warning`, ci.stderr)
    const start = (JSON.parse(readFileSync(join(dist, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start
    await startTurnStop(`dist on Node.js ${nodeVersion}`, scriptCommand(start, node), dist, sim.url)
    if (tooOld) await refusal(`dist on Node.js ${tooOldVersion}`, scriptCommand(start, tooOld), dist)
  }
} finally {
  await sim.stop()
  rmSync(work, { recursive: true, force: true })
}
// Worded so CI's closing line stays the test suite's own count.
console.log(`smoke: ${passed} checks passed, ${failed} failed`)
process.exitCode = failed === 0 && passed > 0 ? 0 : 1
