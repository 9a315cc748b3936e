/**
 * npm run demo — the gateway on embedded defaults in front of the bundled OpenAI simulator, with dev
 * tokens printed. Settings can still be overridden from the environment (PORT, CORS_ORIGINS, budgets…),
 * except the upstream and the JWT secret, which belong to the demo.
 */
import { buildServer } from '../server.ts'
import { loadConfig } from '../services/config.ts'
import { startSimulator } from '../simulator/index.ts'
import { DEMO_JWT_SECRET, mintToken } from './dev-tokens.ts'

const SIM_KEY = 'sk-demo-simulator-key'

const sim = await startSimulator({
  host: '127.0.0.1',
  port: Number(process.env.SIM_PORT ?? 4010),
  apiKey: SIM_KEY,
  generationMs: Number(process.env.SIM_GENERATION_MS ?? 1200)
})

const config = loadConfig({
  HOST: '127.0.0.1',
  PORT: '3000',
  LOG_LEVEL: 'warn',
  SQLITE_PATH: './data/demo.db',
  CORS_ORIGINS: 'http://localhost:5173,http://127.0.0.1:5173',
  ...process.env,
  OPENAI_API_KEY: SIM_KEY,
  OPENAI_BASE_URL: sim.url,
  JWT_SECRET: DEMO_JWT_SECRET,
  JWT_JWKS_URL: '',
  JWT_ISSUER: '',
  JWT_AUDIENCE: ''
})

const server = await buildServer(config)
const address = await server.listen({ host: config.HOST, port: config.PORT })
const base = address.replace('[::1]', 'localhost')
const user = mintToken(DEMO_JWT_SECRET, { sub: 'demo-user' })
const admin = mintToken(DEMO_JWT_SECRET, { sub: 'demo-admin', admin: true, adminRole: config.JWT_ADMIN_ROLE })

process.stdout.write(`
assistant-gateway demo (upstream: the bundled OpenAI simulator, not OpenAI)

  Gateway     ${base}
  Swagger UI  ${base}/docs
  Health      ${base}/health/ready
  Simulator   ${sim.url}

  User token  (sub=demo-user, 24 h):
    ${user}
  Admin token (sub=demo-admin, role=${config.JWT_ADMIN_ROLE}, 24 h):
    ${admin}

  Try it:
    export TOKEN=${user}
    curl -s -X POST ${base}/api/openai/threads -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"title":"Demo"}'

  More tokens: npm run token -- --sub alice [--admin]     Stop: Ctrl+C
`)

let stopping = false
async function stop (signal: string) {
  if (stopping) return
  stopping = true
  process.stdout.write(`\n${signal}: stopping the demo\n`)
  await server.close()
  await sim.close()
  process.exit(0)
}
process.once('SIGINT', () => { stop('SIGINT').catch(() => process.exit(1)) })
process.once('SIGTERM', () => { stop('SIGTERM').catch(() => process.exit(1)) })
