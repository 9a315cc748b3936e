import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import OpenAI from 'openai'
import { until } from '../helpers/until.ts'

const cli = fileURLToPath(new URL('../../simulator/cli.ts', import.meta.url))

function run (args: string[], env: Record<string, string> = {}) {
  // process.execPath is the Node 24 binary running this test (it runs .ts directly).
  const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  return { child, exited, out: () => stdout, err: () => stderr }
}

t.test('the CLI starts, prints its URL, serves, and exits on SIGTERM', async (t) => {
  const proc = run(['--port', '0', '--generation-ms', '5'], { SIM_API_KEY: 'sk-cli-test' })
  t.teardown(() => { if (proc.child.exitCode === null) proc.child.kill('SIGKILL') })
  const url = await until(() => /listening on (http:\/\/\S+\/v1)/.exec(proc.out())?.[1], { timeoutMs: 5000, message: 'the CLI to print its URL' }).catch(() => null)
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/, `printed its base URL (stderr: ${proc.err()})`)

  const openai = new OpenAI({ apiKey: 'sk-cli-test', baseURL: url as string, maxRetries: 0 })
  const r = await openai.responses.create({ model: 'gpt-4.1', input: 'from the CLI' })
  t.match(r.output_text, /^You said: "from the CLI"/, 'the key came from SIM_API_KEY')
  const other = new OpenAI({ apiKey: 'sk-sim-local', baseURL: url as string, maxRetries: 0 })
  t.match(await other.conversations.create().then(() => null, (error: unknown) => error), { status: 401 })

  proc.child.kill('SIGTERM')
  const [code] = await proc.exited
  t.equal(code, 0, 'exits cleanly')
  t.match(proc.out(), /SIGTERM: closing the simulator/)
})

t.test('the CLI rejects unknown flags and prints help', async (t) => {
  const bad = run(['--bogus'])
  t.equal((await bad.exited)[0], 2)
  t.match(bad.err(), /Unknown option '--bogus'[\s\S]*Usage: node simulator\/cli\.ts/)
  const help = run(['--help'])
  t.equal((await help.exited)[0], 0)
  t.match(help.out(), /--generation-ms +\[SIM_GENERATION_MS\]/)
  const wrong = run(['--port', 'abc'])
  t.equal((await wrong.exited)[0], 2)
  t.match(wrong.err(), /--port must be a non-negative number/)
})
