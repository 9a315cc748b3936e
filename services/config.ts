import { readFileSync } from 'node:fs'
import { Type, type Static, type TSchema } from 'typebox'
import { Value } from 'typebox/value'
import { readTlsFiles } from './tls-files.ts'

const Int = (min: number, max: number, def: number, description: string) =>
  Type.Integer({ minimum: min, maximum: max, default: def, description })
const OptionalString = (description: string, extra: Record<string, unknown> = {}) =>
  Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description, ...extra }))

const MiB = 1024 * 1024
const HOST_PORT = '(\\[[0-9a-fA-F:.]+\\]|[^\\s,:\\[\\]]+):\\d{1,5}'
/** Comma-separated host:port pairs (services/redis.ts parseHostPorts reads them). */
const HOST_PORT_LIST = `^${HOST_PORT}(\\s*,\\s*${HOST_PORT})*$`

/**
 * Every environment variable the gateway reads, in one place. The config type is derived from it,
 * `.env.example` documents it group by group, and a test keeps the two in step. A `pattern` comes with
 * `expected`, the same rule in words: an operator is told what to write, not shown a regular expression.
 */
export const ConfigSchema = Type.Object({
  // Server
  HOST: Type.String({ minLength: 1, default: '127.0.0.1', description: 'listen address' }),
  PORT: Int(0, 65535, 3000, 'listen port'),
  LOG_LEVEL: Type.Union([
    Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'),
    Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')
  ], { default: 'info', description: 'pino level' }),
  TRUST_PROXY: Type.String({ default: 'false', pattern: '^(true|false|\\d{1,2}|[0-9a-fA-F.:/, ]+)$', expected: 'false, true, a hop count (0-99), or comma-separated proxy IP addresses or CIDR ranges such as 10.0.0.0/8,127.0.0.1', description: 'false, true, a hop count, or comma-separated proxy addresses/CIDRs' }),
  CORS_ORIGINS: Type.String({ default: '', maxLength: 4096, description: 'comma-separated allow-list of browser origins (scheme://host[:port])' }),
  BODY_LIMIT_BYTES: Int(1024, 16 * MiB, 2 * MiB, 'largest JSON body accepted (20 messages of 32 000 characters fit)'),
  REQUEST_TIMEOUT_MS: Int(1000, 3_600_000, 120_000, 'time to receive a whole request (headers and body) from a client'),
  KEEP_ALIVE_TIMEOUT_MS: Int(1000, 600_000, 72_000, 'idle keep-alive timeout (keep above your load balancer\'s)'),
  SHUTDOWN_GRACE_MS: Int(0, 600_000, 10_000, 'how long in-flight requests may finish after SIGTERM'),
  TLS_CERT_FILE: OptionalString('PEM certificate; with TLS_KEY_FILE serves HTTPS'),
  TLS_KEY_FILE: OptionalString('PEM private key'),
  METRICS_TOKEN: OptionalString('bearer token required by /metrics when set', { minLength: 16 }),
  MAX_EVENT_LOOP_DELAY_MS: Int(0, 60_000, 1000, 'shed load (503) above this event-loop delay; 0 disables'),
  MAX_HEAP_USED_BYTES: Int(0, Number.MAX_SAFE_INTEGER, 0, 'shed load above this heap size; 0 disables'),

  // OpenAI upstream
  OPENAI_API_KEY: Type.String({ minLength: 1, maxLength: 512, description: 'upstream key (never leaves the server)' }),
  OPENAI_BASE_URL: Type.String({ default: 'https://api.openai.com/v1', pattern: '^https?://[^\\s]+$', expected: 'an http:// or https:// URL without spaces, such as https://api.openai.com/v1', description: 'upstream base URL including /v1' }),
  OPENAI_ORGANIZATION: OptionalString('OpenAI-Organization header'),
  OPENAI_PROJECT: OptionalString('OpenAI-Project header'),
  OPENAI_TIMEOUT_MS: Int(100, 600_000, 15_000, 'per-attempt upstream timeout; with OPENAI_MAX_RETRIES a hanging upstream is answered 504 after (retries + 1) × this (about 47 s with the defaults, under a proxy\'s common 60 s)'),
  OPENAI_MAX_RETRIES: Int(0, 10, 2, 'SDK retries on connection errors, 408/409/429/5xx'),
  OWNER_HASH_SALT: OptionalString('salt for the owner hash written into conversation metadata; defaults to one derived from OPENAI_API_KEY', { minLength: 16 }),
  SAFETY_IDENTIFIER_KEY: OptionalString('key of the safety_identifier sent with every response (HMAC-SHA256 of the user id); defaults to one derived from OWNER_HASH_SALT, else OPENAI_API_KEY — set it, so rotating those keeps identifiers stable', { minLength: 16 }),
  PROMPT_CACHE_SHARDS: Int(1, 256, 1, 'prompt_cache_key buckets per assistant prefix (users are spread over them); raise it when one assistant gets more than ~15 requests a minute'),
  OPENAI_WEBHOOK_SECRET: OptionalString('whsec_… secret of the OpenAI webhook endpoint; enables POST /webhooks/openai (404 without it)', { minLength: 16 }),
  OPENAI_SAFETY_API_KEY: OptionalString('a key with the api.safety.read scope, to read a safety case when a notice carries only its id; without it such notices are recorded as unresolved'),
  SAFETY_AUTO_SUSPEND: Type.Union([Type.Literal('off'), Type.Literal('deactivation'), Type.Literal('any')], { default: 'deactivation', description: 'suspend a user on an OpenAI safety notice about them: off, deactivation (safety.deactivation_issued), any (warnings too)' }),

  // Authentication
  JWT_SECRET: OptionalString('HS256 secret (at least 32 characters); or set JWT_JWKS_URL', { minLength: 32 }),
  JWT_JWKS_URL: OptionalString('JWKS endpoint for RS256/ES256 tokens', { pattern: '^https?://[^\\s]+$', expected: 'an http:// or https:// URL without spaces' }),
  JWT_ALGORITHMS: Type.String({ default: 'RS256,ES256', pattern: '^(RS256|RS384|RS512|ES256|ES384|ES512|PS256)(,(RS256|RS384|RS512|ES256|ES384|ES512|PS256))*$', expected: 'a comma-separated list (no spaces) of RS256, RS384, RS512, ES256, ES384, ES512, PS256', description: 'algorithms accepted with JWT_JWKS_URL' }),
  JWT_ISSUER: OptionalString('required iss claim'),
  JWT_AUDIENCE: OptionalString('required aud claim'),
  JWT_ADMIN_ROLE: Type.String({ minLength: 1, maxLength: 128, default: 'admin', description: 'role (or element of roles) that makes a caller an admin' }),
  JWT_CLOCK_TOLERANCE_SECONDS: Int(0, 300, 30, 'clock skew allowed on exp/nbf'),
  JWKS_CACHE_TTL_SECONDS: Int(10, 86_400, 600, 'how long fetched signing keys are trusted'),
  JWKS_MIN_REFETCH_INTERVAL_MS: Int(0, 600_000, 5000, 'an unknown key id refetches the JWKS at most this often (key rotation vs. hammering the IdP)'),

  // Store
  STORE: Type.Union([Type.Literal('sqlite'), Type.Literal('redis')], { default: 'sqlite', description: 'sqlite (embedded) or redis (shared by several instances)' }),
  SQLITE_PATH: Type.String({ minLength: 1, default: './data/gateway.db', description: 'embedded store file (:memory: for a throwaway store)' }),
  REDIS_URL: OptionalString('redis:// or rediss:// URL of one Redis server for STORE=redis (or set REDIS_SENTINELS or REDIS_CLUSTER_NODES)', { pattern: '^rediss?://', expected: 'a redis:// or rediss:// URL' }),
  REDIS_SENTINELS: OptionalString('comma-separated host:port of Redis Sentinels: the primary named REDIS_SENTINEL_NAME is found through them and followed across failovers', { pattern: HOST_PORT_LIST, expected: 'comma-separated host:port pairs such as 10.0.0.1:26379,10.0.0.2:26379 (IPv6 in brackets)' }),
  REDIS_SENTINEL_NAME: OptionalString('the master name the sentinels monitor (sentinel monitor <name> …); required with REDIS_SENTINELS', { maxLength: 256 }),
  REDIS_SENTINEL_PASSWORD: OptionalString('password of the sentinels themselves (requirepass in sentinel.conf), when they have one'),
  REDIS_CLUSTER_NODES: OptionalString('comma-separated host:port of some Redis Cluster nodes (the rest are discovered); Redis 7.0 or later', { pattern: HOST_PORT_LIST, expected: 'comma-separated host:port pairs such as 10.0.0.1:6379,10.0.0.2:6379 (IPv6 in brackets)' }),
  REDIS_USERNAME: OptionalString('ACL user of the Redis servers with REDIS_SENTINELS or REDIS_CLUSTER_NODES (with REDIS_URL it goes in the URL)', { maxLength: 256 }),
  REDIS_PASSWORD: OptionalString('password of the Redis servers with REDIS_SENTINELS or REDIS_CLUSTER_NODES (with REDIS_URL it goes in the URL)'),
  REDIS_TLS: Type.Boolean({ default: false, description: 'TLS to the Redis servers and sentinels with REDIS_SENTINELS or REDIS_CLUSTER_NODES (with REDIS_URL: rediss://); a private CA goes in NODE_EXTRA_CA_CERTS' }),
  IDEMPOTENCY_TTL_SECONDS: Int(86_400, 30 * 86_400, 86_400, 'how long Idempotency-Key replays are kept'),
  THREADS_MAX_PER_USER: Int(0, 1_000_000, 1000, 'threads one user may keep (each an OpenAI conversation); one more is 409 QUOTA_EXCEEDED until some are deleted; 0 = unlimited'),
  FILES_MAX_PER_USER: Int(0, 1_000_000, 100, 'files one user may keep at OpenAI (each up to UPLOAD_FILE_MAX_BYTES); one more is 409 QUOTA_EXCEEDED; 0 = unlimited'),
  MESSAGE_CACHE_MB: Int(0, 4096, 32, 'memory for cached message pages (served without an upstream call while the thread is unchanged); 0 disables'),

  // Rate limits
  RATE_LIMIT_MAX: Int(1, 1_000_000, 120, 'requests per window per user across /api'),
  RATE_LIMIT_WINDOW_MS: Int(1000, 86_400_000, 60_000, 'rate-limit window'),
  RATE_LIMIT_RUNS_MAX: Int(1, 1_000_000, 30, 'run creations per window per user'),
  RATE_LIMIT_UPLOADS_MAX: Int(1, 1_000_000, 20, 'transcriptions and file uploads per window per user'),

  // Assistants and runs
  AGENTS_FILE: OptionalString('assistant profiles (JSON); defaults to the bundled curator/mentor/analyst'),
  RUN_WAIT_TIMEOUT_MS: Int(0, 600_000, 50_000, 'how long POST …/runs waits before answering 202 (under the 60 s read timeout common to proxies)'),
  RUN_LONG_POLL_MAX_MS: Int(0, 600_000, 50_000, 'largest ?wait= accepted by GET …/runs/:id (under the 60 s read timeout common to proxies)'),
  RUN_MAX_DURATION_MS: Int(1000, 86_400_000, 600_000, 'a run still going after this is cancelled upstream and fails with run_timeout'),
  RUN_MAX_ACTIVE_PER_USER: Int(1, 1000, 3, 'runs in flight per user before 429 TOO_MANY_ACTIVE_RUNS'),
  RUN_MAX_TOOL_ROUNDS: Int(1, 50, 8, 'tool-call rounds per run before it fails with tool_round_limit'),
  RUN_POLL_MIN_MS: Int(10, 60_000, 100, 'first poll delay of the polling loop'),
  RUN_POLL_MAX_MS: Int(10, 60_000, 2000, 'largest poll delay of the polling loop'),
  RUN_LEASE_MS: Int(1000, 600_000, 15_000, 'a run whose owner has not renewed its lease for this long is resumed by another worker'),
  RUN_MAX_UPSTREAM_STREAMS: Int(0, 100_000, 2000, 'upstream response streams held open at once; beyond it, runs no client is streaming wait for their response.* webhook (with OPENAI_WEBHOOK_SECRET) or are polled (memory stays bounded)'),
  RUN_WEBHOOK_POLL_MS: Int(100, 600_000, 30_000, 'with OPENAI_WEBHOOK_SECRET: how long a run with no stream waits for its response.* webhook before reading the response itself, and then the pace of those reads (the fallback for a lost delivery)'),
  TOOL_TIMEOUT_MS: Int(100, 600_000, 10_000, 'time limit for one tool call'),
  STREAMS_MAX_PER_USER: Int(1, 10_000, 10, 'server-sent event streams one user may hold open at once on an instance (beyond it 429)'),
  RUN_REQUIRES_ACTION_TTL_MS: Int(1000, 86_400_000, 600_000, 'a run paused for the client\'s tool outputs (requires_action) expires after this'),
  TOOL_WEBHOOK_SECRET: OptionalString('HMAC-SHA256 secret that signs webhook tool calls', { minLength: 16 }),
  TOOL_WEBHOOK_ALLOWED_NETWORKS: Type.String({ default: '', maxLength: 4096, pattern: '^[0-9a-fA-F.:/, ]*$', expected: 'comma-separated IP addresses or CIDR ranges such as 10.20.0.0/16,127.0.0.1', description: 'comma-separated IP addresses/CIDR ranges webhook tools may reach although they are loopback, private or link-local (e.g. 10.0.0.0/8 for an internal tool service); other such destinations are refused' }),
  TOOL_WEBHOOK_MAX_RESPONSE_BYTES: Int(1024, 16 * MiB, 128 * 1024, 'largest webhook tool answer; read while it arrives and cut off beyond (a tool error): the model gets at most 64 Ki characters of it'),

  // Uploads
  UPLOAD_AUDIO_MAX_BYTES: Int(1024, 512 * MiB, 25 * MiB, 'largest transcription upload'),
  UPLOAD_FILE_MAX_BYTES: Int(1024, 512 * MiB, 20 * MiB, 'largest file upload'),
  UPLOAD_TIMEOUT_MS: Int(1000, 3_600_000, 120_000, 'an upload still arriving after this is cut off (slow-upload guard)'),
  UPLOAD_TMP_DIR: OptionalString('where uploads are spooled while checked; defaults to the OS temp dir'),
  TRANSCRIPTION_MODEL: Type.String({ minLength: 1, maxLength: 128, default: 'gpt-transcribe', description: 'upstream transcription model' }),
  TRANSCRIPTION_MODELS: Type.String({ default: '', maxLength: 1024, pattern: '^[A-Za-z0-9._:, -]*$', expected: 'a comma-separated list of model names (letters, digits, dots, underscores, colons, hyphens)', description: 'comma-separated models a caller may ask for by name; any other is answered by TRANSCRIPTION_MODEL' }),

  // Budgets
  BUDGET_USER_DAILY_TOKENS: Int(0, Number.MAX_SAFE_INTEGER, 0, 'tokens per user per day; 0 = unlimited'),
  BUDGET_GLOBAL_DAILY_TOKENS: Int(0, Number.MAX_SAFE_INTEGER, 0, 'tokens for the whole gateway per day; 0 = unlimited'),
  BUDGET_USER_DAILY_AUDIO_SECONDS: Int(0, Number.MAX_SAFE_INTEGER, 0, 'transcribed audio seconds per user per day; 0 = unlimited'),
  BUDGET_DAY_OFFSET_MINUTES: Int(-720, 840, 0, 'budget day starts at 00:00 UTC shifted by this many minutes'),
  BUDGET_WAIT_MS: Int(0, 600_000, 15_000, 'a request refused only by reservations in flight (not by settled usage) waits this long for them to settle, within its own wait, before 429 with a Retry-After of seconds'),
  PRICES_FILE: OptionalString('price table (JSON) for cost estimates; defaults to the bundled dated table'),

  // Telemetry (OpenTelemetry's own variables; off unless an OTLP endpoint is set)
  OTEL_SDK_DISABLED: Type.Boolean({ default: false, description: 'true turns OpenTelemetry off even with an endpoint set (nothing is loaded or sent)' }),
  OTEL_EXPORTER_OTLP_ENDPOINT: OptionalString('OTLP/HTTP base URL of a collector or backend (e.g. http://otel-collector:4318): traces go to /v1/traces, metrics to /v1/metrics; unset, nothing OpenTelemetry is loaded', { pattern: '^https?://[^\\s]+$', expected: 'an http:// or https:// URL without spaces, such as http://127.0.0.1:4318' }),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: OptionalString('full URL for traces only (used as is), instead of OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces', { pattern: '^https?://[^\\s]+$', expected: 'an http:// or https:// URL without spaces, such as http://127.0.0.1:4318/v1/traces' }),
  OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: OptionalString('full URL for metrics only (used as is), instead of OTEL_EXPORTER_OTLP_ENDPOINT/v1/metrics', { pattern: '^https?://[^\\s]+$', expected: 'an http:// or https:// URL without spaces, such as http://127.0.0.1:4318/v1/metrics' }),
  OTEL_EXPORTER_OTLP_PROTOCOL: Type.Union([Type.Literal('http/protobuf'), Type.Literal('http/json')], { default: 'http/protobuf', description: 'OTLP encoding: http/protobuf or http/json (gRPC is not offered)' }),
  OTEL_TRACES_EXPORTER: Type.Union([Type.Literal('otlp'), Type.Literal('none')], { default: 'otlp', description: 'otlp, or none for metrics without traces' }),
  OTEL_METRICS_EXPORTER: Type.Union([Type.Literal('otlp'), Type.Literal('none')], { default: 'otlp', description: 'otlp (the GenAI metrics over OTLP too), or none (they stay on /metrics only)' }),
  OTEL_SERVICE_NAME: OptionalString('service.name of the traces and metrics (default assistant-gateway, or service.name from OTEL_RESOURCE_ATTRIBUTES)', { maxLength: 256 }),
  OTEL_TRACES_SAMPLER: Type.Union([
    Type.Literal('parentbased_always_on'), Type.Literal('parentbased_always_off'), Type.Literal('parentbased_traceidratio'),
    Type.Literal('always_on'), Type.Literal('always_off'), Type.Literal('traceidratio')
  ], { default: 'parentbased_always_on', description: 'which traces are kept; parentbased_* follow the caller\'s traceparent decision, traceidratio ignores it' }),
  OTEL_TRACES_SAMPLER_ARG: Type.Number({ minimum: 0, maximum: 1, default: 1, description: 'the ratio of traces kept by the *traceidratio samplers (0 to 1)' }),
  OTEL_METRIC_EXPORT_INTERVAL: Int(1000, 3_600_000, 60_000, 'how often the GenAI metrics are pushed over OTLP (ms)'),
  OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: Type.Boolean({ default: false, description: 'true puts prompts, answers, instructions and tool arguments/results on spans (credentials redacted, each cut at 16 KiB); off by default: they are the users\' words' })
})

export type Config = Static<typeof ConfigSchema>

/**
 * A setting that stops start-up. It carries every problem found, one line each, so a run that fixes one
 * does not merely discover the next; server.ts prints the lines without a stack and exits 1.
 */
export class ConfigError extends Error {
  readonly problems: readonly string[]
  constructor (problems: string | string[]) {
    const list = typeof problems === 'string' ? [problems] : problems
    // One line each, whatever a problem quotes (a JSON parser's message can hold the file's own newlines).
    const lines = list.map(problem => problem.replace(/\s*[\r\n]+\s*/g, ' ').trim())
    super(lines.join('\n'))
    this.name = 'ConfigError'
    this.problems = lines
  }
}

function describeRule (schema: TSchema, keyword: string, params: Record<string, unknown>): string {
  const s = schema as Record<string, unknown>
  switch (keyword) {
    case 'required': return 'is required'
    case 'minLength': return `must be at least ${s.minLength} characters`
    case 'maxLength': return `must be at most ${s.maxLength} characters`
    case 'minimum':
    case 'maximum':
    case 'type':
      if (s.type === 'integer') return `must be an integer from ${s.minimum} to ${s.maximum}`
      if (s.type === 'number' && s.minimum !== undefined && s.maximum !== undefined) return `must be a number from ${s.minimum} to ${s.maximum}`
      return `must be a ${String(s.type ?? 'valid value')}`
    case 'pattern': return typeof s.expected === 'string' ? `must be ${s.expected}` : 'is not in the expected format (see .env.example)'
    default: {
      const literals = (s.anyOf as Array<{ const?: unknown }> | undefined)?.map(b => b.const).filter(v => v !== undefined)
      if (literals?.length) return `must be one of ${literals.join(', ')}`
      return String(params?.message ?? 'is invalid')
    }
  }
}

/**
 * Validates the environment and returns the typed config. Throws a ConfigError with one line per
 * problem, every problem at once, each naming the variable and the rule it breaks (the first rule per
 * variable; cross-variable rules only between variables that are valid on their own). Empty values count
 * as unset, as in most dotenv tools. TLS_CERT_FILE and TLS_KEY_FILE are read and checked here too.
 */
export function loadConfig (env: Record<string, string | undefined> = process.env): Config {
  const raw: Record<string, unknown> = {}
  for (const key of Object.keys(ConfigSchema.properties)) {
    const value = env[key]
    if (value !== undefined && value.trim() !== '') raw[key] = value.trim()
  }
  const converted = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, raw))
  // Variable by variable: TypeBox stops reporting the properties after a failed union (LOG_LEVEL, STORE),
  // and every problem is wanted at once.
  const required = new Set((ConfigSchema as { required?: string[] }).required ?? [])
  const values = converted as Record<string, unknown>
  const invalid = new Set<string>()
  const problems: string[] = []
  for (const [name, schema] of Object.entries(ConfigSchema.properties as Record<string, TSchema>)) {
    let problem: string | undefined
    if (values[name] === undefined) {
      if (required.has(name)) problem = 'is required'
    } else {
      const error = Value.Errors(schema, values[name])[0]
      if (error) problem = describeRule(schema, error.keyword, error.params as Record<string, unknown>)
    }
    if (problem === undefined) continue
    invalid.add(name)
    problems.push(`${name} ${problem}`)
  }
  problems.push(...crossFieldProblems(converted as Config, invalid))
  if (problems.length > 0) throw new ConfigError(problems.map(problem => `Invalid configuration: ${problem}`))
  return converted as Config
}

function crossFieldProblems (config: Config, invalid: Set<string>): string[] {
  const problems: string[] = []
  const valid = (...names: string[]) => names.every(name => !invalid.has(name))
  if (valid('JWT_SECRET', 'JWT_JWKS_URL')) {
    if (!config.JWT_SECRET && !config.JWT_JWKS_URL) problems.push('JWT_SECRET or JWT_JWKS_URL is required')
    if (config.JWT_SECRET && config.JWT_JWKS_URL) problems.push('JWT_SECRET and JWT_JWKS_URL are exclusive: set one of them')
  }
  if (valid('TLS_CERT_FILE', 'TLS_KEY_FILE')) {
    if (Boolean(config.TLS_CERT_FILE) !== Boolean(config.TLS_KEY_FILE)) problems.push('TLS_CERT_FILE and TLS_KEY_FILE must be set together')
    else if (config.TLS_CERT_FILE && config.TLS_KEY_FILE) problems.push(...readTlsFiles(config.TLS_CERT_FILE, config.TLS_KEY_FILE).problems)
  }
  problems.push(...redisProblems(config, valid))
  if (valid('RUN_POLL_MIN_MS', 'RUN_POLL_MAX_MS') && config.RUN_POLL_MIN_MS > config.RUN_POLL_MAX_MS) problems.push('RUN_POLL_MIN_MS must not exceed RUN_POLL_MAX_MS')
  if (valid('CORS_ORIGINS')) {
    for (const origin of corsOrigins(config)) {
      if (origin === '*') problems.push('CORS_ORIGINS must list origins; a wildcard is not allowed')
      else if (!/^https?:\/\/[^/\s]+$/.test(origin)) problems.push(`CORS_ORIGINS entry "${origin}" must be scheme://host[:port] without a path`)
    }
  }
  return problems
}

const REDIS_WAYS = ['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const

/** Exactly one way to reach Redis with STORE=redis; the settings of the other ways are not silently ignored. */
function redisProblems (config: Config, valid: (...names: string[]) => boolean): string[] {
  const problems: string[] = []
  if (!valid('STORE', ...REDIS_WAYS)) return problems
  const ways = REDIS_WAYS.filter(name => config[name])
  if (config.STORE === 'redis' && ways.length === 0) problems.push('REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES is required when STORE=redis')
  if (ways.length > 1) problems.push(`${ways.join(' and ')} are exclusive: set one of them`)
  if (config.REDIS_SENTINELS && !config.REDIS_SENTINEL_NAME) problems.push('REDIS_SENTINEL_NAME is required with REDIS_SENTINELS')
  for (const name of ['REDIS_SENTINEL_NAME', 'REDIS_SENTINEL_PASSWORD'] as const) {
    if (config[name] && !config.REDIS_SENTINELS) problems.push(`${name} only applies with REDIS_SENTINELS`)
  }
  if (config.REDIS_URL) {
    for (const name of ['REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_TLS'] as const) {
      if (config[name]) problems.push(`${name} only applies with REDIS_SENTINELS or REDIS_CLUSTER_NODES: with REDIS_URL, put it in the URL (rediss://user:password@host:port)`)
    }
  }
  return problems
}

/** The transcription models a caller may name: the allow-list plus the configured one. */
export function transcriptionModels (config: Pick<Config, 'TRANSCRIPTION_MODEL' | 'TRANSCRIPTION_MODELS'>): Set<string> {
  return new Set([config.TRANSCRIPTION_MODEL, ...config.TRANSCRIPTION_MODELS.split(',').map(s => s.trim()).filter(Boolean)])
}

export function corsOrigins (config: Pick<Config, 'CORS_ORIGINS'>): string[] {
  return config.CORS_ORIGINS.split(',').map(s => s.trim()).filter(Boolean)
}

/** Fastify's trustProxy option from TRUST_PROXY: a flag, a hop count, or proxy addresses. */
export function trustProxyOption (value: string): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (value === 'true') return true
  if (value === 'false') return false
  if (/^\d+$/.test(value)) {
    const hops = Number(value)
    return (_address, hop) => hop < hops
  }
  return value.split(',').map(s => s.trim()).filter(Boolean)
}

/**
 * Reads a JSON file a setting points to (agents, prices) and validates it against its schema, with
 * defaults applied; a problem stops start-up with one line naming the setting, the file and the field.
 */
export function loadJsonFile<T> (variable: string, path: string, schema: TSchema): T {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new ConfigError(`Invalid configuration: ${variable} ${path} cannot be read as JSON (${(err as Error).message})`)
  }
  const value = Value.Default(schema, raw)
  const issue = Value.Errors(schema, value)[0]
  if (issue) {
    const where = issue.instancePath.replace(/^\//, '').replaceAll('/', '.') || 'file'
    throw new ConfigError(`Invalid configuration: ${variable} ${path}: ${where} ${issue.message}`)
  }
  return value as T
}
