import { readFileSync } from 'node:fs'
import t from 'tap'
import { ConfigSchema, ConfigError, corsOrigins, loadConfig, trustProxyOption } from '../../services/config.ts'

const base = { OPENAI_API_KEY: 'sk-test', JWT_SECRET: 'x'.repeat(32) }

function messageFor (env: Record<string, string>): string {
  try {
    loadConfig(env)
  } catch (err) {
    return err instanceof ConfigError ? err.message : `unexpected ${String(err)}`
  }
  return 'no error'
}

t.test('defaults from the contract', async t => {
  const config = loadConfig(base)
  t.equal(config.HOST, '127.0.0.1')
  t.equal(config.PORT, 3000)
  t.equal(config.STORE, 'sqlite')
  t.equal(config.SQLITE_PATH, './data/gateway.db')
  t.equal(config.JWT_ADMIN_ROLE, 'admin')
  t.equal(config.RATE_LIMIT_MAX, 120)
  t.equal(config.RUN_WAIT_TIMEOUT_MS, 60000)
  t.equal(config.RUN_MAX_ACTIVE_PER_USER, 3)
  t.equal(config.BUDGET_USER_DAILY_TOKENS, 0)
  t.equal(config.OPENAI_BASE_URL, 'https://api.openai.com/v1')
  t.equal(config.TRANSCRIPTION_MODEL, 'gpt-transcribe')
})

t.test('values are converted from strings and empty values count as unset', async t => {
  const config = loadConfig({ ...base, PORT: '8080', RATE_LIMIT_MAX: ' 5 ', LOG_LEVEL: 'debug', JWT_ISSUER: '' })
  t.equal(config.PORT, 8080)
  t.equal(config.RATE_LIMIT_MAX, 5)
  t.equal(config.LOG_LEVEL, 'debug')
  t.equal(config.JWT_ISSUER, undefined)
})

t.test('one line naming the variable and the rule', async t => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ JWT_SECRET: 'x'.repeat(32) }, 'Invalid configuration: OPENAI_API_KEY is required'],
    [{ OPENAI_API_KEY: 'k' }, 'Invalid configuration: JWT_SECRET or JWT_JWKS_URL is required'],
    [{ ...base, JWT_SECRET: 'short' }, 'Invalid configuration: JWT_SECRET must be at least 32 characters'],
    [{ ...base, JWT_JWKS_URL: 'https://idp.example/jwks' }, 'Invalid configuration: JWT_SECRET and JWT_JWKS_URL are exclusive: set one of them'],
    [{ ...base, PORT: '70000' }, 'Invalid configuration: PORT must be an integer from 0 to 65535'],
    [{ ...base, PORT: 'abc' }, 'Invalid configuration: PORT must be an integer from 0 to 65535'],
    [{ ...base, STORE: 'mongo' }, 'Invalid configuration: STORE must be one of sqlite, redis'],
    [{ ...base, LOG_LEVEL: 'loud' }, 'Invalid configuration: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent'],
    [{ ...base, STORE: 'redis' }, 'Invalid configuration: REDIS_URL is required when STORE=redis'],
    [{ ...base, REDIS_URL: 'http://x' }, 'Invalid configuration: REDIS_URL must match ^rediss?://'],
    [{ ...base, CORS_ORIGINS: '*' }, 'Invalid configuration: CORS_ORIGINS must list origins; a wildcard is not allowed'],
    [{ ...base, CORS_ORIGINS: 'https://a.example/path' }, 'Invalid configuration: CORS_ORIGINS entry "https://a.example/path" must be scheme://host[:port] without a path'],
    [{ ...base, TLS_CERT_FILE: '/tmp/cert.pem' }, 'Invalid configuration: TLS_CERT_FILE and TLS_KEY_FILE must be set together'],
    [{ ...base, OPENAI_BASE_URL: 'ftp://x' }, 'Invalid configuration: OPENAI_BASE_URL must match ^https?://[^\\s]+$'],
    [{ ...base, RUN_POLL_MIN_MS: '5000', RUN_POLL_MAX_MS: '100' }, 'Invalid configuration: RUN_POLL_MIN_MS must not exceed RUN_POLL_MAX_MS'],
    [{ ...base, METRICS_TOKEN: 'short' }, 'Invalid configuration: METRICS_TOKEN must be at least 16 characters']
  ]
  for (const [env, expected] of cases) {
    const message = messageFor(env)
    t.equal(message, expected)
    t.notMatch(message, /\n/, 'one line')
  }
})

t.test('CORS origins and trustProxy parsing', async t => {
  t.same(corsOrigins({ CORS_ORIGINS: 'https://a.example, http://localhost:5173,' }), ['https://a.example', 'http://localhost:5173'])
  t.same(corsOrigins({ CORS_ORIGINS: '' }), [])
  t.equal(trustProxyOption('true'), true)
  t.equal(trustProxyOption('false'), false)
  const hops = trustProxyOption('2') as (a: string, hop: number) => boolean
  t.equal(hops('10.0.0.1', 1), true)
  t.equal(hops('10.0.0.1', 2), false)
  t.same(trustProxyOption('10.0.0.0/8, 127.0.0.1'), ['10.0.0.0/8', '127.0.0.1'])
})

t.test('.env.example documents every variable of the schema, and nothing else', async t => {
  const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8')
  const documented = new Set([...example.matchAll(/^#?\s?([A-Z][A-Z0-9_]+)=/gm)].map(m => m[1]))
  const schemaKeys = Object.keys(ConfigSchema.properties)
  for (const key of schemaKeys) t.ok(documented.has(key), `${key} is in .env.example`)
  for (const key of documented) t.ok(schemaKeys.includes(key!), `${key} from .env.example is in the schema`)
})

t.test('the README configuration table is generated from the schema and current', async t => {
  const { withTable } = await import('../../scripts/config-table.ts')
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  t.equal(withTable(readme), readme, 'run node scripts/config-table.ts after changing services/config.ts')
  for (const key of Object.keys(ConfigSchema.properties)) t.match(readme, `| \`${key}\` |`)
})
