import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { tempDir } from '../helpers/build.ts'
import { ConfigSchema, ConfigError, corsOrigins, loadConfig, trustProxyOption } from '../../services/config.ts'
import { describeRedisTarget, redisSetting, redisTarget } from '../../services/redis.ts'

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
  t.equal(config.RUN_WAIT_TIMEOUT_MS, 50000, "every default wait answers within a proxy's common 60 s")
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
    [{ ...base, STORE: 'redis' }, 'Invalid configuration: REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES is required when STORE=redis'],
    [{ ...base, STORE: 'redis', REDIS_SENTINELS: '10.0.0.1:26379' }, 'Invalid configuration: REDIS_SENTINEL_NAME is required with REDIS_SENTINELS'],
    [{ ...base, REDIS_SENTINELS: '10.0.0.1', REDIS_SENTINEL_NAME: 'm' }, 'Invalid configuration: REDIS_SENTINELS must be comma-separated host:port pairs such as 10.0.0.1:26379,10.0.0.2:26379 (IPv6 in brackets)'],
    [{ ...base, REDIS_URL: 'redis://a', REDIS_CLUSTER_NODES: 'a:6379' }, 'Invalid configuration: REDIS_URL and REDIS_CLUSTER_NODES are exclusive: set one of them'],
    [{ ...base, REDIS_URL: 'redis://a', REDIS_PASSWORD: 'secret' }, 'Invalid configuration: REDIS_PASSWORD only applies with REDIS_SENTINELS or REDIS_CLUSTER_NODES: with REDIS_URL, put it in the URL (rediss://user:password@host:port)'],
    [{ ...base, REDIS_CLUSTER_NODES: 'a:6379', REDIS_SENTINEL_NAME: 'm' }, 'Invalid configuration: REDIS_SENTINEL_NAME only applies with REDIS_SENTINELS'],
    [{ ...base, REDIS_URL: 'http://x' }, 'Invalid configuration: REDIS_URL must be a redis:// or rediss:// URL'],
    [{ ...base, CORS_ORIGINS: '*' }, 'Invalid configuration: CORS_ORIGINS must list origins; a wildcard is not allowed'],
    [{ ...base, CORS_ORIGINS: 'https://a.example/path' }, 'Invalid configuration: CORS_ORIGINS entry "https://a.example/path" must be scheme://host[:port] without a path'],
    [{ ...base, TLS_CERT_FILE: '/tmp/cert.pem' }, 'Invalid configuration: TLS_CERT_FILE and TLS_KEY_FILE must be set together'],
    [{ ...base, OPENAI_BASE_URL: 'ftp://x' }, 'Invalid configuration: OPENAI_BASE_URL must be an http:// or https:// URL without spaces, such as https://api.openai.com/v1'],
    [{ ...base, TRUST_PROXY: 'yes' }, 'Invalid configuration: TRUST_PROXY must be false, true, a hop count (0-99), or comma-separated proxy IP addresses or CIDR ranges such as 10.0.0.0/8,127.0.0.1'],
    [{ ...base, JWT_SECRET: '', JWT_JWKS_URL: 'idp.example/jwks' }, 'Invalid configuration: JWT_JWKS_URL must be an http:// or https:// URL without spaces'],
    [{ ...base, JWT_ALGORITHMS: 'RS256, HS256' }, 'Invalid configuration: JWT_ALGORITHMS must be a comma-separated list (no spaces) of RS256, RS384, RS512, ES256, ES384, ES512, PS256'],
    [{ ...base, TRANSCRIPTION_MODELS: 'whisper-1;rm' }, 'Invalid configuration: TRANSCRIPTION_MODELS must be a comma-separated list of model names (letters, digits, dots, underscores, colons, hyphens)'],
    [{ ...base, RUN_POLL_MIN_MS: '5000', RUN_POLL_MAX_MS: '100' }, 'Invalid configuration: RUN_POLL_MIN_MS must not exceed RUN_POLL_MAX_MS'],
    [{ ...base, METRICS_TOKEN: 'short' }, 'Invalid configuration: METRICS_TOKEN must be at least 16 characters']
  ]
  for (const [env, expected] of cases) {
    const message = messageFor(env)
    t.equal(message, expected)
    t.notMatch(message, /\n/, 'one line')
  }
})

t.test('a rule with a pattern is said in words: no regular expression reaches the operator', async t => {
  for (const [name, schema] of Object.entries(ConfigSchema.properties as Record<string, { pattern?: string, expected?: string }>)) {
    if (schema.pattern === undefined) continue
    t.type(schema.expected, 'string', `${name} says in words what it expects`)
    const message = messageFor({ ...base, [name]: 'bad\u0007value' })
    t.match(message, new RegExp(`^Invalid configuration: ${name} must be `), `${name}'s rule is named`)
    t.notOk(message.includes(schema.pattern), `${name}'s message has no regular expression`)
  }
})

t.test('every problem at once, one line each, in the order of the schema', async t => {
  let error: unknown
  try {
    loadConfig({ PORT: 'abc', LOG_LEVEL: 'loud', TRUST_PROXY: 'yes', OPENAI_BASE_URL: 'ftp://x', JWT_SECRET: 'short', CORS_ORIGINS: '*,https://a.example/x', TLS_KEY_FILE: '/k.pem' })
  } catch (err) {
    error = err
  }
  t.ok(error instanceof ConfigError)
  const { problems, message } = error as ConfigError
  t.same(problems, [
    'Invalid configuration: PORT must be an integer from 0 to 65535',
    'Invalid configuration: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
    'Invalid configuration: TRUST_PROXY must be false, true, a hop count (0-99), or comma-separated proxy IP addresses or CIDR ranges such as 10.0.0.0/8,127.0.0.1',
    'Invalid configuration: OPENAI_API_KEY is required',
    'Invalid configuration: OPENAI_BASE_URL must be an http:// or https:// URL without spaces, such as https://api.openai.com/v1',
    'Invalid configuration: JWT_SECRET must be at least 32 characters',
    'Invalid configuration: TLS_CERT_FILE and TLS_KEY_FILE must be set together',
    'Invalid configuration: CORS_ORIGINS must list origins; a wildcard is not allowed',
    'Invalid configuration: CORS_ORIGINS entry "https://a.example/x" must be scheme://host[:port] without a path'
  ], 'JWT_SECRET is named for its length only, not also as missing')
  t.equal(message, problems.join('\n'))
  t.same(new ConfigError('Invalid configuration: X cannot be read as JSON (Unexpected token\n "a\r\nb")').problems,
    ['Invalid configuration: X cannot be read as JSON (Unexpected token "a b")'], 'a quoted newline does not break the line')
})

t.test('TLS files are read and checked with the rest: missing, not PEM, a key of another certificate', async t => {
  const dir = tempDir(t)
  const pair = (name: string) => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, `${name}.key`),
      '-out', join(dir, `${name}.crt`), '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' })
    return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) }
  }
  const a = pair('a')
  const b = pair('b')
  const garbage = join(dir, 'garbage.pem')
  writeFileSync(garbage, 'not a certificate\n')
  const tls = (cert: string, key: string, extra: Record<string, string> = {}) => messageFor({ ...base, TLS_CERT_FILE: cert, TLS_KEY_FILE: key, ...extra })
  t.equal(tls(a.cert, a.key), 'no error')
  t.equal(tls(join(dir, 'nope.crt'), join(dir, 'nope.key'), { PORT: '-1' }), [
    'Invalid configuration: PORT must be an integer from 0 to 65535',
    `Invalid configuration: TLS_CERT_FILE ${join(dir, 'nope.crt')} cannot be read (ENOENT)`,
    `Invalid configuration: TLS_KEY_FILE ${join(dir, 'nope.key')} cannot be read (ENOENT)`
  ].join('\n'))
  t.equal(tls(garbage, garbage), [
    `Invalid configuration: TLS_CERT_FILE ${garbage} is not a PEM certificate`,
    `Invalid configuration: TLS_KEY_FILE ${garbage} is not an unencrypted PEM private key`
  ].join('\n'))
  t.equal(tls(a.key, a.cert), [
    `Invalid configuration: TLS_CERT_FILE ${a.key} is not a PEM certificate`,
    `Invalid configuration: TLS_KEY_FILE ${a.cert} is not an unencrypted PEM private key`
  ].join('\n'), 'the two swapped')
  t.equal(tls(a.cert, b.key), `Invalid configuration: TLS_KEY_FILE ${b.key} is not the private key of the certificate in TLS_CERT_FILE ${a.cert}`)
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

t.test('the Redis target: one server, Sentinel or Cluster, and how it is named without credentials', async t => {
  const single = redisTarget(loadConfig({ ...base, STORE: 'redis', REDIS_URL: 'rediss://u:s3cret@redis.internal:6380/2' }))
  t.same(single, { kind: 'single', url: 'rediss://u:s3cret@redis.internal:6380/2' })
  t.equal(describeRedisTarget(single), 'rediss://redis.internal:6380/2')
  const sentinel = redisTarget(loadConfig({
    ...base, STORE: 'redis', REDIS_SENTINELS: '10.0.0.1:26379, [fd00::2]:26380', REDIS_SENTINEL_NAME: 'main', REDIS_SENTINEL_PASSWORD: 'sentinel-pass', REDIS_PASSWORD: 'data-pass', REDIS_TLS: 'true'
  }))
  t.same(sentinel, {
    kind: 'sentinel', sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: 'fd00::2', port: 26380 }], name: 'main', sentinelPassword: 'sentinel-pass', password: 'data-pass', tls: true
  })
  t.equal(describeRedisTarget(sentinel), 'Sentinel master main (sentinels 10.0.0.1:26379,[fd00::2]:26380)')
  t.equal(redisSetting(sentinel), 'REDIS_SENTINELS and REDIS_SENTINEL_NAME')
  const cluster = redisTarget(loadConfig({ ...base, STORE: 'redis', REDIS_CLUSTER_NODES: 'a:7000,b:7001', REDIS_USERNAME: 'gw', REDIS_PASSWORD: 'p' }))
  t.same(cluster, { kind: 'cluster', nodes: [{ host: 'a', port: 7000 }, { host: 'b', port: 7001 }], username: 'gw', password: 'p', tls: false })
  t.equal(describeRedisTarget(cluster), 'Redis Cluster a:7000,b:7001')
  t.notMatch(JSON.stringify([single, sentinel, cluster].map(describeRedisTarget)), /s3cret|pass|gw/, 'no credentials in the description')
})

t.test('.env.example documents every variable of the schema, and nothing else', async t => {
  const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8')
  const documented = new Set([...example.matchAll(/^#?\s?([A-Z][A-Z0-9_]+)=/gm)].map(m => m[1]))
  const schemaKeys = Object.keys(ConfigSchema.properties)
  for (const key of schemaKeys) t.ok(documented.has(key), `${key} is in .env.example`)
  for (const key of documented) t.ok(schemaKeys.includes(key!), `${key} from .env.example is in the schema`)
})

t.test('the project files .env.example points to exist', async t => {
  const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8')
  const paths = [...example.matchAll(/^#?\s?[A-Z_]+=(\.\/\S+)/gm), ...example.matchAll(/bundled (\S+\.json)/g)].map(m => m[1]!)
  t.ok(paths.includes('./config/agents.json'), 'the agents file is named')
  for (const path of paths) {
    if (path.startsWith('./data/')) continue // made at start-up
    t.ok(existsSync(new URL(`../../${path.replace(/^\.\//, '')}`, import.meta.url)), `${path} exists`)
  }
})

t.test('the README configuration table is generated from the schema and current', async t => {
  const { withTable } = await import('../../scripts/config-table.ts')
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  t.equal(withTable(readme), readme, 'run node scripts/config-table.ts after changing services/config.ts')
  for (const key of Object.keys(ConfigSchema.properties)) t.match(readme, `| \`${key}\` |`)
})
