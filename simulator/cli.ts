// Runs the OpenAI upstream simulator standalone: `npm run simulator -- --port 4010`.
// Every flag has an environment variable twin (SIM_PORT, SIM_API_KEY, …); flags win.
import { parseArgs } from 'node:util'
import type { ParseArgsOptionsConfig } from 'node:util'
import { startSimulator } from './index.ts'
import type { SimulatorOptions } from './index.ts'

const FLAGS = {
  port: { type: 'string', env: 'SIM_PORT', help: 'port to listen on (default 4010; 0 picks a free one)' },
  host: { type: 'string', env: 'SIM_HOST', help: 'interface to bind (default 127.0.0.1)' },
  'api-key': { type: 'string', env: 'SIM_API_KEY', help: 'accepted bearer key(s), comma-separated (default sk-sim-local)' },
  'generation-ms': { type: 'string', env: 'SIM_GENERATION_MS', help: 'time from in_progress to done (default 200)' },
  'queue-ms': { type: 'string', env: 'SIM_QUEUE_MS', help: 'time a background response stays queued (default 20)' },
  'stream-chunk-ms': { type: 'string', env: 'SIM_STREAM_CHUNK_MS', help: 'fixed time between stream deltas' },
  'latency-ms': { type: 'string', env: 'SIM_LATENCY_MS', help: 'fixed latency added to every /v1 answer' },
  'jitter-ms': { type: 'string', env: 'SIM_JITTER_MS', help: 'random latency, 0..N ms, added on top' },
  'poll-after-ms': { type: 'string', env: 'SIM_POLL_AFTER_MS', help: 'send openai-poll-after-ms on GET /v1/responses/{id}' },
  'context-window-tokens': { type: 'string', env: 'SIM_CONTEXT_WINDOW_TOKENS', help: 'input tokens a request may read (default 400000)' },
  'webhook-url': { type: 'string', env: 'SIM_WEBHOOK_URL', help: 'deliver OpenAI webhooks to this URL (needs --webhook-secret)' },
  'webhook-secret': { type: 'string', env: 'SIM_WEBHOOK_SECRET', help: 'whsec_… secret the webhooks are signed with' },
  'safety-read-key': { type: 'string', env: 'SIM_SAFETY_READ_KEY', help: 'key(s) with api.safety.read, comma-separated' },
  'no-validate': { type: 'boolean', env: 'SIM_NO_VALIDATE', help: 'do not validate requests against the OpenAPI schema' },
  quiet: { type: 'boolean', env: 'SIM_QUIET', help: 'do not log nonconforming requests' },
  help: { type: 'boolean', env: '', help: 'show this help' }
} as const

type Flag = keyof typeof FLAGS

function usage (): string {
  const lines = Object.entries(FLAGS).map(([name, f]) => `  --${name.padEnd(16)} ${f.env ? `[${f.env}] ` : ''}${f.help}`)
  return `Usage: node simulator/cli.ts [options]\n\n${lines.join('\n')}\n`
}

function number (name: Flag, value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined
  const n = Number(value)
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got '${value}'`)
  return n
}

function parse (argv: string[], env: NodeJS.ProcessEnv): SimulatorOptions | null {
  const options = Object.fromEntries(Object.entries(FLAGS).map(([name, f]) => [name, { type: f.type }]))
  const { values } = parseArgs({ args: argv, options: options as ParseArgsOptionsConfig, strict: true })
  const get = (name: Flag): string | undefined => {
    const value = values[name]
    if (typeof value === 'string') return value
    if (value === true) return 'true'
    const fromEnv = FLAGS[name].env ? env[FLAGS[name].env] : undefined
    return fromEnv === '' ? undefined : fromEnv
  }
  if (get('help') === 'true') return null
  const flag = (name: Flag) => ['1', 'true', 'yes'].includes(String(get(name)).toLowerCase())
  return {
    port: number('port', get('port')) ?? 4010,
    host: get('host') ?? '127.0.0.1',
    apiKey: get('api-key')?.split(',').map((k) => k.trim()).filter(Boolean),
    generationMs: number('generation-ms', get('generation-ms')),
    queueMs: number('queue-ms', get('queue-ms')),
    streamChunkMs: number('stream-chunk-ms', get('stream-chunk-ms')) ?? null,
    pollAfterMs: number('poll-after-ms', get('poll-after-ms')) ?? null,
    latency: { fixedMs: number('latency-ms', get('latency-ms')) ?? 0, jitterMs: number('jitter-ms', get('jitter-ms')) ?? 0 },
    contextWindowTokens: number('context-window-tokens', get('context-window-tokens')),
    webhooks: { url: get('webhook-url') ?? null, secret: get('webhook-secret') ?? null },
    safetyReadKeys: get('safety-read-key')?.split(',').map((k) => k.trim()).filter(Boolean),
    validate: !flag('no-validate'),
    precompile: true,
    logger: flag('quiet')
      ? { info () {}, warn () {}, error: (m) => process.stderr.write(`${m}\n`) }
      : { info: (m) => process.stdout.write(`${m}\n`), warn: (m) => process.stderr.write(`${m}\n`), error: (m) => process.stderr.write(`${m}\n`) }
  }
}

let options: SimulatorOptions | null
try {
  options = parse(process.argv.slice(2), process.env)
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n\n${usage()}`)
  process.exit(2)
}
if (options === null) {
  process.stdout.write(usage())
} else {
  if (options.apiKey?.length === 0) delete options.apiKey
  const sim = await startSimulator(options)
  const stop = (signal: string) => {
    process.stdout.write(`${signal}: closing the simulator\n`)
    sim.close().then(() => { process.exitCode = 0 }, (error: unknown) => {
      process.stderr.write(`${String(error)}\n`)
      process.exitCode = 1
    })
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  const hooks = sim.webhooks.settings()
  process.stdout.write(`OpenAI simulator listening on ${sim.url} (control API: ${sim.origin}/__sim/stats)${hooks.url && hooks.secret ? `, webhooks to ${hooks.url}` : ''}\n`)
}
