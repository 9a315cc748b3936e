/**
 * The reference SPA's static server: serves this folder's page, CSS and TypeScript, turning each
 * `.ts` into JavaScript on the fly with Node's own type stripping — no bundler, no build step.
 *
 *   node examples/spa/server.ts [--host 127.0.0.1] [--port 5173] [--cert cert.pem --key key.pem]
 *
 * or SPA_HOST, SPA_PORT, SPA_TLS_CERT_FILE, SPA_TLS_KEY_FILE. Port 0 picks a free port.
 */
import { readdirSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { stripTypeScriptTypes } from 'node:module'
import { extname, join } from 'node:path'
import { parseArgs } from 'node:util'

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.ts': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml'
}
const NOT_SERVED = new Set(['server.ts'])

/**
 * The page's Content-Security-Policy; `scriptSources` adds to script-src (hashes of inline scripts).
 * connect-src is open because the gateway URL is chosen in the page; an SPA of your own lists its gateway's origin.
 */
export function contentSecurityPolicy (scriptSources: string[] = []): string {
  return `default-src 'self'; script-src ${["'self'", ...scriptSources].join(' ')}; style-src 'self'; img-src 'self' data:; ` +
    "media-src 'self' blob:; connect-src 'self' https: http:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}

const HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache'
}

export interface SpaServerOptions {
  host?: string
  port?: number
  /** PEM certificate and key (the text, not a path); HTTPS when both are given. */
  cert?: string | Buffer
  key?: string | Buffer
}

export interface SpaServer {
  url: string
  server: Server
  close: () => Promise<void>
}

/** URL path → file of a page's folder (its .html, .css and .ts files, not server.ts), `/` being index.html. */
export function pageFiles (dir: string): Map<string, string> {
  const files = new Map<string, string>()
  for (const name of readdirSync(dir)) {
    if (CONTENT_TYPES[extname(name)] && !NOT_SERVED.has(name)) files.set(`/${name}`, join(dir, name))
  }
  files.set('/', join(dir, 'index.html'))
  return files
}

export interface StaticServerOptions extends SpaServerOptions {
  /** URL path → file, fixed at start: nothing else can ever be served. */
  files: Map<string, string>
  /** The Content-Security-Policy header. */
  csp: string
}

export function startSpaServer (options: SpaServerOptions = {}): Promise<SpaServer> {
  return startStaticServer({ ...options, files: pageFiles(import.meta.dirname), csp: contentSecurityPolicy() })
}

/** A static server of a fixed file list; `.ts` files are answered as JavaScript, their types stripped. */
export async function startStaticServer (options: StaticServerOptions): Promise<SpaServer> {
  const { files } = options
  const headers = { ...HEADERS, 'content-security-policy': options.csp }
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    const file = files.get(new URL(req.url ?? '/', 'http://spa').pathname)
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found\n')
      return
    }
    let body: string | Buffer = await readFile(file)
    if (file.endsWith('.ts')) body = stripTypeScriptTypes(body.toString('utf8'))
    res.writeHead(200, { ...headers, 'content-type': CONTENT_TYPES[extname(file)] })
    res.end(req.method === 'HEAD' ? undefined : body)
  }
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch(err => {
      process.stderr.write(`spa: ${req.url}: ${(err as Error).message}\n`)
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
      res.end('Server error\n')
    })
  }
  const tls = options.cert && options.key
  const server: Server = tls ? createHttpsServer({ cert: options.cert, key: options.key }, listener) : createHttpServer(listener)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 5173, options.host ?? '127.0.0.1', resolve)
  })
  const { address, port } = server.address() as AddressInfo
  const host = address.includes(':') ? `[${address}]` : address
  return {
    url: `${tls ? 'https' : 'http'}://${host}:${port}`,
    server,
    close: () => new Promise(resolve => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }
}

/**
 * Runs a static server from the command line: --host, --port, --cert and --key (or the SPA_* variables),
 * prints `<name> at <url>/` and stops on SIGINT/SIGTERM.
 */
export async function runFromCommandLine (name: string, start: (options: SpaServerOptions) => Promise<SpaServer>, defaultPort: number, hint = ''): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: process.env.SPA_HOST ?? '127.0.0.1' },
      port: { type: 'string', default: process.env.SPA_PORT ?? String(defaultPort) },
      cert: { type: 'string', default: process.env.SPA_TLS_CERT_FILE },
      key: { type: 'string', default: process.env.SPA_TLS_KEY_FILE }
    }
  })
  const port = Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0–65535, got ${values.port}`)
  if (Boolean(values.cert) !== Boolean(values.key)) throw new Error('--cert and --key go together')
  const spa = await start({
    host: values.host,
    port,
    ...(values.cert && values.key ? { cert: await readFile(values.cert), key: await readFile(values.key) } : {})
  })
  process.stdout.write(`${name} at ${spa.url}/  ${hint}\n`)
  const stop = () => { spa.close().then(() => process.exit(0), () => process.exit(1)) }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

if (import.meta.main) {
  runFromCommandLine('Reference SPA', startSpaServer, 5173, '(gateway: ?gateway=<url>, default http://127.0.0.1:3000)').catch(err => {
    process.stderr.write(`${(err as Error).message}\n`)
    process.exit(1)
  })
}
