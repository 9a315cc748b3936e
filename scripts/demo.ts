/**
 * npm run demo — the gateway on embedded defaults in front of the bundled OpenAI simulator, with dev
 * tokens printed. Settings can still be overridden from the environment (PORT, CORS_ORIGINS, budgets…),
 * except the upstream, the JWT secret and the store, which belong to the demo.
 *
 * Ports: PORT (the gateway, 3000) and SIM_PORT (the simulator, 4010). A busy gateway port ends the demo
 * with one line saying so (the SPAs and the README's commands expect the gateway where PORT puts it); a
 * busy simulator port is replaced by a free one unless SIM_PORT asks for that port (4010 is also Prism's).
 *
 * Data: the simulator keeps its conversations in memory, so the demo's store is in memory too. A store
 * on disk would outlive the simulator's conversations and list, after a restart, threads that open as
 * 404; keeping neither, a restart starts empty on both sides.
 */
import { buildServer } from '../server.ts'
import { ConfigError, loadConfig, type Config } from '../services/config.ts'
import { startSimulator, type Simulator, type SimulatorOptions } from '../simulator/index.ts'
import { DEMO_JWT_SECRET, mintToken } from './dev-tokens.ts'

const SIM_KEY = 'sk-demo-simulator-key'
const DEFAULT_SIM_PORT = 4010
/** Where both reference SPAs look for the gateway unless their URL says ?gateway= (their DEFAULT_GATEWAY). */
const SPA_DEFAULT_GATEWAY = 'http://127.0.0.1:3000'
/** Both reference SPAs (npm run spa, npm run spa-sdk), by either name of the loopback host. */
const DEMO_CORS_ORIGINS = 'http://127.0.0.1:5173,http://localhost:5173,http://127.0.0.1:5174,http://localhost:5174'

function stop (line: string): never {
  process.stderr.write(`${line}\n`)
  process.exit(1)
}

const inUse = (err: unknown) => (err as NodeJS.ErrnoException).code === 'EADDRINUSE'

function portFrom (variable: string, value: string): number {
  const port = Number(value)
  if (!/^\d+$/.test(value.trim()) || port > 65535) stop(`${variable} must be a port number from 0 to 65535 (0 picks a free one)`)
  return port
}

/** The simulator on SIM_PORT; without SIM_PORT, on 4010 when it is free and on any free port when not. */
async function startDemoSimulator (): Promise<{ sim: Simulator, movedFrom: number | null }> {
  const asked = process.env.SIM_PORT?.trim()
  const port = asked ? portFrom('SIM_PORT', asked) : DEFAULT_SIM_PORT
  const options: SimulatorOptions = { host: '127.0.0.1', apiKey: SIM_KEY, generationMs: Number(process.env.SIM_GENERATION_MS ?? 1200) }
  try {
    return { sim: await startSimulator({ ...options, port }), movedFrom: null }
  } catch (err) {
    if (!inUse(err)) throw err
    if (asked) stop(`The simulator's port ${port} on 127.0.0.1 is in use (another demo, or Prism?): choose another with SIM_PORT=<port> npm run demo, or leave SIM_PORT unset to let the demo pick a free one`)
    return { sim: await startSimulator({ ...options, port: 0 }), movedFrom: port }
  }
}

const { sim, movedFrom } = await startDemoSimulator()

let config: Config
try {
  config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '3000',
    LOG_LEVEL: 'warn',
    CORS_ORIGINS: DEMO_CORS_ORIGINS,
    ...process.env,
    STORE: 'sqlite',
    SQLITE_PATH: ':memory:',
    OPENAI_API_KEY: SIM_KEY,
    OPENAI_BASE_URL: sim.url,
    JWT_SECRET: DEMO_JWT_SECRET,
    JWT_JWKS_URL: '',
    JWT_ISSUER: '',
    JWT_AUDIENCE: ''
  })
} catch (err) {
  await sim.close()
  if (err instanceof ConfigError) stop(err.message)
  throw err
}

const server = await buildServer(config)
await server.upstreamKey.verify()
let address: string
try {
  address = await server.listen({ host: config.HOST, port: config.PORT })
} catch (err) {
  await server.close()
  await sim.close()
  if (inUse(err)) stop(`The gateway's port ${config.PORT} on ${config.HOST} is in use (another demo or gateway?): choose another with PORT=<port> npm run demo, e.g. PORT=${config.PORT + 1}`)
  throw err
}
const base = address.replace('[::1]', 'localhost')
const user = mintToken(DEMO_JWT_SECRET, { sub: 'demo-user' })
const admin = mintToken(DEMO_JWT_SECRET, { sub: 'demo-admin', admin: true, adminRole: config.JWT_ADMIN_ROLE })
// On another port the pages would talk to a gateway that is not there: their links say where it is.
const spa = (origin: string) => base === SPA_DEFAULT_GATEWAY ? origin : `${origin}/?gateway=${base}`
const origins = config.CORS_ORIGINS.split(',').map(s => s.trim()).filter(Boolean).join(', ') || 'none (CORS_ORIGINS is empty)'

process.stdout.write(`
assistant-gateway demo (upstream: the bundled OpenAI simulator, not OpenAI)

  Gateway     ${base}
  Swagger UI  ${base}/docs
  Health      ${base}/health/ready
  Simulator   ${sim.url}${movedFrom === null ? '' : ` (${movedFrom} was in use)`}
  CORS        ${origins}
  Data        in memory, as the simulator's: a restart starts empty

  User token  (sub=demo-user, 24 h):
    ${user}
  Admin token (sub=demo-admin, role=${config.JWT_ADMIN_ROLE}, 24 h):
    ${admin}

  Try it:
    export TOKEN=${user}
    curl -s -X POST ${base}/api/openai/threads -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"title":"Demo"}'

  Reference SPAs: npm run spa (${spa('http://127.0.0.1:5173')}), npm run spa-sdk (${spa('http://127.0.0.1:5174')})
  More tokens: npm run token -- --demo --sub alice [--admin]     Stop: Ctrl+C
`)

let stopping = false
async function shutDown (signal: string) {
  if (stopping) return
  stopping = true
  process.stdout.write(`\n${signal}: stopping the demo\n`)
  await server.close()
  await sim.close()
  process.exit(0)
}
process.once('SIGINT', () => { shutDown('SIGINT').catch(() => process.exit(1)) })
process.once('SIGTERM', () => { shutDown('SIGTERM').catch(() => process.exit(1)) })
