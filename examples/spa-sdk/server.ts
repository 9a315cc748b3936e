/**
 * The SDK example's static server: this folder's page and TypeScript (types stripped on the fly, as in
 * examples/spa/), the reference SPA's stylesheet, and the official `openai` 4.x package's ES modules
 * from node_modules under /vendor/openai/ — no CDN, no bundler.
 *
 *   node examples/spa-sdk/server.ts [--host 127.0.0.1] [--port 5174] [--cert cert.pem --key key.pem]
 */
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { contentSecurityPolicy, pageFiles, runFromCommandLine, startStaticServer, type SpaServer, type SpaServerOptions } from '../spa/server.ts'

/** The npm alias the project installs the latest openai 4.x as (`"openai-v4": "npm:openai@^4"`). */
const SDK_PACKAGE = 'openai-v4'
export const SDK_PREFIX = '/vendor/openai/'

/** The SDK's package folder, wherever npm put it. */
function sdkDir (): string {
  try {
    return dirname(createRequire(import.meta.url).resolve(SDK_PACKAGE))
  } catch {
    throw new Error(`${SDK_PACKAGE} is not installed (it is a devDependency of this project: npm install)`)
  }
}

/** Every ES module of the package (*.mjs), at /vendor/openai/<its path in the package>. */
function sdkFiles (): Map<string, string> {
  const dir = sdkDir()
  const files = new Map<string, string>()
  for (const path of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (path.endsWith('.mjs') && !path.startsWith('node_modules')) files.set(SDK_PREFIX + path.split('\\').join('/'), join(dir, path))
  }
  return files
}

/**
 * The page's import map is an inline script, so the CSP names it by its hash (browsers do not load
 * import maps from a file). Its targets must exist, or the page would fail with a bare 404 in the console.
 */
function importMapHash (html: string, files: Map<string, string>): string {
  const map = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html)?.[1]
  if (map === undefined) throw new Error('index.html has no import map')
  for (const target of Object.values(JSON.parse(map).imports as Record<string, string>)) {
    if (!files.has(target)) throw new Error(`the import map points at ${target}, which is not served`)
  }
  return `'sha256-${createHash('sha256').update(map).digest('base64')}'`
}

export function startSdkExampleServer (options: SpaServerOptions = {}): Promise<SpaServer> {
  const files = new Map([
    ...pageFiles(import.meta.dirname),
    ['/style.css', join(import.meta.dirname, '..', 'spa', 'style.css')],
    ...sdkFiles()
  ])
  const hash = importMapHash(readFileSync(join(import.meta.dirname, 'index.html'), 'utf8'), files)
  return startStaticServer({ ...options, files, csp: contentSecurityPolicy([hash]) })
}

if (import.meta.main) {
  runFromCommandLine('SDK example', startSdkExampleServer, 5174, '(gateway: ?gateway=<url>, default http://127.0.0.1:3000)').catch(err => {
    process.stderr.write(`${(err as Error).message}\n`)
    process.exit(1)
  })
}
