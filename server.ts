// First, so a Node older than `engines` is refused in one line before anything else loads.
import './node-version.js'
import { randomUUID } from 'node:crypto'
import type { Writable } from 'node:stream'
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import closeWithGrace from 'close-with-grace'
import app, { type AppOptions } from './app.ts'
import { ConfigError, loadConfig, trustProxyOption, type Config } from './services/config.ts'
import { startTelemetry, type Telemetry } from './services/telemetry/sdk.ts'
import { telemetrySettings } from './services/telemetry/settings.ts'
import { traceLogFields } from './services/telemetry/tracing.ts'
import { readTlsFiles, type TlsFiles } from './services/tls-files.ts'

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** Logged objects are redacted wherever a secret could hide, even though default serializers omit headers. */
export const REDACTED_PATHS = [
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]', 'req.headers["idempotency-key"]',
  'headers.authorization', 'headers.cookie', 'res.headers["set-cookie"]',
  'config.OPENAI_API_KEY', 'config.JWT_SECRET', 'config.TOOL_WEBHOOK_SECRET', 'config.METRICS_TOKEN', 'config.OWNER_HASH_SALT',
  '*.apiKey', '*.OPENAI_API_KEY', '*.JWT_SECRET', '*.authorization', '*.token', '*.secret', '*.password'
]

/** Query parameters whose value is a credential by their name (OAuth, signed URLs, API keys, passwords). */
const SECRET_PARAM = /token|secret|passw|pwd|key|auth|session|sig|code|credential|jwt|assertion/i
/** A JWT is a credential whatever its parameter is called. */
const JWT_LIKE = /^eyJ[\w-]*\.[\w-]*\.[\w-]*$/

function decoded (text: string): string {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '))
  } catch {
    return text
  }
}

/**
 * The URL as logged: credential-like query parameters keep their name and lose their value. Browsers put
 * tokens in query strings (`?access_token=` for EventSource); the gateway refuses them, but a token that
 * reached the log would still work in a header.
 */
export function redactUrl (url: string): string {
  const start = url.indexOf('?')
  if (start === -1) return url
  const query = url.slice(start + 1).split('&').map(pair => {
    const eq = pair.indexOf('=')
    if (eq === -1) return pair
    const name = pair.slice(0, eq)
    return SECRET_PARAM.test(decoded(name)) || JWT_LIKE.test(decoded(pair.slice(eq + 1))) ? `${name}=[REDACTED]` : pair
  })
  return `${url.slice(0, start)}?${query.join('&')}`
}

export interface ServerOptionsOverrides {
  /** Where logs go (tests capture them); defaults to stdout, pretty on a TTY. */
  logStream?: Writable
}

/** The certificate and key to serve HTTPS with, when configured; a problem with them is a ConfigError. */
function httpsOptions (config: Config): TlsFiles | undefined {
  if (!config.TLS_CERT_FILE || !config.TLS_KEY_FILE) return undefined
  const { files, problems } = readTlsFiles(config.TLS_CERT_FILE, config.TLS_KEY_FILE)
  if (!files) throw new ConfigError(problems.map(problem => `Invalid configuration: ${problem}`))
  return files
}

/** The production server options; tests build with the same ones so limits and validation match. */
export function serverOptions (config: Config, overrides: ServerOptionsOverrides = {}): FastifyServerOptions & { https?: TlsFiles } {
  const https = httpsOptions(config)
  const pretty = !overrides.logStream && process.stdout.isTTY && config.LOG_LEVEL !== 'silent'
  return {
    logger: {
      level: config.LOG_LEVEL,
      redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
      // Fastify's own request serializer, with the URL's credentials redacted.
      serializers: {
        req: (req: FastifyRequest) => ({ method: req.method, url: redactUrl(req.url), host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort })
      },
      // With tracing on, a line written inside a span names its trace_id (and span_id).
      ...(telemetrySettings(config).tracesUrl ? { mixin: traceLogFields } : {}),
      ...(overrides.logStream ? { stream: overrides.logStream } : {}),
      ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } } } : {})
    },
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID()
    },
    trustProxy: trustProxyOption(config.TRUST_PROXY),
    bodyLimit: config.BODY_LIMIT_BYTES,
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    keepAliveTimeout: config.KEEP_ALIVE_TIMEOUT_MS,
    connectionTimeout: 0,
    // The router never refuses a long parameter itself (its 414 skips the hooks: no request id, no rate
    // limit, not the contract's body): Node's header limit (16 KiB) bounds the URL, the route's schema the id.
    routerOptions: { maxParamLength: 16 * 1024, ignoreTrailingSlash: true },
    return503OnClosing: true,
    // Boot loads every module and opens the store; on a loaded machine that can pass Fastify's 10 s default.
    pluginTimeout: 30_000,
    forceCloseConnections: 'idle',
    ...(https ? { https } : {})
  }
}

export async function buildServer (config: Config, overrides: ServerOptionsOverrides & Omit<AppOptions, 'config'> = {}): Promise<FastifyInstance> {
  const { logStream, ...appOptions } = overrides
  const server = Fastify(serverOptions(config, { logStream })) as unknown as FastifyInstance
  // fp() so the app's error and not-found handlers apply at the root.
  await server.register(fp(app), { ...appOptions, config })
  return server
}

/** Loads .env when present (Node's own loader), validates config, listens, and shuts down gracefully. */
export async function start (env: NodeJS.ProcessEnv = process.env): Promise<FastifyInstance> {
  let server: FastifyInstance
  let config: Config
  let telemetry: Telemetry
  try {
    try {
      process.loadEnvFile()
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ENOENT') throw new ConfigError(`Invalid configuration: .env cannot be read (${code ?? (err as Error).message})`)
    }
    config = loadConfig(env)
    // Before the app: its tracer and meter come from the providers this registers (nothing, without an endpoint).
    telemetry = await startTelemetry(config)
    server = await buildServer(config)
    telemetry.useLogger(server.log)
    await server.ready()
  } catch (err) {
    // Bad settings (including the files they point to) stop start-up with one line per problem, no stack.
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(1)
    }
    throw err
  }
  closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS, logger: server.log }, async ({ signal, err }) => {
    if (err) server.log.error({ err }, 'shutting down after an error')
    else server.log.info({ signal }, 'shutting down')
    await server.close()
    // After the app: the spans and metrics of its last requests and runs are flushed.
    await telemetry.shutdown()
  })
  // A wrong key is found now, not at the first chat turn: logged, and readiness answers 503. Only a 401
  // counts; an upstream that cannot be asked does not hold start-up (at most a few seconds).
  await server.upstreamKey.verify()
  await server.listen({ host: config.HOST, port: config.PORT })
  return server
}

if (import.meta.main) await start()
